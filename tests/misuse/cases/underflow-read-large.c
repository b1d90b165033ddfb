// misuse: class=underflow-read catch=- may=guard-below
// misuse-about: read the byte just before a 1 MiB block
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr(p, 'u');
	misuse_bug("read p[-1] of a 1 MiB block", p, n, p - 1);
	misuse_sink += rd(p - 1);
	misuse_after();
	free(p);
	return misuse_end();
}
