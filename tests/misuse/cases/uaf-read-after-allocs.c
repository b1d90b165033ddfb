// misuse: class=uaf-read catch=guard
// misuse-about: free a 48-byte object, make 200 more allocations of the
// misuse-about: same size (kept live, so a slot may well be reused), then read it
#include "../misuse.h"

int main(void)
{
	static char *keep[200];
	char *p = xmalloc(48);
	wr_range(p, 48, 'x');
	free(p);
	for (int i = 0; i < 200; i++) {
		keep[i] = xmalloc(48);
		wr_range(keep[i], 48, 'k');
	}
	misuse_bug("read a freed 48-byte object after 200 allocations", p, 48, p);
	misuse_sink += rd(p);
	misuse_after();
	for (int i = 0; i < 200; i++)
		free(keep[i]);
	return misuse_end();
}
