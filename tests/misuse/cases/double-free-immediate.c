// misuse: class=double-free catch=free
// misuse-about: free a 32-byte object twice in a row
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	free(p);
	misuse_bug("free a 32-byte object again", p, 32, NULL);
	free(launder(p));
	misuse_after();
	return misuse_end();
}
