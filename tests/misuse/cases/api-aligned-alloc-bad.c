// misuse: class=api-align catch=api
// misuse-about: aligned_alloc(24, 96): 24 is no valid alignment, so C17 and
// misuse-about: C23 want NULL (glibc before 2.38 rounds it up instead)
#include "../misuse.h"

int main(void)
{
	size_t align = (size_t)launder((void *)24);
	misuse_bug("aligned_alloc(24, 96)", NULL, 96, NULL);
	errno = 0;
	void *p = launder(aligned_alloc(align, 96));
	misuse_after();
	if (p == NULL)
		say("rejected aligned_alloc: NULL, errno %d", errno);
	else
		say("accepted aligned_alloc returned %p", p);
	return misuse_end();
}
