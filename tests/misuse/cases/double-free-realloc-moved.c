// misuse: class=double-free catch=free
// misuse-about: realloc moves a 64-byte block; then free the old pointer
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(64);
	char *blocker = xmalloc(64);
	char *q = launder(realloc(p, 40000));
	if (!q)
		misuse_fail("realloc returned NULL");
	if (q == p)
		misuse_na("realloc grew the block in place");
	misuse_bug("free the old pointer of a moved realloc block", p, 64, NULL);
	free(launder(p));
	misuse_after();
	free(q);
	free(blocker);
	return misuse_end();
}
