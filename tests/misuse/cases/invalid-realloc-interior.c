// misuse: class=invalid-free catch=free
// misuse-about: realloc a pointer 8 bytes into a 96-byte object
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(96);
	wr_range(p, 96, 'i');
	misuse_bug("realloc p + 8 of a 96-byte object", p, 96, p + 8);
	char *q = launder(realloc(launder(p + 8), 200));
	misuse_after();
	(void)q;
	return misuse_end();
}
