/*
 * Memory pressure (mm/reclaim.c): before an allocation fails, memory that
 * sits in caches comes back, shrinkers are asked, and the allocation
 * tries again.
 *
 *   exhaustion   with a commit limit, 64 KiB blocks are allocated until
 *                kmalloc returns NULL, once with objects cached on the
 *                CPUs (owned spans, queued frees, the central reserves)
 *                and once after an explicit drain of every CPU: the first
 *                count must reach 99% of the second.  On one CPU, and on
 *                four, three of them idle (threads waiting on a condition
 *                variable) and woken only by kspan_config.kick_idle_cpus;
 *   shrinkers    a registered shrinker's memory is given back before an
 *                allocation fails; it is called with the bytes wanted and
 *                no kspan lock held (it allocates itself), and its own
 *                failing allocation does not reclaim again;
 *   accounting   queued frees are counted apart from objects in use;
 *   scavenging   free pages are decommitted only when a commit failed: an
 *                allocation that finds no free run gives none back, one
 *                whose commit fails gives back what it needs and
 *                KS_RECLAIM_SLACK more, not every free page; the passes
 *                of ks_reclaim take those steps in order and then stop.
 *
 * The sizes and orders of the cached objects come from the run's seed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include "arch/host/platform.h"
#include "mm/arena.h"
#include "mm/commit.h"
#include "mm/reclaim.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define BLOCK   (64u << 10)
#define LIMIT   ((size_t)48 << 20)   /* heap memory beyond what is committed */
#define MAXBLK  4096
#define NWORK   3

static void *blocks[MAXBLK];

/* ---- idle "CPUs": threads that wake only when kicked ---------------------- */

struct worker {
	pthread_t t;
	unsigned slot;
	uint64_t rng;
};

static struct worker workers[NWORK];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned kick_seq, acks, fill_seq, fills_done;
static bool quit;
static unsigned kicks;

/* Allocate a seeded mix of small objects and free them all: what is left
 * is cache (owned spans with free objects, perhaps queued frees). */
static void cache_objects(uint64_t *rng, unsigned n)
{
	void **p = malloc(n * sizeof(void *));
	assert_non_null(p);
	for (unsigned i = 0; i < n; i++) {
		size_t sz = 8 + ks_test_rand(rng) % 4000;
		p[i] = kmalloc(sz);
		assert_non_null(p[i]);
	}
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(ks_test_rand(rng) % (i + 1));
		void *t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		kfree(p[i]);
	free(p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->slot = ks_plat_cpu_id();
	unsigned seen_kick = 0, seen_fill = 0;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!quit && kick_seq == seen_kick && fill_seq == seen_fill)
			pthread_cond_wait(&cv, &mu);
		if (quit)
			break;
		if (fill_seq != seen_fill) {
			seen_fill = fill_seq;
			pthread_mutex_unlock(&mu);
			cache_objects(&w->rng, 4000);
			pthread_mutex_lock(&mu);
			fills_done++;
		}
		if (kick_seq != seen_kick) {
			seen_kick = kick_seq;
			pthread_mutex_unlock(&mu);
			kspan_drain_cpu();
			pthread_mutex_lock(&mu);
			acks++;
		}
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Bump *seq and wait until every worker has answered (*done grew by
 * NWORK). */
static void post_and_wait(unsigned *seq, unsigned *done)
{
	pthread_mutex_lock(&mu);
	unsigned want = *done + NWORK;
	(*seq)++;
	pthread_cond_broadcast(&cv);
	while (*done < want)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static bool workers_started;

/* kspan_config.kick_idle_cpus, and the tests' explicit drain of every
 * worker: each drains its own slot; wait for all. */
static void kick_workers(void)
{
	if (!workers_started)
		return;
	__atomic_fetch_add(&kicks, 1, __ATOMIC_RELAXED);
	post_and_wait(&kick_seq, &acks);
}

/* Every worker caches objects of its own. */
static void workers_fill(void)
{
	post_and_wait(&fill_seq, &fills_done);
}

static void workers_start(void)
{
	if (workers_started)
		return;
	for (unsigned i = 0; i < NWORK; i++) {
		workers[i].rng = ks_test_rng(0x100 + i);
		assert_int_equal(pthread_create(&workers[i].t, NULL, worker_main, &workers[i]), 0);
	}
	workers_started = true;
}

/* ---- exhaustion ---------------------------------------------------------- */

/* Allocate blocks until kmalloc says no; free them; the count. */
static unsigned exhaust(void)
{
	unsigned n = 0;
	while (n < MAXBLK && (blocks[n] = kmalloc(BLOCK)) != NULL)
		n++;
	assert_true(n < MAXBLK);   /* the limit was reached */
	for (unsigned i = 0; i < n; i++)
		kfree(blocks[i]);
	return n;
}

static uint64_t reclaims(void)
{
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	return hs.reclaims;
}

static uint64_t owned_spans(unsigned slot)
{
	struct kspan_cpu_stats c;
	kspan_cpu_stats(slot, &c);
	return c.owned_spans;
}

static void check_counts(const char *what, unsigned cached, unsigned drained)
{
	print_message("# %s: %u blocks of 64 KiB with objects cached, %u after a "
	              "drain\n", what, cached, drained);
	assert_true(drained > 100);
	assert_true((uint64_t)cached * 100 >= (uint64_t)drained * 99);
}

static void test_exhaustion_one_cpu(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(__LINE__);
	uint64_t before = heap_free_pages();
	ks_host_set_commit_limit(ks_host_committed() + LIMIT);
	cache_objects(&rng, 8000);
	unsigned me = ks_plat_cpu_id();
	assert_true(owned_spans(me) > 0);
	uint64_t r0 = reclaims();
	unsigned cached = exhaust();
	assert_true(reclaims() > r0);
	kspan_drain_cpu();
	unsigned drained = exhaust();
	ks_host_set_commit_limit(0);
	check_counts("1 CPU", cached, drained);
	assert_int_equal(heap_free_pages(), before);
}

static void test_exhaustion_four_cpus(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(__LINE__);
	workers_start();
	uint64_t before = heap_free_pages();
	ks_host_set_commit_limit(ks_host_committed() + LIMIT);
	workers_fill();
	cache_objects(&rng, 4000);
	for (unsigned i = 0; i < NWORK; i++)
		assert_true(owned_spans(workers[i].slot) > 0);
	unsigned k0 = kicks;
	unsigned cached = exhaust();
	assert_true(kicks > k0);            /* the idle threads were woken */
	for (unsigned i = 0; i < NWORK; i++)
		assert_int_equal(owned_spans(workers[i].slot), 0);
	kick_workers();
	kspan_drain_cpu();
	unsigned drained = exhaust();
	ks_host_set_commit_limit(0);
	check_counts("4 CPUs, 3 of them idle", cached, drained);
	kick_workers();
	assert_int_equal(heap_free_pages(), before);
}

/* ---- shrinkers ------------------------------------------------------------ */

/* A kernel's own cache: kpages blocks it can give back. */
#define HOARD 64
static void *hoard[HOARD];
static unsigned nhoard, shrink_calls, nested_ok, shrink_depth, nested_depth;
static size_t last_want;

static size_t shrink_hoard(void *arg, size_t want)
{
	(void)arg;
	if (nhoard == 0)
		return 0;
	shrink_calls++;
	last_want = want;
	if (shrink_depth++)
		nested_depth++;             /* reclaim must not recurse */
	/* An allocation here: no kspan lock is held (it would deadlock), and
	 * with memory exhausted it fails plainly instead of reclaiming. */
	void *p = kmalloc(BLOCK);
	if (p) {
		nested_ok++;
		kfree(p);
	}
	size_t freed = 0;
	while (nhoard > 0 && freed < want) {
		kpages_free(hoard[--nhoard], 8);
		freed += 8 * KSPAN_PAGE_SIZE;
	}
	shrink_depth--;
	return freed;
}

static void test_shrinker(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	assert_int_equal(kspan_register_shrinker(NULL, NULL), -1);
	assert_int_equal(kspan_register_shrinker(shrink_hoard, NULL), 0);
	ks_host_set_commit_limit(ks_host_committed() + LIMIT);
	/* The kernel's cache takes what it can of memory ... */
	while (nhoard < HOARD && (hoard[nhoard] = kpages_alloc(8)) != NULL)
		nhoard++;
	/* ... and the heap the rest. */
	unsigned n = 0;
	while (n < MAXBLK && (blocks[n] = kmalloc(BLOCK)) != NULL)
		n++;
	unsigned calls = shrink_calls;
	assert_true(calls > 0);            /* asked before a NULL */
	assert_int_equal(nhoard, 0);       /* and it gave everything back */
	assert_true(last_want >= BLOCK);
	assert_int_equal(nested_depth, 0);
	for (unsigned i = 0; i < n; i++)
		kfree(blocks[i]);
	ks_host_set_commit_limit(0);
	print_message("# shrinker: called %u times, %u blocks after it gave %u "
	              "of its own back\n", calls, n, HOARD);
	assert_int_equal(heap_free_pages(), before);
}

/* ---- scavenging only for commits ----------------------------------------- */

#define HOLES 900    /* free committed 1-page runs: 7 MiB, under the threshold */

static void *holes[2 * HOLES];

static struct kspan_heap_stats hstats(void)
{
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	return hs;
}

/* HOLES free committed pages, no two of them next to each other, and
 * nothing else free committed. */
static void make_holes(void)
{
	kspan_scavenge();
	for (unsigned i = 0; i < 2 * HOLES; i++)
		assert_non_null(holes[i] = kpages_alloc(1));
	for (unsigned i = 0; i < 2 * HOLES; i += 2)
		kpages_free(holes[i], 1);
	struct kspan_heap_stats hs = hstats();
	assert_int_equal(hs.pages_committed - (hs.pages_total - hs.pages_free), HOLES);
}

static void free_holes(void)
{
	for (unsigned i = 1; i < 2 * HOLES; i += 2)
		kpages_free(holes[i], 1);
}

/* Make a commit fail on this slot, as a commit limit would. */
static void fail_a_commit(void)
{
	ks_host_set_commit_limit(ks_host_committed());
	assert_int_not_equal(ks_commit((void *)(ks_arena.arena_end - KSPAN_PAGE_SIZE),
	                               KSPAN_PAGE_SIZE), 0);
	ks_host_set_commit_limit(0);
}

static void test_no_free_run_scavenges_nothing(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	make_holes();
	struct kspan_heap_stats h0 = hstats();
	uint64_t r0 = reclaims();
	/* No run of the whole arena is free: the request fails without a
	 * commit, and decommitting the holes could not help it. */
	assert_null(kpages_alloc(TEST_ARENA_BYTES / KSPAN_PAGE_SIZE));
	struct kspan_heap_stats h1 = hstats();
	assert_true(reclaims() > r0);
	assert_int_equal(h1.pages_scavenged_total, h0.pages_scavenged_total);
	assert_int_equal(h1.pages_committed, h0.pages_committed);
	free_holes();
	assert_int_equal(heap_free_pages(), before);
}

static void test_commit_failure_scavenges_what_it_needs(void **state)
{
	(void)state;
	enum { WANT = 128 };
	uint64_t before = heap_free_pages();
	make_holes();
	struct kspan_heap_stats h0 = hstats();
	/* Nothing more can be committed, and no committed free run holds
	 * WANT pages: the request's commit fails, the reclaim decommits
	 * holes for it, and the retry commits fresh pages in their place. */
	ks_host_set_commit_limit(ks_host_committed());
	void *p = kpages_alloc(WANT);
	ks_host_set_commit_limit(0);
	struct kspan_heap_stats h1 = hstats();
	assert_non_null(p);
	uint64_t scav = h1.pages_scavenged_total - h0.pages_scavenged_total;
	print_message("# a failed commit of %u pages decommitted %llu of %u free "
	              "committed pages\n", WANT, (unsigned long long)scav, HOLES);
	assert_true(scav >= WANT);
	assert_true(scav <= WANT + 1 + KS_RECLAIM_SLACK);
	kpages_free(p, WANT);
	free_holes();
	assert_int_equal(heap_free_pages(), before);
}

static void test_reclaim_passes(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	make_holes();
	uint64_t s0 = hstats().pages_scavenged_total;
	/* No commit failed: pass 0 empties the caches and decommits
	 * nothing; a later pass has nothing to do. */
	assert_true(ks_reclaim(KSPAN_PAGE_SIZE, 0));
	assert_int_equal(hstats().pages_scavenged_total, s0);
	assert_false(ks_reclaim(KSPAN_PAGE_SIZE, 1));
	/* A commit failed: the pages wanted and the slack. */
	fail_a_commit();
	assert_true(ks_reclaim(KSPAN_PAGE_SIZE, 0));
	assert_int_equal(hstats().pages_scavenged_total - s0, 1 + 1 + KS_RECLAIM_SLACK);
	/* Another: every free page. */
	fail_a_commit();
	assert_true(ks_reclaim(KSPAN_PAGE_SIZE, 1));
	assert_int_equal(hstats().pages_scavenged_total - s0, HOLES);
	/* A third: nothing more to give. */
	fail_a_commit();
	assert_false(ks_reclaim(KSPAN_PAGE_SIZE, 2));
	/* Each step took the note it acted on. */
	assert_false(ks_commit_failed_take());
	free_holes();
	assert_int_equal(heap_free_pages(), before);
}

static void test_shrinker_table_bounded(void **state)
{
	(void)state;
	/* 16 in all; the one above is registered already. */
	int ok = 0;
	for (int i = 0; i < 20; i++)
		ok += kspan_register_shrinker(shrink_hoard, NULL) == 0;
	assert_int_equal(ok, 15);
}

/* ---- accounting ------------------------------------------------------------ */

static void test_queued_apart_from_inuse(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	enum { N = 5000 };
	static void *p[N];
	for (int i = 0; i < N; i++)
		assert_non_null(p[i] = kmalloc(48));
	/* Everything leaves this CPU; then free without allocating again:
	 * the class is not in use here, so the frees queue. */
	kspan_drain_cpu();
	for (int i = 0; i < 200; i++)
		kfree(p[i]);
	static struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_class_stats(cs);
	unsigned cls = 0;
	for (unsigned c = 1; c < KSPAN_NUM_CLASSES; c++)
		if (cs[c].size == 48)
			cls = c;
	assert_true(cls != 0);
	assert_true(cs[cls].queued > 0);
	assert_int_equal(cs[cls].inuse + cs[cls].queued, N - 200 + cs[cls].queued);
	for (int i = 200; i < N; i++)
		kfree(p[i]);
	assert_int_equal(heap_free_pages(), before);
}

static int setup(void **state)
{
	(void)state;
	struct kspan_config cfg = { .arena_bytes = TEST_ARENA_BYTES,
	                            .scavenge_threshold = 8u << 20,
	                            .seed = ks_test_seed(),
	                            .kick_idle_cpus = kick_workers };
	if (kspan_init(&cfg) != 0)
		return -1;
	ks_host_set_thread_exit_hook(kspan_drain_cpu);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (workers_started) {
		pthread_mutex_lock(&mu);
		quit = true;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		for (unsigned i = 0; i < NWORK; i++)
			pthread_join(workers[i].t, NULL);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queued_apart_from_inuse),
		cmocka_unit_test(test_exhaustion_one_cpu),
		cmocka_unit_test(test_exhaustion_four_cpus),
		cmocka_unit_test(test_shrinker),
		cmocka_unit_test(test_shrinker_table_bounded),
		cmocka_unit_test(test_no_free_run_scavenges_nothing),
		cmocka_unit_test(test_commit_failure_scavenges_what_it_needs),
		cmocka_unit_test(test_reclaim_passes),
	};
	return KS_TEST_MAIN("reclaim", tests, setup, teardown);
}
