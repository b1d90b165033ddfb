// misuse: class=underflow-write catch=guard-below may=redzone
// misuse-about: write 16 bytes before a 200-byte object (where a
// misuse-about: header-based allocator keeps its chunk header), then free it
#include "../misuse.h"

int main(void)
{
	char *a = xmalloc(200);
	char *p = xmalloc(200);
	misuse_bug("write p[-16..-1] of a 200-byte object", p, 200, p - 16);
	wr_range(p - 16, 16, 0x41);
	misuse_after();
	free(p);
	free(a);
	return misuse_end();
}
