// misuse: class=overflow-write catch=redzone may=guard
// misuse-about: write p[13] of a 13-byte object: a guard page sits past the
// misuse-about: object's aligned end, so only a red zone is sure to see it
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(13);
	wr_range(p, 13, 'o');
	misuse_bug("write p[13] of a 13-byte object", p, 13, p + 13);
	wr(p + 13, 0);
	misuse_after();
	free(p);
	return misuse_end();
}
