// misuse: class=overflow-read catch=- may=guard
// misuse-about: read p[100] of a 100-byte object (size not a multiple of 16)
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(100);
	wr_range(p, 100, 'o');
	misuse_bug("read p[100] of a 100-byte object", p, 100, p + 100);
	misuse_sink += rd(p + 100);
	misuse_after();
	free(p);
	return misuse_end();
}
