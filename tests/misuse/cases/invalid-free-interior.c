// misuse: class=invalid-free catch=free
// misuse-about: free a pointer 16 bytes into a 64-byte object
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(64);
	misuse_bug("free p + 16 of a 64-byte object", p, 64, p + 16);
	free(launder(p + 16));
	misuse_after();
	free(p);
	return misuse_end();
}
