// misuse: class=uaf-read catch=guard
// misuse-about: grow a 32-byte block with realloc so that it moves, then
// misuse-about: read through the old pointer
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	char *blocker = xmalloc(32);   /* nothing to grow into in place */
	wr_range(p, 32, 'r');
	char *q = launder(realloc(p, 50000));
	if (!q)
		misuse_fail("realloc returned NULL");
	if (q == p)
		misuse_na("realloc grew the block in place");
	misuse_bug("read the old pointer of a moved realloc block", p, 32, p + 4);
	misuse_sink += rd(p + 4);
	misuse_after();
	free(q);
	free(blocker);
	return misuse_end();
}
