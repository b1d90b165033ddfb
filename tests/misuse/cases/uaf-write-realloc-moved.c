// misuse: class=uaf-write catch=guard may=poison
// misuse-about: grow a 100-byte block with realloc so that it moves, then
// misuse-about: write through the old pointer and allocate 100 bytes again
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(100);
	char *blocker = xmalloc(100);
	char *q = launder(realloc(p, 9000));
	if (!q)
		misuse_fail("realloc returned NULL");
	if (q == p)
		misuse_na("realloc grew the block in place");
	misuse_bug("write the old pointer of a moved realloc block", p, 100, p);
	wr(p, 0x5a);
	misuse_after();
	for (int i = 0; i < 8; i++)
		free(xmalloc(100));
	free(q);
	free(blocker);
	return misuse_end();
}
