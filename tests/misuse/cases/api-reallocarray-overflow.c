// misuse: class=api-overflow catch=api
// misuse-about: reallocarray(p, n, size) whose n * size overflows must fail
// misuse-about: with ENOMEM and leave p alone
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(32);
	wr_range(p, 32, 'r');
	size_t n = (SIZE_MAX / 64) + 3, size = 64;   /* n * size wraps to 128 */
	misuse_bug("reallocarray(p, (SIZE_MAX / 64) + 3, 64)", p, 32, NULL);
	errno = 0;
	char *q = launder(reallocarray(launder(p), (size_t)launder((void *)n), size));
	misuse_after();
	if (q == NULL && errno == ENOMEM) {
		say("rejected reallocarray: NULL, ENOMEM");
		free(p);
	} else if (q == NULL) {
		say("rejected reallocarray: NULL (errno %d, not ENOMEM)", errno);
		free(p);
	} else {
		say("accepted reallocarray returned %p", (void *)q);
	}
	return misuse_end();
}
