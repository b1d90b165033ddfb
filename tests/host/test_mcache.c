/*
 * The per-CPU caches: fast paths that take no lock, the bounded set of
 * spans a CPU owns per class (adopted on free, given back when full),
 * drain, remote frees in batches (delivered, delivered to a CPU that has
 * stopped, pending while the sender idles), flush requests, bulk calls,
 * and double frees on every path.  Threads stand in for CPUs: each worker
 * is a thread with a CPU slot of its own, driven step by step from the
 * test, so the interleavings are the test's, not the scheduler's.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "arch/host/platform.h"
#include "mm/mcache.h"
#include "mm/mspan.h"
#include "mm/arena.h"
#include "mm/mremote.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

/* ---- workers: a thread that runs the steps it is given ------------------ */

struct worker {
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*step)(struct worker *w, void *arg);
	void *arg;
	int busy, quit;
	unsigned slot;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->slot = ks_plat_cpu_id();
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->busy && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->busy) {
			pthread_mutex_unlock(&w->mu);
			w->step(w, w->arg);
			pthread_mutex_lock(&w->mu);
			w->busy = 0;
			pthread_cond_broadcast(&w->cv);
			continue;
		}
		break;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;   /* the thread's exit drains its cache (heap fixture) */
}

static void step_noop(struct worker *w, void *arg);

static void worker_do(struct worker *w, void (*fn)(struct worker *, void *), void *arg);

static void worker_start(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_create(&w->t, NULL, worker_main, w);
	worker_do(w, step_noop, NULL);   /* it has its slot now */
}

/* Run fn(w, arg) on the worker and wait for it. */
static void worker_do(struct worker *w, void (*fn)(struct worker *, void *), void *arg)
{
	pthread_mutex_lock(&w->mu);
	w->step = fn;
	w->arg = arg;
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

static void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->t, NULL);
}

static void step_noop(struct worker *w, void *arg)
{
	(void)w;
	(void)arg;
}

static struct kspan_cpu_stats cpu_stats(unsigned slot)
{
	struct kspan_cpu_stats s;
	kspan_cpu_stats(slot, &s);
	return s;
}

static struct mspan *span_of(const void *p)
{
	return spanof((uintptr_t)p);
}

/* ---- one CPU ------------------------------------------------------------- */

static void test_fast_paths_take_no_lock(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	unsigned me = ks_plat_cpu_id();
	void *warm = kmalloc(48);
	struct kspan_cpu_stats s0 = cpu_stats(me);
	for (int i = 0; i < 100000; i++)
		kfree(kmalloc(48));
	struct kspan_cpu_stats s1 = cpu_stats(me);
	/* Allocations take from the allocation cache, frees set free bits
	 * (mm/mspan.h): a slow path only when the cache ran dry, and then it
	 * takes a whole word of the span, whose objects are all free but
	 * warm.  The smallest word is the last, nelems % 64 objects. */
	const struct mspan *sp = span_of(warm);
	uint64_t least = sp->nelems % 64 ? sp->nelems % 64 : 64;
	assert_true(least > 2);
	assert_in_range(s1.slow_allocs - s0.slow_allocs, 0, 100000 / (least - 2) + 1);
	assert_int_equal(s1.refills - s0.refills, 0);
	assert_int_equal(s1.locked_frees - s0.locked_frees, 0);
	assert_int_equal(s1.queued_frees - s0.queued_frees, 0);
	kfree(warm);
	assert_int_equal(heap_free_pages(), before);
}

/* A nearly full span: its last free objects serve alloc+free pairs with
 * no slow path (the cache takes back its word's frees in the fast path,
 * and a sparse word is allocated from directly). */
static void test_sparse_word_stays_fast(void **state)
{
	(void)state;
	static void *keep[4096];
	unsigned n = 0;
	unsigned me = ks_plat_cpu_id();
	const struct mspan *s;
	do {
		assert_true(n < 4096);
		keep[n] = kmalloc(176);
		s = span_of(keep[n++]);
	} while (mspan_count_bits(s) > 3);
	struct kspan_cpu_stats s0 = cpu_stats(me);
	for (int i = 0; i < 10000; i++) {
		void *p = kmalloc(176);
		assert_ptr_equal(span_of(p), s);
		kfree(p);
	}
	struct kspan_cpu_stats s1 = cpu_stats(me);
	assert_in_range(s1.slow_allocs - s0.slow_allocs, 0, 2);
	while (n)
		kfree(keep[--n]);
}

/* The bound on the spans a CPU owns of a class of nelems objects in spans
 * of npages pages: room for KS_OWN_OBJECTS objects in at most KS_OWN_BYTES
 * of spans, between KS_OWN_MIN and KS_OWN_MAX spans. */
static unsigned own_bound(unsigned npages, unsigned nelems)
{
	uintptr_t n = KS_OWN_BYTES / ((uintptr_t)npages * KS_PAGE_SIZE);
	if (KS_OWN_OBJECTS / nelems < n)
		n = KS_OWN_OBJECTS / nelems;
	return n < KS_OWN_MIN ? KS_OWN_MIN : n > KS_OWN_MAX ? KS_OWN_MAX : (unsigned)n;
}

/* The kmalloc class whose bound on owned spans is the largest. */
static unsigned most_owned_class(void)
{
	unsigned best = 1;
	for (unsigned c = 2; c < KS_NUM_SIZE_CLASSES; c++)
		if (own_bound(ks_class_to_npages[c], ks_class_to_nelems[c]) >
		    own_bound(ks_class_to_npages[best], ks_class_to_nelems[best]))
			best = c;
	return best;
}

/* Objects of one class, more spans of them than a CPU may own. */
static void check_owned_spans_bounded(size_t size)
{
	uint64_t before = heap_free_pages();
	unsigned me = ks_plat_cpu_id();
	unsigned cls = ks_size_to_class(size);
	unsigned npages = ks_class_to_npages[cls];
	unsigned per = npages * KS_PAGE_SIZE / ks_class_to_size[cls], n;
	unsigned bound = own_bound(npages, per);
	n = per * 3 * bound;
	print_message("# %zu B objects, spans of %u pages: %u spans owned at most\n",
	              size, npages, bound);
	void **p = calloc(n, sizeof(void *));
	uint64_t rng = ks_test_rng(__LINE__ + size);
	for (unsigned i = 0; i < n; i++) {
		p[i] = kmalloc(size);
		assert_non_null(p[i]);
		assert_true(cpu_stats(me).owned_spans <= bound);
	}
	/* Full spans stay owned up to the bound; the rest left the CPU. */
	assert_int_equal(cpu_stats(me).owned_spans, bound);
	/* Give them all back, then allocate once (the class is in use
	 * again, one span owned) and free in random order: frees into
	 * unowned spans take them over while the set has room, are queued
	 * after that. */
	kspan_drain_cpu();
	assert_int_equal(cpu_stats(me).owned_spans, 0);
	void *one = kmalloc(size);
	assert_non_null(one);
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(ks_test_rand(&rng) % (i + 1));
		void *t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	struct kspan_cpu_stats s0 = cpu_stats(me);
	for (unsigned i = 0; i < n; i++) {
		kfree(p[i]);
		assert_true(cpu_stats(me).owned_spans <= bound);
	}
	struct kspan_cpu_stats s1 = cpu_stats(me);
	assert_true(s1.adoptions > s0.adoptions);
	assert_true(s1.queued_frees > s0.queued_frees);
	kfree(one);
	free(p);
	kspan_drain_cpu();
	struct kspan_cpu_stats s2 = cpu_stats(me);
	assert_int_equal(s2.owned_spans, 0);
	assert_int_equal(s2.queued_objects, 0);
	assert_int_equal(heap_free_pages(), before);
}

static void test_owned_spans_bounded(void **state)
{
	(void)state;
	/* Many objects a span (the fewest spans), the class that may own
	 * the most, a class of two pages a span, and the largest class. */
	check_owned_spans_bounded(64);
	check_owned_spans_bounded(ks_class_to_size[most_owned_class()]);
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++)
		if (ks_class_to_npages[cls] == 2) {
			check_owned_spans_bounded(ks_class_to_size[cls]);
			break;
		}
	check_owned_spans_bounded(KS_MAX_SMALL_SIZE);
	assert_int_equal(own_bound(1, 128), KS_OWN_MIN);
	assert_int_equal(own_bound(1, 8), KS_OWN_MAX);
	assert_int_equal(own_bound(64, 1), KS_OWN_MIN);
}

/* A new cur comes from the owned spans, KS_SCAN_MAX of them a look, round
 * robin: with every owned span but one full, the one with a free object is
 * found wherever it is (the look goes on past KS_SCAN_MAX full spans), and
 * no span comes from mcentral meanwhile. */
static void test_take_partial_round_robin(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	unsigned me = ks_plat_cpu_id();
	unsigned cls = most_owned_class();
	size_t SIZE = ks_class_to_size[cls];
	unsigned per = ks_class_to_nelems[cls];
	unsigned bound = own_bound(ks_class_to_npages[cls], per), n = per * bound;
	assert_true(bound > KS_SCAN_MAX);   /* a look may go past KS_SCAN_MAX */
	void **p = calloc(n, sizeof(void *));
	for (unsigned i = 0; i < n; i++)
		assert_non_null(p[i] = kmalloc(SIZE));
	assert_int_equal(cpu_stats(me).owned_spans, bound);
	uint64_t rng = ks_test_rng(__LINE__);
	/* Free one object in a seeded span: the next allocation must reuse
	 * it from the owned spans, with no span from mcentral. */
	for (int round = 0; round < 200; round++) {
		unsigned i = (unsigned)(ks_test_rand(&rng) % n);
		void *old = p[i];
		kfree(old);
		struct kspan_cpu_stats s0 = cpu_stats(me);
		p[i] = kmalloc(SIZE);
		struct kspan_cpu_stats s1 = cpu_stats(me);
		assert_ptr_equal(p[i], old);
		assert_int_equal(s1.refills, s0.refills);
		/* The full cur leaves when the set is at its bound; a free
		 * into it takes it back. */
		assert_true(s1.owned_spans >= bound - 1);
	}
	for (unsigned i = 0; i < n; i++)
		kfree(p[i]);
	free(p);
	kspan_drain_cpu();
	assert_int_equal(heap_free_pages(), before);
}

static void test_bulk(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	enum { N = 3000 };
	static void *p[N];
	static const size_t sizes[] = { 8, 48, 200, 1000, 5000, 40000 };
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k] > 30000 ? 50 : N;
		assert_int_equal(kmalloc_bulk(sizes[k], n, p), n);
		for (size_t i = 0; i < n; i++) {
			assert_non_null(p[i]);
			assert_true(ksize(p[i]) >= sizes[k]);
			fill_pattern(p[i], sizes[k], i ^ k);
		}
		for (size_t i = 0; i < n; i++)
			assert_true(check_pattern(p[i], sizes[k], i ^ k));
		/* Free half one by one, the rest in bulk. */
		for (size_t i = 0; i < n; i += 2)
			kfree(p[i]);
		for (size_t i = 1, j = 0; i < n; i += 2)
			p[j++] = p[i];
		kfree_bulk(n / 2, p);
	}
	assert_int_equal(kmalloc_bulk(64, 0, p), 0);
	kfree_bulk(0, p);
	assert_int_equal(heap_free_pages(), before);
}

static void test_bulk_all_or_nothing(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	size_t committed = ks_host_committed();
	ks_host_set_commit_limit(committed + (2u << 20));
	static void *p[100000];
	/* 100000 objects of 1 KiB do not fit in 2 MiB: none are kept. */
	assert_int_equal(kmalloc_bulk(1024, 100000, p), 0);
	ks_host_set_commit_limit(0);
	assert_int_equal(heap_free_pages(), before);
}

/* ---- two CPUs -------------------------------------------------------------- */

struct remote_ctx {
	void *obj[200];
	unsigned n;
	size_t size;
	void *other[400];      /* allocated on the way, not in an owned span */
	unsigned nother;
};

static void step_alloc(struct worker *w, void *arg)
{
	(void)w;
	struct remote_ctx *r = arg;
	for (unsigned i = 0; i < r->n; i++) {
		r->obj[i] = kmalloc(r->size);
		assert_non_null(r->obj[i]);
	}
}

/* Allocate r->n objects that lie in spans this CPU owns (the others, in
 * spans that filled up and left it on the way, go to r->other). */
static void step_alloc_owned(struct worker *w, void *arg)
{
	struct remote_ctx *r = arg;
	unsigned got = 0;
	while (got < r->n) {
		void *p = kmalloc(r->size);
		assert_non_null(p);
		r->obj[got++] = p;
		if (got == r->n)
			for (unsigned i = 0; i < got; i++)
				if (spanof((uintptr_t)r->obj[i])->owner != (int)w->slot) {
					assert_true(r->nother < 400);
					r->other[r->nother++] = r->obj[i];
					r->obj[i] = r->obj[--got];
					i--;
				}
	}
}

static void step_free_other(struct worker *w, void *arg)
{
	(void)w;
	struct remote_ctx *r = arg;
	for (unsigned i = 0; i < r->nother; i++)
		kfree(r->other[i]);
	r->nother = 0;
}

static void step_free(struct worker *w, void *arg)
{
	(void)w;
	struct remote_ctx *r = arg;
	for (unsigned i = 0; i < r->n; i++)
		kfree(r->obj[i]);
}

static void step_drain(struct worker *w, void *arg)
{
	(void)w;
	(void)arg;
	kspan_drain_cpu();
}

/* Allocate until the slow path runs (it folds in what was sent). */
static void step_churn(struct worker *w, void *arg)
{
	(void)w;
	struct remote_ctx *r = arg;
	void *tmp[512];
	for (unsigned i = 0; i < 512; i++)
		tmp[i] = kmalloc(r->size);
	for (unsigned i = 0; i < 512; i++)
		kfree(tmp[i]);
}

/* Two workers, each with a cache of its own already. */
static void start_two_warm(struct worker *a, struct worker *b)
{
	worker_start(a);
	worker_start(b);
	worker_do(a, step_noop, NULL);
	worker_do(b, step_noop, NULL);
}

static void test_remote_batches(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct worker a, b;
	start_two_warm(&a, &b);
	/* 60 objects in spans A owns, freed by B: remote frees. */
	static struct remote_ctx r = { .n = 60, .size = 112 };
	worker_do(&a, step_alloc_owned, &r);
	for (unsigned i = 0; i < r.n; i++)
		assert_int_equal(span_of(r.obj[i])->owner, (int)a.slot);
	struct kspan_cpu_stats b0 = cpu_stats(b.slot), a0 = cpu_stats(a.slot);
	worker_do(&b, step_free, &r);    /* 60 < one batch: still B's */
	struct kspan_cpu_stats b1 = cpu_stats(b.slot);
	assert_int_equal(b1.remote_frees - b0.remote_frees, 60);
	assert_int_equal(b1.remote_batches - b0.remote_batches, 0);
	assert_int_equal(b1.locked_frees - b0.locked_frees, 0);
	/* The sender drains (as a CPU does before it idles): the batch goes. */
	worker_do(&b, step_drain, NULL);
	assert_int_equal(cpu_stats(b.slot).remote_batches - b0.remote_batches, 1);
	worker_do(&a, step_churn, &r);
	assert_int_equal(cpu_stats(a.slot).received_frees - a0.received_frees, 60);
	/* A full batch goes at once: a batch's worth of objects in A's
	 * spans, sent with one atomic. */
	static struct remote_ctx r2 = { .n = KS_RBATCH_OBJS, .size = 48 };
	worker_do(&a, step_alloc_owned, &r2);
	b0 = cpu_stats(b.slot);
	worker_do(&b, step_free, &r2);
	b1 = cpu_stats(b.slot);
	assert_int_equal(b1.remote_frees - b0.remote_frees, KS_RBATCH_OBJS);
	assert_int_equal(b1.remote_batches - b0.remote_batches, 1);
	worker_do(&a, step_free_other, &r);
	worker_do(&a, step_free_other, &r2);
	worker_stop(&a);
	worker_stop(&b);
	assert_int_equal(heap_free_pages(), before);
}

/* Producer and consumer: A allocates, B frees, so every batch goes one
 * way.  A folds each in and gives it back to B (B's returned stack), so
 * after the first round no batch is taken from the pool (its lock), and
 * B reuses the same ones round after round. */
static void test_remote_batches_go_back(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct worker a, b;
	start_two_warm(&a, &b);
	static struct remote_ctx r = { .n = 3 * KS_RBATCH_OBJS, .size = 64 };
	size_t pool0 = 0;
	for (unsigned round = 0; round < 20; round++) {
		worker_do(&a, step_alloc_owned, &r);
		struct kspan_cpu_stats b0 = cpu_stats(b.slot);
		worker_do(&b, step_free, &r);      /* 3 full batches, sent */
		assert_int_equal(cpu_stats(b.slot).remote_batches - b0.remote_batches, 3);
		worker_do(&a, step_churn, &r);     /* A folds them in */
		assert_null(__atomic_load_n(&ks_mcache_real[a.slot]->inbox, __ATOMIC_RELAXED));
		assert_non_null(__atomic_load_n(&ks_mcache_real[b.slot]->returned, __ATOMIC_RELAXED));
		assert_int_equal(ks_mcache_real[a.slot]->nspare, 0);   /* none kept */
		if (round == 0)
			pool0 = remote_pool_batches();
		assert_int_equal(remote_pool_batches(), pool0);
		worker_do(&a, step_free_other, &r);
	}
	worker_stop(&a);
	worker_stop(&b);
	assert_int_equal(heap_free_pages(), before);
}

/* ks_host_switch_slot (the fuzz harnesses' second CPU): the calling
 * thread runs on a parked thread's slot, its spans owned by that slot and
 * its frees there fast ones, then switches back; an unclaimed slot stops
 * the process. */
static void switch_to_unclaimed(void *arg)
{
	(void)arg;
	ks_host_switch_slot(KSPAN_MAX_CPUS - 2);
}

static void test_switch_slot(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct worker a;
	worker_start(&a);   /* parked from here on */
	unsigned own = ks_plat_cpu_id();
	assert_int_not_equal(own, a.slot);
	assert_int_equal(ks_host_switch_slot(a.slot), own);
	assert_int_equal(ks_plat_cpu_id(), a.slot);
	assert_int_equal(ks_plat_own_slot(), a.slot);
	struct kspan_cpu_stats s0 = cpu_stats(a.slot);
	void *p[40];
	for (unsigned i = 0; i < 40; i++) {
		p[i] = kmalloc(80);
		assert_non_null(p[i]);
		assert_int_equal(span_of(p[i])->owner, (int)a.slot);
	}
	for (unsigned i = 0; i < 40; i++)
		kfree(p[i]);
	struct kspan_cpu_stats s1 = cpu_stats(a.slot);
	assert_int_equal(s1.remote_frees - s0.remote_frees, 0);
	assert_int_equal(s1.locked_frees - s0.locked_frees, 0);
	kspan_drain_cpu();   /* slot a's caches, as its thread would */
	assert_int_equal(ks_host_switch_slot(own), a.slot);
	assert_int_equal(ks_plat_cpu_id(), own);
	worker_stop(&a);
	assert_int_equal(heap_free_pages(), before);
	ks_expect_abort(switch_to_unclaimed, NULL, "not a claimed CPU slot");
}

/* The owner stops (its thread exits: drain and park) while another CPU
 * holds a batch for it: that CPU frees them itself when it sends. */
static void test_remote_batch_to_stopped_cpu(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct worker a, b;
	worker_start(&a);
	worker_start(&b);
	static struct remote_ctx r = { .n = 40, .size = 96 };
	worker_do(&a, step_alloc_owned, &r);
	worker_do(&a, step_free_other, &r);
	uint64_t sent = cpu_stats(b.slot).remote_batches;
	worker_do(&b, step_free, &r);    /* pending in B's batch for A */
	assert_int_equal(cpu_stats(b.slot).remote_batches, sent);
	worker_stop(&a);                 /* A drains and parks */
	worker_do(&b, step_drain, NULL); /* B sends: A is parked */
	worker_stop(&b);
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	assert_int_equal(hs.remote_pending, 0);
	assert_int_equal(heap_free_pages(), before);
}

/* A CPU that idles (here: blocks, touching nothing) with a batch pending
 * and spans cached: a flush request is served by its next allocation. */
static void test_flush_request(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct worker a, b;
	worker_start(&a);
	worker_start(&b);
	static struct remote_ctx r = { .n = 30, .size = 256 };
	worker_do(&a, step_alloc_owned, &r);
	worker_do(&a, step_free_other, &r);
	worker_do(&b, step_free, &r);     /* B: a batch pending for A */
	static struct remote_ctx keep = { .n = 10, .size = 512 };
	worker_do(&b, step_alloc, &keep); /* B: spans cached */
	assert_true(cpu_stats(b.slot).owned_spans > 0);
	uint64_t f0 = cpu_stats(b.slot).flushes;
	mcache_request_flush((int)ks_plat_cpu_id());
	static struct remote_ctx one = { .n = 1, .size = 16 };
	worker_do(&b, step_alloc, &one);  /* its next allocation serves it */
	assert_int_equal(cpu_stats(b.slot).flushes - f0, 1);
	worker_do(&b, step_free, &one);
	worker_do(&b, step_free, &keep);
	worker_stop(&a);
	worker_stop(&b);
	assert_int_equal(heap_free_pages(), before);
}

/* ---- double frees on every path ----------------------------------------- */

static void df_owner(void *arg)
{
	(void)arg;
	void *keep = kmalloc(40), *p = kmalloc(40);
	(void)keep;
	kfree(p);
	kfree(p);       /* the fast path finds the bit set */
}

static struct remote_ctx df;

static void step_free_twice(struct worker *w, void *arg)
{
	(void)w;
	(void)arg;
	kfree(df.obj[0]);
	kfree(df.obj[0]);
}

static void df_remote_batch(void *arg)
{
	(void)arg;
	struct worker a, b;
	worker_start(&a);
	worker_start(&b);
	df = (struct remote_ctx){ .n = 2, .size = 80 };
	worker_do(&a, step_alloc_owned, &df);
	worker_do(&b, step_free_twice, NULL);   /* both into B's open batch */
}

static void step_free_first(struct worker *w, void *arg)
{
	(void)w;
	(void)arg;
	kfree(df.obj[0]);
}

static void df_remote_then_local(void *arg)
{
	(void)arg;
	struct worker a, b;
	worker_start(&a);
	worker_start(&b);
	df = (struct remote_ctx){ .n = 2, .size = 80 };
	worker_do(&a, step_alloc_owned, &df);
	worker_do(&b, step_free_first, NULL);   /* on its way to A */
	worker_do(&a, step_free_first, NULL);   /* A frees it again */
}

static void df_delivered_twice(void *arg)
{
	(void)arg;
	struct worker a, b, c;
	worker_start(&a);
	worker_start(&b);
	worker_start(&c);
	df = (struct remote_ctx){ .n = 2, .size = 80 };
	worker_do(&a, step_alloc_owned, &df);
	worker_do(&b, step_free_first, NULL);
	worker_do(&b, step_drain, NULL);        /* sent */
	worker_do(&c, step_free_first, NULL);
	worker_do(&c, step_drain, NULL);        /* sent again */
	df.size = 80;
	worker_do(&a, step_churn, &df);         /* A folds both in */
}

static void df_queued(void *arg)
{
	(void)arg;
	/* Objects of a class this thread never allocates: its frees of
	 * them are queued, not taken over. */
	struct worker a;
	worker_start(&a);
	df = (struct remote_ctx){ .n = 80, .size = 144 };
	worker_do(&a, step_alloc, &df);         /* 56 a span: one full span */
	worker_stop(&a);                        /* A's spans are unowned now */
	kfree(df.obj[3]);
	kfree(df.obj[3]);
}

/* A free object of p's span that its owner's allocation cache holds (it
 * was never handed out since the cache took its word): NULL if none. */
static void *cached_object(const void *p)
{
	const struct mspan *s = span_of(p);
	uint64_t c = s->cachebits[s->curword];
	if (!c)
		return NULL;
	uint32_t pos = (uint32_t)s->curword * 64 + (uint32_t)__builtin_ctzll(c);
	return (void *)(s->base + (uintptr_t)mspan_posobj(s, pos) * s->elemsize);
}

static void df_cached(void *arg)
{
	(void)arg;
	void *p = kmalloc(40), *q = cached_object(p);
	assert_non_null(q);
	kfree(q);       /* free already: in the cache, not in the free bits */
}

static void df_bulk_cached(void *arg)
{
	(void)arg;
	void *p[4];
	assert_int_equal(kmalloc_bulk(40, 3, p), 3);
	p[3] = cached_object(p[2]);
	assert_non_null(p[3]);
	kfree_bulk(4, p);
}

static void step_alloc_one(struct worker *w, void *arg)
{
	(void)w;
	void **out = arg;
	out[0] = kmalloc(80);
	out[1] = cached_object(out[0]);
}

static void df_remote_cached(void *arg)
{
	(void)arg;
	struct worker a, b;
	worker_start(&a);
	worker_start(&b);
	static void *pq[2];
	worker_do(&a, step_alloc_one, pq);
	assert_non_null(pq[1]);
	df = (struct remote_ctx){ .n = 1, .size = 80, .obj = { pq[1] } };
	worker_do(&b, step_free_first, NULL);   /* in A's cache: sent to A */
	worker_do(&b, step_drain, NULL);
	worker_do(&a, step_churn, &df);         /* A folds it in */
}

static void df_bulk(void *arg)
{
	(void)arg;
	void *p[8];
	kmalloc_bulk(32, 8, p);
	p[5] = p[2];
	kfree_bulk(8, p);
}

static void test_double_frees(void **state)
{
	(void)state;
	ks_expect_abort(df_owner, NULL, "double free");
	ks_expect_abort(df_remote_batch, NULL, "double free");
	ks_expect_abort(df_remote_then_local, NULL, "double free");
	ks_expect_abort(df_delivered_twice, NULL, "double free");
	ks_expect_abort(df_queued, NULL, "double free");
	ks_expect_abort(df_bulk, NULL, "double free");
	ks_expect_abort(df_cached, NULL, "double free");
	ks_expect_abort(df_bulk_cached, NULL, "double free");
	ks_expect_abort(df_remote_cached, NULL, "double free");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_paths_take_no_lock),
		cmocka_unit_test(test_sparse_word_stays_fast),
		cmocka_unit_test(test_owned_spans_bounded),
		cmocka_unit_test(test_take_partial_round_robin),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_bulk_all_or_nothing),
		cmocka_unit_test(test_remote_batches),
		cmocka_unit_test(test_remote_batches_go_back),
		cmocka_unit_test(test_remote_batch_to_stopped_cpu),
		cmocka_unit_test(test_switch_slot),
		cmocka_unit_test(test_flush_request),
		cmocka_unit_test(test_double_frees),
	};
	return KS_TEST_MAIN("mcache", tests, heap_fixture_setup, NULL);
}
