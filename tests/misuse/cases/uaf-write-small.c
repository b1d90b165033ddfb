// misuse: class=uaf-write catch=guard may=poison
// misuse-about: write into a 32-byte object right after it was freed, then
// misuse-about: allocate the same size again (a poisoning allocator notices there)
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	free(p);
	misuse_bug("write a freed 32-byte object", p, 32, p + 16);
	wr(p + 16, 0x5a);
	misuse_after();
	for (int i = 0; i < 8; i++)
		free(xmalloc(32));
	return misuse_end();
}
