// misuse: class=api-overflow catch=api
// misuse-about: calloc(n, size) whose n * size overflows size_t must fail
// misuse-about: (NULL, ENOMEM), not hand out a block of the wrapped size
#include "../misuse.h"

int main(void)
{
	size_t n = (SIZE_MAX / 16) + 2, size = 16;   /* n * size wraps to 16 */
	misuse_bug("calloc((SIZE_MAX / 16) + 2, 16)", NULL, 0, NULL);
	errno = 0;
	char *p = launder(calloc(launder((void *)n) ? n : 0, size));
	misuse_after();
	if (p == NULL && errno == ENOMEM)
		say("rejected calloc: NULL, ENOMEM");
	else if (p == NULL)
		say("rejected calloc: NULL (errno %d, not ENOMEM)", errno);
	else
		say("accepted calloc returned %p", (void *)p);
	return misuse_end();
}
