// misuse: class=uaf-read catch=guard
// misuse-about: read a freed 3000-byte object (it fits one page)
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(3000);
	wr_range(p, 3000, 'm');
	free(p);
	misuse_bug("read a freed 3000-byte object", p, 3000, p + 2999);
	misuse_sink += rd(p + 2999);
	misuse_after();
	return misuse_end();
}
