// misuse: class=overflow-write catch=guard,redzone
// misuse-about: write the byte just past a 64-byte object (p[64]), then free it
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(64);
	wr_range(p, 64, 'o');
	misuse_bug("write p[64] of a 64-byte object", p, 64, p + 64);
	wr(p + 64, 0);
	misuse_after();
	free(p);
	return misuse_end();
}
