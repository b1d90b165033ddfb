/*
 * Threads stand in for CPUs (each has its own cache slot on the host):
 * concurrent allocation with pattern checks, objects handed from thread to
 * thread through rings so that most frees are remote, and at the end every
 * thread drains and the page heap is back to its starting free total.  A
 * quarter of the objects come from three object caches (one with a
 * constructor, whose mark must survive frees on other threads), freed
 * with kmem_cache_free or kfree; the caches are destroyed at the end.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define NTHREADS 4
#define RING 256

struct ring {
	void *slot[RING];
	size_t size[RING];
	int cache[RING];       /* 0: kmalloc; k + 1: tcache[k] */
	uint64_t head, tail;   /* head: next to write; tail: next to read */
	pthread_mutex_t lock;
};

static struct ring rings[NTHREADS][NTHREADS]; /* rings[from][to] */
static long ops_per_thread = 300000;
static int failures;

/* The object caches of the churn: tcache[1] has a constructor. */
#define NCACHES 3
#define CTOR_MARK 0x5eed0b1ec7c7c7c7ull
static struct kmem_cache *tcache[NCACHES];
static const size_t tcache_size[NCACHES] = { 40, 200, 1000 };

static void mark_ctor(void *p)
{
	*(uint64_t *)p = CTOR_MARK;
}

/* An object of n bytes, or of cache k - 1 (k > 0), pattern-filled (past
 * the constructor's mark). */
static void *obj_new(size_t n, int k, uint64_t seed)
{
	if (!k) {
		void *p = kmalloc(n);
		fill_pattern(p, n, seed);
		return p;
	}
	char *p = kmem_cache_alloc(tcache[k - 1]);
	if (k == 2 && *(uint64_t *)(void *)p != CTOR_MARK)
		__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
	fill_pattern(p + 8, tcache_size[k - 1] - 8, seed);
	return p;
}

static void obj_free(void *p, size_t n, int k, uint64_t seed)
{
	if (!p)
		return;
	if (!(k ? check_pattern((char *)p + 8, tcache_size[k - 1] - 8, seed)
	        : check_pattern(p, n, seed)))
		__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
	if (k && (seed & 1))
		kmem_cache_free(tcache[k - 1], p);
	else
		kfree(p);
}

static int ring_put(struct ring *r, void *p, size_t n, int k)
{
	pthread_mutex_lock(&r->lock);
	int ok = r->head - r->tail < RING;
	if (ok) {
		r->slot[r->head % RING] = p;
		r->size[r->head % RING] = n;
		r->cache[r->head % RING] = k;
		r->head++;
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static void *ring_get(struct ring *r, size_t *n, int *k)
{
	void *p = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->tail != r->head) {
		p = r->slot[r->tail % RING];
		*n = r->size[r->tail % RING];
		*k = r->cache[r->tail % RING];
		r->tail++;
	}
	pthread_mutex_unlock(&r->lock);
	return p;
}

static void consume(int me, int from)
{
	size_t n;
	int k;
	void *p;
	while ((p = ring_get(&rings[from][me], &n, &k)))
		obj_free(p, n, k, n);
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t rng = ks_test_rng(0x1234567ull * (uint64_t)(me + 1));
	enum { LOCAL = 512 };
	void *local[LOCAL] = { 0 };
	size_t lsize[LOCAL] = { 0 };
	int lcache[LOCAL] = { 0 };
	for (long op = 0; op < ops_per_thread; op++) {
		uint64_t r = ks_test_rand(&rng);
		size_t n = (r >> 8) % ((r & 15) == 0 ? 20000 : 512);
		int to = (int)((r >> 40) % NTHREADS);
		int k = (int)((r >> 50) % 12);
		k = k < NCACHES ? k + 1 : 0;
		if (to != me && (r & 3) == 0) {
			void *p = obj_new(n, k, n);
			if (!ring_put(&rings[me][to], p, n, k))
				obj_free(p, n, k, n);
		} else {
			unsigned i = (unsigned)((r >> 20) % LOCAL);
			if (local[i]) {
				obj_free(local[i], lsize[i], lcache[i], lsize[i] ^ (uint64_t)me);
				local[i] = NULL;
			} else {
				local[i] = obj_new(n, k, n ^ (uint64_t)me);
				lsize[i] = n;
				lcache[i] = k;
			}
		}
		if ((op & 63) == 0)
			for (int f = 0; f < NTHREADS; f++)
				consume(me, f);
	}
	for (unsigned i = 0; i < LOCAL; i++)
		obj_free(local[i], lsize[i], lcache[i], lsize[i] ^ (uint64_t)me);
	return NULL;
}

static void test_cross_thread_churn(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	for (int k = 0; k < NCACHES; k++)
		tcache[k] = kmem_cache_create("churn", tcache_size[k], 0, 0,
		                              k == 1 ? mark_ctor : NULL);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		for (int j = 0; j < NTHREADS; j++)
			pthread_mutex_init(&rings[i][j].lock, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);   /* each thread drains at exit */
	/* Objects left in rings are freed here, remotely again. */
	for (int to = 0; to < NTHREADS; to++)
		for (int from = 0; from < NTHREADS; from++)
			consume(to, from);
	assert_int_equal(failures, 0);
	(void)heap_free_pages();   /* this thread's frees delivered */
	for (int k = 0; k < NCACHES; k++)
		kmem_cache_destroy(tcache[k]);
	assert_int_equal(heap_free_pages(), before);
}

/* Many short-lived threads: slots are given back and reused. */
static void *short_lived(void *arg)
{
	(void)arg;
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = kmalloc((size_t)i * 40);
	for (int i = 0; i < 64; i++)
		kfree(p[i]);
	return NULL;
}

static void test_thread_exit_drains(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	for (int round = 0; round < 50; round++) {
		pthread_t t[8];
		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, short_lived, NULL);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
	}
	assert_int_equal(heap_free_pages(), before);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		ops_per_thread = atol(argv[1]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cross_thread_churn),
		cmocka_unit_test(test_thread_exit_drains),
	};
	return KS_TEST_MAIN("threads", tests, heap_fixture_setup, NULL);
}
