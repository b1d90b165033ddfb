// misuse: class=underflow-write catch=guard-below may=redzone
// misuse-about: write the byte just before a 64-byte object (p[-1]), then
// misuse-about: free it and its neighbours
#include "../misuse.h"

int main(void)
{
	char *a = xmalloc(64);
	char *p = xmalloc(64);
	char *b = xmalloc(64);
	misuse_bug("write p[-1] of a 64-byte object", p, 64, p - 1);
	wr(p - 1, 0);
	misuse_after();
	free(a);
	free(p);
	free(b);
	return misuse_end();
}
