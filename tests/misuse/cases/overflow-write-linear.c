// misuse: class=overflow-write catch=guard,redzone
// misuse-about: a loop with the wrong bound: fill a 256-byte object with
// misuse-about: 768 bytes (512 past its end), among other live objects
#include "../misuse.h"

int main(void)
{
	char *ring[16];
	for (int i = 0; i < 16; i++)
		ring[i] = xmalloc(256);
	char *p = ring[7];
	misuse_bug("fill 768 bytes of a 256-byte object", p, 256, p + 256);
	wr_range(p, 768, 'Z');
	misuse_after();
	for (int i = 0; i < 16; i++)
		free(ring[i]);
	return misuse_end();
}
