// misuse: class=overflow-read catch=guard
// misuse-about: scan 1000 bytes past the end of a 128-byte object
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(128);
	char *q = xmalloc(128);
	wr_range(p, 128, 'p');
	wr_range(q, 128, 'q');
	misuse_bug("read 1128 bytes of a 128-byte object", p, 128, p + 128);
	rd_range(p, 1128);
	misuse_after();
	free(q);
	free(p);
	return misuse_end();
}
