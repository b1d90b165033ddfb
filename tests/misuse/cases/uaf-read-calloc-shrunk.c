// misuse: class=uaf-read catch=guard
// misuse-about: shrink a calloc'd 4000-byte block to 16 bytes with realloc;
// misuse-about: when it moved (n/a when it shrank in place), read offset 3000
// misuse-about: through the old pointer
#include "../misuse.h"

int main(void)
{
	char *p = launder(calloc(1, 4000));
	if (!p)
		misuse_fail("calloc returned NULL");
	char *q = launder(realloc(p, 16));
	if (!q)
		misuse_fail("realloc returned NULL");
	if (q == p)
		misuse_na("realloc shrank in place (the tail is then an overflow, not a use after free)");
	misuse_bug("read the old pointer of a block realloc moved while shrinking", p, 4000, p + 3000);
	misuse_sink += rd(p + 3000);
	misuse_after();
	free(q);
	return misuse_end();
}
