// misuse: class=uaf-read catch=- may=guard
// misuse-about: read a freed 1 MiB block (a large allocation, its own pages)
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr_range(p, 4096, 'L');
	free(p);
	misuse_bug("read a freed 1 MiB block", p, n, p + 64);
	misuse_sink += rd(p + 64);
	misuse_after();
	return misuse_end();
}
