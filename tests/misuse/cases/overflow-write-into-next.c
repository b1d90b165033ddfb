// misuse: class=overflow-write catch=guard,redzone
// misuse-about: two 48-byte objects; write 16 bytes past the end of the first
// misuse-about: (into its neighbour, wherever that is), then free both
#include "../misuse.h"

int main(void)
{
	char *a = xmalloc(48);
	char *b = xmalloc(48);
	wr_range(a, 48, 'a');
	wr_range(b, 48, 'b');
	misuse_bug("write 16 bytes past a 48-byte object", a, 48, a + 48);
	wr_range(a + 48, 16, 'X');
	misuse_after();
	free(b);
	free(a);
	return misuse_end();
}
