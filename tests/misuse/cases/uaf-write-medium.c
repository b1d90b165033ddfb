// misuse: class=uaf-write catch=guard may=poison
// misuse-about: write a freed 20000-byte object (a multi-page small size
// misuse-about: class), then allocate the same size again
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(20000);
	free(p);
	misuse_bug("write a freed 20000-byte object", p, 20000, p + 100);
	wr(p + 100, 0x5a);
	misuse_after();
	for (int i = 0; i < 4; i++)
		free(xmalloc(20000));
	return misuse_end();
}
