// misuse: class=invalid-free catch=free
// misuse-about: free a pointer into the middle of a 1 MiB block (a page
// misuse-about: boundary, 256 KiB in)
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr_range(p, n, 'L');
	misuse_bug("free p + 256 KiB of a 1 MiB block", p, n, p + (n / 4));
	free(launder(p + n / 4));
	misuse_after();
	free(p);
	return misuse_end();
}
