// misuse: class=api-align catch=api
// misuse-about: posix_memalign with alignment 24 (not a power of two) must
// misuse-about: return EINVAL and leave *memptr alone
#include "../misuse.h"

int main(void)
{
	void *sentinel = (void *)(uintptr_t)0x5eed;
	void *v = sentinel;
	size_t align = (size_t)launder((void *)24);
	misuse_bug("posix_memalign(&p, 24, 64)", NULL, 64, NULL);
	int rc = posix_memalign(&v, align, 64);
	misuse_after();
	if (rc == EINVAL && v == sentinel)
		say("rejected posix_memalign: EINVAL, *memptr untouched");
	else if (rc != 0)
		say("rejected posix_memalign: error %d, *memptr %s", rc,
		    v == sentinel ? "untouched" : "written");
	else
		say("accepted posix_memalign returned 0 and %p", v);
	return misuse_end();
}
