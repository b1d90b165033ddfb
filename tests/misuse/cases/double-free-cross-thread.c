// misuse: class=double-free catch=free
// misuse-about: another thread frees a 48-byte object (and exits), then the
// misuse-about: thread that allocated it frees it again
#include "../misuse.h"
#include <pthread.h>

static void *free_it(void *p)
{
	free(p);
	return NULL;
}

int main(void)
{
	pthread_t t;
	char *p = xmalloc(48);
	if (pthread_create(&t, NULL, free_it, p) != 0)
		misuse_fail("pthread_create");
	pthread_join(t, NULL);
	misuse_bug("free a 48-byte object another thread freed", p, 48, NULL);
	free(launder(p));
	misuse_after();
	return misuse_end();
}
