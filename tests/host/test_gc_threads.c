/*
 * The collector with threads, as a program on the host runs it (and under
 * ThreadSanitizer in `make test-host-tsan`): mutator threads allocate,
 * link and replace objects of their own graphs and trigger collections
 * from kgc_alloc; another thread collects and sweeps on its own; another
 * asks kgc_is_live about objects that are always live, about whatever the
 * mutators hold right now, and about memory that is not collector memory;
 * the mark runs on two threads (arch/host/gcpool.c).  Mutators stop for a
 * collection at safepoints (this file's stop_world / start_world): between
 * their sections, as a kernel's CPUs stop outside the allocator.  At the
 * end one more collection must find exactly what the graphs hold.
 * Randomised from the run's seed; the assertions hold for any seed and any
 * interleaving.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/host/gcpool.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define MUTATORS 3
#define SLOTS 512
#define PERMANENT 64
#define ROUNDS 200
#define BATCH 64

struct node {
	struct node *next;   /* within its thread's graph */
	struct node *other;
	uint64_t id;
	uint64_t check;
};
static const uint8_t node_mask[1] = { 0x3 };
static const struct kgc_type node_type = { sizeof(struct node), node_mask, "node" };

/* ---- safepoints: the program's stop_world / start_world ------------------ */

static pthread_mutex_t world = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t world_cond = PTHREAD_COND_INITIALIZER;
static unsigned running;          /* threads inside a section */
static bool stopping;
static __thread bool in_section;

static void section_enter(void)
{
	pthread_mutex_lock(&world);
	while (stopping)
		pthread_cond_wait(&world_cond, &world);
	running++;
	in_section = true;
	pthread_mutex_unlock(&world);
}

static void section_leave(void)
{
	pthread_mutex_lock(&world);
	running--;
	in_section = false;
	pthread_cond_broadcast(&world_cond);
	pthread_mutex_unlock(&world);
}

/* Called by the collecting thread: inside a section (a collection its
 * kgc_alloc triggered) or outside (the collector thread). */
static void stop_world(void)
{
	pthread_mutex_lock(&world);
	stopping = true;
	while (running > (in_section ? 1u : 0u))
		pthread_cond_wait(&world_cond, &world);
	pthread_mutex_unlock(&world);
}

static void start_world(void)
{
	pthread_mutex_lock(&world);
	stopping = false;
	pthread_cond_broadcast(&world_cond);
	pthread_mutex_unlock(&world);
}

/* ---- the threads ----------------------------------------------------------- */

static struct node *slots[MUTATORS][SLOTS];     /* roots, one range each */
static struct node *permanent[PERMANENT];        /* a root, never changed */
static bool done;                 /* the collector and the asker stop */
static unsigned finished;         /* mutators through their rounds */
static bool may_exit;             /* no collection runs any more */
static int failures;

static void record_failure(void)
{
	__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
}

static bool intact(const struct node *n)
{
	return n->check == ~n->id;
}

struct mutator {
	int me;
	uint64_t rng;
	uint64_t next_id;
};

static void *mutator(void *arg)
{
	struct mutator *m = arg;
	struct node **mine = slots[m->me];
	for (int round = 0; round < ROUNDS; round++) {
		section_enter();
		for (int b = 0; b < BATCH; b++) {
			struct node *n = kgc_alloc(sizeof(*n), &node_type);
			if (!n) {
				record_failure();
				break;
			}
			n->id = m->next_id++ << 8 | (uint64_t)m->me;
			n->check = ~n->id;
			n->next = mine[ks_test_rand(&m->rng) % SLOTS];
			n->other = permanent[ks_test_rand(&m->rng) % PERMANENT];
			/* Rooted before the next allocation; the asker reads it. */
			__atomic_store_n(&mine[ks_test_rand(&m->rng) % SLOTS], n, __ATOMIC_RELAXED);
		}
		/* Everything this thread holds is intact and live. */
		for (int i = 0; i < SLOTS; i += 7)
			for (struct node *n = mine[i]; n; n = n->next)
				if (!intact(n) || !kgc_is_live(n))
					record_failure();
		section_leave();
	}
	/* A thread's exit drains its cache (the exit hook) outside any
	 * section: wait until no collection can run. */
	__atomic_fetch_add(&finished, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&may_exit, __ATOMIC_ACQUIRE))
		sched_yield();
	return NULL;
}

static void *collector(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		kgc_collect();
		kgc_sweep(8);
		kspan_scavenge();
		usleep(500);
	}
	return NULL;
}

static void *asker(void *arg)
{
	uint64_t *rng = arg;
	static int not_heap;
	void *manual = kmalloc(64);
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		if (!kgc_is_live(permanent[ks_test_rand(rng) % PERMANENT]))
			record_failure();
		struct node *n = __atomic_load_n(&slots[ks_test_rand(rng) % MUTATORS]
		                                       [ks_test_rand(rng) % SLOTS], __ATOMIC_RELAXED);
		(void)kgc_is_live(n);   /* whatever it says, it says it race-free */
		if (kgc_is_live(&not_heap) || kgc_is_live(manual) || kgc_is_live(NULL))
			record_failure();
		sched_yield();
	}
	kfree(manual);
	return NULL;
}

/* Objects reachable from the roots (their graphs are acyclic but shared). */
static uint64_t count_reachable(void)
{
	size_t cap = 1 << 20, n = 0;
	uintptr_t *seen = calloc(cap, sizeof(*seen));
	assert_non_null(seen);
	struct node *stack[4096];
	unsigned sp = 0;
	for (int t = 0; t < MUTATORS; t++)
		for (int i = 0; i < SLOTS; i++)
			if (slots[t][i])
				stack[sp++] = slots[t][i];
	for (int i = 0; i < PERMANENT; i++)
		stack[sp++] = permanent[i];
	while (sp) {
		struct node *x = stack[--sp];
		size_t h = ((uintptr_t)x >> 4) * 0x9E3779B97F4A7C15ull % cap;
		while (seen[h] && seen[h] != (uintptr_t)x)
			h = (h + 1) % cap;
		if (seen[h])
			continue;
		seen[h] = (uintptr_t)x;
		n++;
		assert_true(n < cap / 2 && sp + 2 < 4096);
		assert_true(intact(x));
		if (x->next)
			stack[sp++] = x->next;
		if (x->other)
			stack[sp++] = x->other;
	}
	free(seen);
	return n;
}

static void test_threads_allocate_collect_ask(void **state)
{
	(void)state;
	for (int i = 0; i < PERMANENT; i++) {
		permanent[i] = kgc_alloc(sizeof(struct node), &node_type);
		assert_non_null(permanent[i]);
		permanent[i]->id = (uint64_t)i << 8 | 0xff;
		permanent[i]->check = ~permanent[i]->id;
	}
	kgc_enable(true);
	pthread_t mt[MUTATORS], ct, at;
	static struct mutator ms[MUTATORS];
	uint64_t arng = ks_test_rng(99);
	for (int t = 0; t < MUTATORS; t++) {
		ms[t] = (struct mutator){ t, ks_test_rng((uint64_t)t), 1 };
		assert_int_equal(pthread_create(&mt[t], NULL, mutator, &ms[t]), 0);
	}
	assert_int_equal(pthread_create(&ct, NULL, collector, NULL), 0);
	assert_int_equal(pthread_create(&at, NULL, asker, &arng), 0);
	while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < MUTATORS)
		sched_yield();
	kgc_enable(false);
	__atomic_store_n(&done, true, __ATOMIC_RELEASE);
	pthread_join(ct, NULL);
	pthread_join(at, NULL);
	__atomic_store_n(&may_exit, true, __ATOMIC_RELEASE);
	for (int t = 0; t < MUTATORS; t++)
		pthread_join(mt[t], NULL);
	assert_int_equal(failures, 0);

	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	print_message("# %llu collections, %llu freed, %llu live\n",
	              (unsigned long long)s.cycles, (unsigned long long)s.freed_objects,
	              (unsigned long long)s.live_objects);
	assert_true(s.cycles >= 2);
	assert_int_equal(s.live_objects, count_reachable());
	assert_int_equal(kgc_sweep(0), 0);
	kgc_stats(&s);
	assert_int_equal(s.inuse_objects, s.live_objects);
}

static int setup(void **state)
{
	if (heap_fixture_setup(state) != 0)
		return -1;
	struct kgc_config cfg = { .gc_percent = 100, .min_trigger = 256u << 10,
	                          .stop_world = stop_world, .start_world = start_world };
	if (ks_host_gc_pool(&cfg, 2) != 1)
		return -1;
	kgc_init(&cfg);
	kgc_enable(false);
	kgc_root_add(permanent, sizeof(permanent));
	for (int t = 0; t < MUTATORS; t++)
		kgc_root_add(slots[t], sizeof(slots[t]));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_allocate_collect_ask),
	};
	return KS_TEST_MAIN("gc_threads", tests, setup, NULL);
}
