// misuse: class=overflow-write catch=guard,redzone
// misuse-about: malloc(strlen(s)) without the +1, then strcpy: libc's strcpy
// misuse-about: writes the terminating NUL one past a 32-byte object
#include "../misuse.h"

int main(void)
{
	const char *s = launder((void *)"0123456789abcdef0123456789ABCDEF");
	size_t n = strlen(s);
	char *p = xmalloc(n);
	misuse_bug("strcpy a 32-char string into a 32-byte object", p, n, NULL);
	strcpy(p, s);
	misuse_after();
	free(p);
	return misuse_end();
}
