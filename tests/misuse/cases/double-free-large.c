// misuse: class=double-free catch=free
// misuse-about: free a 1 MiB block twice
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr(p, 1);
	free(p);
	misuse_bug("free a 1 MiB block again", p, n, NULL);
	free(launder(p));
	misuse_after();
	return misuse_end();
}
