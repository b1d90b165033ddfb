// misuse: class=double-free catch=free
// misuse-about: free a 32-byte object, free 10 other objects of the same
// misuse-about: size (so it is no longer the latest free), then free it again
#include "../misuse.h"

int main(void)
{
	char *q[10];
	char *p = xmalloc(32);
	for (int i = 0; i < 10; i++)
		q[i] = xmalloc(32);
	free(p);
	for (int i = 0; i < 10; i++)
		free(q[i]);
	misuse_bug("free a 32-byte object again after 10 other frees", p, 32, NULL);
	free(launder(p));
	misuse_after();
	return misuse_end();
}
