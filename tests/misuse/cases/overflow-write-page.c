// misuse: class=overflow-write catch=guard,redzone
// misuse-about: write p[4096] of a 4096-byte object
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(4096);
	wr_range(p, 4096, 'g');
	misuse_bug("write p[4096] of a 4096-byte object", p, 4096, p + 4096);
	wr(p + 4096, 0);
	misuse_after();
	free(p);
	return misuse_end();
}
