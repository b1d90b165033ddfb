// misuse: class=invalid-free catch=free
// misuse-about: posix_memalign(4096, 100), then free the block 16 bytes
// misuse-about: before it (code that assumes a header it can free through)
#include "../misuse.h"

int main(void)
{
	void *v = NULL;
	if (posix_memalign(&v, 4096, 100) != 0)
		misuse_fail("posix_memalign failed");
	char *p = launder(v);
	misuse_bug("free p - 16 of a 4096-aligned object", p, 100, p - 16);
	free(launder(p - 16));
	misuse_after();
	free(p);
	return misuse_end();
}
