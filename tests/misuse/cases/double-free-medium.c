// misuse: class=double-free catch=free
// misuse-about: free a 3000-byte object twice
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(3000);
	char *keep = xmalloc(3000);
	free(p);
	misuse_bug("free a 3000-byte object again", p, 3000, NULL);
	free(launder(p));
	misuse_after();
	free(keep);
	return misuse_end();
}
