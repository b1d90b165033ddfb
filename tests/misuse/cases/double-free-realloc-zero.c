// misuse: class=double-free catch=free
// misuse-about: realloc(p, 0) frees p (glibc, and kspan, return NULL; others
// misuse-about: may return a new minimal block); then free(p) again
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	char *keep = xmalloc(32);
	char *r = launder(realloc(p, 0));
	if (r == p)
		misuse_na("realloc(p, 0) returned p itself");
	misuse_bug("free p after realloc(p, 0)", p, 32, NULL);
	free(launder(p));
	misuse_after();
	free(r);
	free(keep);
	return misuse_end();
}
