// misuse: class=overflow-read catch=guard
// misuse-about: read the byte just past a 32-byte object (p[32])
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	wr_range(p, 32, 'o');
	misuse_bug("read p[32] of a 32-byte object", p, 32, p + 32);
	misuse_sink += rd(p + 32);
	misuse_after();
	free(p);
	return misuse_end();
}
