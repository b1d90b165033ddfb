// misuse: class=underflow-read catch=guard-below
// misuse-about: read 100 bytes before the start of a 512-byte object
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(512);
	wr_range(p, 512, 'u');
	misuse_bug("read p[-100] of a 512-byte object", p, 512, p - 100);
	misuse_sink += rd(p - 100);
	misuse_after();
	free(p);
	return misuse_end();
}
