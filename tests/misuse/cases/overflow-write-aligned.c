// misuse: class=overflow-write catch=guard,redzone
// misuse-about: posix_memalign(64, 192), then write p[192]
#include "../misuse.h"

int main(void)
{
	void *v = NULL;
	if (posix_memalign(&v, 64, 192) != 0)
		misuse_fail("posix_memalign failed");
	char *p = launder(v);
	if ((uintptr_t)p % 64)
		misuse_fail("posix_memalign returned a misaligned block");
	misuse_bug("write p[192] of a 64-aligned 192-byte object", p, 192, p + 192);
	wr(p + 192, 0);
	misuse_after();
	free(p);
	return misuse_end();
}
