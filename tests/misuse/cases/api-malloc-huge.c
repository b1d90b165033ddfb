// misuse: class=api-overflow catch=api
// misuse-about: malloc(SIZE_MAX - 4095) (a size computed from a negative
// misuse-about: length) must fail with ENOMEM
#include "../misuse.h"

int main(void)
{
	size_t n = (size_t)launder((void *)(SIZE_MAX - 4095));
	misuse_bug("malloc(SIZE_MAX - 4095)", NULL, 0, NULL);
	errno = 0;
	char *p = launder(malloc(n));
	misuse_after();
	if (p == NULL && errno == ENOMEM)
		say("rejected malloc: NULL, ENOMEM");
	else if (p == NULL)
		say("rejected malloc: NULL (errno %d, not ENOMEM)", errno);
	else
		say("accepted malloc returned %p", (void *)p);
	return misuse_end();
}
