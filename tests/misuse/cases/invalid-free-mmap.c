// misuse: class=invalid-free catch=free
// misuse-about: free a page the program got from mmap (mapped, but not the
// misuse-about: allocator's), with plausible bytes in front of it
#include "../misuse.h"
#include <sys/mman.h>

int main(void)
{
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		misuse_fail("mmap");
	char *p = m + 4096;
	/* What a header-based allocator would find before it: a chunk size. */
	((size_t *)p)[-1] = 64 | 1;
	((size_t *)p)[-2] = 0;
	misuse_bug("free a page from mmap", p, 4096, p);
	free(launder(p));
	misuse_after();
	return misuse_end();
}
