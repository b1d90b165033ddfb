// misuse: class=underflow-read catch=guard-below
// misuse-about: read the byte just before a 32-byte object (p[-1])
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	wr_range(p, 32, 'u');
	misuse_bug("read p[-1] of a 32-byte object", p, 32, p - 1);
	misuse_sink += rd(p - 1);
	misuse_after();
	free(p);
	return misuse_end();
}
