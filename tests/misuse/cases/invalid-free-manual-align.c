// misuse: class=invalid-free catch=free
// misuse-about: align by hand inside a malloc block (p + 64 rounded down to
// misuse-about: 64, so never p itself) and free the aligned pointer
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(200);
	char *a = (char *)(((uintptr_t)p + 64) & ~(uintptr_t)63);
	misuse_bug("free a hand-aligned pointer into a 200-byte object", p, 200, a);
	free(launder(a));
	misuse_after();
	free(p);
	return misuse_end();
}
