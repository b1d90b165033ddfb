// misuse: class=overflow-write catch=- may=guard,redzone
// misuse-about: write the byte just past a 1 MiB block
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)1 << 20;
	char *p = xmalloc(n);
	wr(p + n - 1, 'e');
	misuse_bug("write p[1 MiB] of a 1 MiB block", p, n, p + n);
	wr(p + n, 0);
	misuse_after();
	free(p);
	return misuse_end();
}
