// misuse: class=control
// misuse-about: correct use from 4 threads: each allocates, hands half of
// misuse-about: its objects to the next thread to free, and frees the rest
#include "../misuse.h"
#include <pthread.h>

#define THREADS 4
#define PER 2000

static char *handoff[THREADS][PER / 2];
static pthread_barrier_t bar;

static void *work(void *arg)
{
	int id = (int)(intptr_t)arg;
	static __thread char *own[PER / 2];
	for (int i = 0; i < PER; i++) {
		size_t n = (size_t)(i % 500) + 1 + (size_t)id;
		char *p = xmalloc(n);
		wr(p, (unsigned char)id);
		wr(p + n - 1, (unsigned char)id);
		if (i % 2)
			handoff[id][i / 2] = p;
		else
			own[i / 2] = p;
	}
	pthread_barrier_wait(&bar);
	int from = (id + 1) % THREADS;
	for (int i = 0; i < PER / 2; i++) {
		if (rd(handoff[from][i]) != (unsigned char)from)
			misuse_fail("contents changed");
		free(handoff[from][i]);
		free(own[i]);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	pthread_barrier_init(&bar, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, work, (void *)(intptr_t)i) != 0)
			misuse_fail("pthread_create");
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return misuse_end();
}
