// misuse: class=uaf-read catch=guard
// misuse-about: read a 32-byte object right after it was freed
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	wr_range(p, 32, 'a');
	free(p);
	misuse_bug("read a freed 32-byte object", p, 32, p + 8);
	misuse_sink += rd(p + 8);
	misuse_after();
	return misuse_end();
}
