// misuse: class=uaf-write catch=guard may=poison
// misuse-about: free a 64-byte object, then allocate and free 8 others of
// misuse-about: the same size, then write the first one and allocate again
#include "../misuse.h"

int main(void)
{
	char *q[8];
	char *p = xmalloc(64);
	free(p);
	for (int i = 0; i < 8; i++)
		q[i] = xmalloc(64);
	for (int i = 0; i < 8; i++)
		free(q[i]);
	misuse_bug("write a freed 64-byte object after 8 other frees", p, 64, p + 40);
	wr(p + 40, 0x5a);
	misuse_after();
	for (int i = 0; i < 16; i++)
		q[i % 8] = xmalloc(64);
	return misuse_end();
}
