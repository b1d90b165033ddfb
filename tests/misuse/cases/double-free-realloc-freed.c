// misuse: class=double-free catch=free
// misuse-about: realloc a pointer that was already freed
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	char *keep = xmalloc(32);
	free(p);
	misuse_bug("realloc a freed 32-byte object", p, 32, NULL);
	char *q = launder(realloc(launder(p), 64));
	misuse_after();
	free(keep);
	(void)q;
	return misuse_end();
}
