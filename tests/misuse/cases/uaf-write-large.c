// misuse: class=uaf-write catch=- may=guard,poison
// misuse-about: write a freed 1 MiB block, then allocate 1 MiB again
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr_range(p, 4096, 'L');
	free(p);
	misuse_bug("write a freed 1 MiB block", p, n, p + 500000);
	wr(p + 500000, 0x5a);
	misuse_after();
	free(xmalloc(n));
	return misuse_end();
}
