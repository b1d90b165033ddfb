/*
 * Object caches (include/kspan/slab.h, mm/slab.c) and the rest of the
 * kmalloc family: geometry (exact sizes, alignment, tail waste), the fast
 * path, constructors (once per object, kept over reuse, over queued and
 * remote frees too), kfree and ksize of cache objects, bulk calls, shrink
 * and the memory-pressure drain, destroy (every span back; leaks reported
 * then a stop), misuse stopped with a message naming the caches, poison
 * and red zones per cache, threads freeing each other's objects, slot
 * exhaustion, and a seeded random mix against a shadow.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static struct kspan_slab_stats stats_of(struct kmem_cache *c)
{
	struct kspan_slab_stats s;
	kmem_cache_stats(c, &s);
	return s;
}

/* ---- geometry ------------------------------------------------------------- */

static void test_geometry(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(1);
	for (int i = 0; i < 300; i++) {
		size_t size = i < 100 ? (size_t)i + 1 : 1 + ks_test_rand(&rng) % KSPAN_SLAB_MAX_SIZE;
		size_t align = (size_t)1 << (ks_test_rand(&rng) % 8);   /* 1 .. 128 */
		unsigned flags = ks_test_rand(&rng) % 4 == 0 ? KSPAN_SLAB_HWCACHE_ALIGN : 0;
		struct kmem_cache *c = kmem_cache_create("geometry", size, align, flags, NULL);
		assert_non_null(c);
		assert_int_equal(kmem_cache_size(c), size);
		struct kspan_slab_stats s = stats_of(c);
		size_t a = align < 8 ? 8 : align;
		if (flags && a < 64)
			a = 64;
		/* Exact size, rounded only to the alignment. */
		assert_int_equal(s.elemsize, (size + a - 1) / a * a);
		size_t span = (size_t)s.pages_per_span * KSPAN_PAGE_SIZE;
		assert_int_equal(s.objs_per_span, span / s.elemsize);
		assert_true((span - (size_t)s.objs_per_span * s.elemsize) * 8 <= span);
		void *p = kmem_cache_alloc(c);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % a, 0);
		memset(p, 0x5a, size);
		kmem_cache_free(c, p);
		kmem_cache_destroy(c);
	}
}

/* Every size (every 8th beyond 4 KiB; each alignment step): tail waste
 * of 1/8 or less, a batch a span (min(32, 64 KiB / size) objects, as the
 * size classes), objects exactly their size rounded to 8. */
static void test_geometry_sweep(void **state)
{
	(void)state;
	for (size_t size = 1; size <= KSPAN_SLAB_MAX_SIZE; size += size < 4096 ? 1 : 8) {
		struct kmem_cache *c = kmem_cache_create("sweep", size, 0, 0, NULL);
		assert_non_null(c);
		struct kspan_slab_stats s = stats_of(c);
		size_t span = (size_t)s.pages_per_span * KSPAN_PAGE_SIZE;
		size_t batch = 65536 / s.elemsize > 32 ? 32 : 65536 / s.elemsize;
		if (batch < 1)
			batch = 1;
		if (s.elemsize != (size + 7) / 8 * 8 || s.objs_per_span != span / s.elemsize ||
		    (span - (size_t)s.objs_per_span * s.elemsize) * 8 > span ||
		    s.objs_per_span < batch)
			fail_msg("size %zu: elemsize %u, %u objects in %u pages", size,
			         s.elemsize, s.objs_per_span, s.pages_per_span);
		kmem_cache_destroy(c);
	}
}

static void test_create_errors(void **state)
{
	(void)state;
	assert_null(kmem_cache_create("zero", 0, 0, 0, NULL));
	assert_null(kmem_cache_create("huge", KSPAN_SLAB_MAX_SIZE + 1, 0, 0, NULL));
	assert_null(kmem_cache_create("align", 64, 24, 0, NULL));
	assert_null(kmem_cache_create("align", 64, 2 * KSPAN_PAGE_SIZE, 0, NULL));
	assert_null(kmem_cache_create("flags", 64, 0, 0x100, NULL));
	struct kmem_cache *c = kmem_cache_create(NULL, 64, 0, 0, NULL);
	assert_non_null(c);
	kmem_cache_destroy(c);
	kmem_cache_destroy(NULL);
}

static void create_panic(void *arg)
{
	(void)arg;
	kmem_cache_create("broken", 0, 0, KSPAN_SLAB_PANIC, NULL);
}

static void test_create_panic(void **state)
{
	(void)state;
	ks_expect_abort(create_panic, NULL, "kmem_cache_create(\"broken\", 0, 0): size");
}

static void test_slots_run_out(void **state)
{
	(void)state;
	static struct kmem_cache *c[KSPAN_SLAB_MAX_CACHES];
	size_t live = kspan_slab_stats(NULL, 0), n = 0;
	while (n < KSPAN_SLAB_MAX_CACHES - live)
		assert_non_null(c[n++] = kmem_cache_create("slot", 32, 0, 0, NULL));
	assert_null(kmem_cache_create("one too many", 32, 0, 0, NULL));
	assert_int_equal(kspan_slab_stats(NULL, 0), KSPAN_SLAB_MAX_CACHES);
	while (n)
		kmem_cache_destroy(c[--n]);
	assert_int_equal(kspan_slab_stats(NULL, 0), live);
}

/* ---- allocation and free ------------------------------------------------------ */

#define NOBJ 3000

static void test_alloc_free(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct kmem_cache *c = kmem_cache_create("inode", 600, 0, 0, NULL);
	static void *p[NOBJ];
	for (int i = 0; i < NOBJ; i++) {
		assert_non_null(p[i] = kmem_cache_alloc(c));
		fill_pattern(p[i], 600, (uint64_t)i);
	}
	struct kspan_slab_stats s = stats_of(c);
	assert_int_equal(s.active_objs, NOBJ);
	assert_true(s.total_objs >= NOBJ && s.total_objs < NOBJ + 2 * s.objs_per_span * 8);
	assert_true(s.fast_allocs + s.slow_allocs >= NOBJ / 2);
	for (int i = 0; i < NOBJ; i++) {
		assert_true(check_pattern(p[i], 600, (uint64_t)i));
		assert_int_equal(ksize(p[i]), 600);
		if (i % 2)
			kfree(p[i]);           /* kfree of a cache object works */
		else
			kmem_cache_free(c, p[i]);
	}
	assert_int_equal(stats_of(c).active_objs, 0);
	kmem_cache_free(c, NULL);
	kmem_cache_destroy(c);
	/* Destroying an empty cache gives every span back. */
	assert_int_equal(heap_free_pages(), before);
}

static void test_zalloc(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("zeroed", 200, 0, 0, NULL);
	for (int round = 0; round < 3; round++) {
		void *p[64];
		for (int i = 0; i < 64; i++) {
			p[i] = kmem_cache_zalloc(c);
			for (int b = 0; b < 200; b++)
				assert_int_equal(((unsigned char *)p[i])[b], 0);
			memset(p[i], 0xff, 200);
		}
		for (int i = 0; i < 64; i++)
			kmem_cache_free(c, p[i]);
	}
	kmem_cache_destroy(c);
}

static void test_bulk(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("bulk", 72, 8, 0, NULL);
	static void *p[1000];
	for (int round = 0; round < 4; round++) {
		assert_int_equal(kmem_cache_alloc_bulk(c, 1000, p), 1000);
		for (int i = 0; i < 1000; i++)
			fill_pattern(p[i], 72, (uint64_t)i + 7);
		for (int i = 0; i < 1000; i++)
			assert_true(check_pattern(p[i], 72, (uint64_t)i + 7));
		kmem_cache_free_bulk(c, 1000, p);
	}
	assert_int_equal(kmem_cache_alloc_bulk(c, 0, p), 0);
	assert_int_equal(stats_of(c).active_objs, 0);
	kmem_cache_destroy(c);
}

/* ---- constructors ------------------------------------------------------------- */

struct task {
	uint64_t magic;      /* first word: what queue tags would overwrite */
	uint32_t refs;
	char pad[52];
};
#define TASK_MAGIC 0x7461736b6f626a31ull
static long ctor_calls;

static void task_ctor(void *obj)
{
	struct task *t = obj;
	t->magic = TASK_MAGIC;
	t->refs = 0;
	__atomic_fetch_add(&ctor_calls, 1, __ATOMIC_RELAXED);
}

static void test_ctor_once(void **state)
{
	(void)state;
	ctor_calls = 0;
	struct kmem_cache *c = kmem_cache_create("task", sizeof(struct task), 0, 0, task_ctor);
	static void *p[NOBJ];
	/* Fewer objects than a span holds, many times: one span, carved once. */
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 50; i++) {
			struct task *t = p[i] = kmem_cache_alloc(c);
			assert_int_equal(t->magic, TASK_MAGIC);
			assert_int_equal(t->refs, 0);
			t->refs = 1;
			t->refs = 0;   /* back in its constructed state */
		}
		for (int i = 0; i < 50; i++)
			kmem_cache_free(c, p[i]);
	}
	struct kspan_slab_stats s = stats_of(c);
	assert_int_equal(s.spans, 1);
	assert_int_equal(ctor_calls, s.objs_per_span);
	/* Many spans, frees in a scrambled order (queued, crossing spans):
	 * every span's objects constructed once when it was carved, and a
	 * reused object keeps its state. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < NOBJ; i++) {
			struct task *t = p[i] = kmem_cache_alloc(c);
			assert_int_equal(t->magic, TASK_MAGIC);
			assert_int_equal(t->refs, 0);
		}
		for (int i = 0; i < NOBJ; i++)
			kmem_cache_free(c, p[(i * 7) % NOBJ]);
		if (round == 2)
			kspan_drain_cpu();
	}
	s = stats_of(c);
	assert_true(ctor_calls >= (long)s.total_objs);
	assert_int_equal(ctor_calls % s.objs_per_span, 0);
	kmem_cache_destroy(c);
}

static void zalloc_ctor(void *arg)
{
	struct kmem_cache *c = kmem_cache_create("ctor-cache", 64, 0, 0, task_ctor);
	(void)arg;
	kmem_cache_zalloc(c);
}

static void test_zalloc_with_ctor(void **state)
{
	(void)state;
	ks_expect_abort(zalloc_ctor, NULL, "kmem_cache_zalloc(cache \"ctor-cache\"): the cache has a constructor");
}

/* ---- threads ----------------------------------------------------------------------- */

#define NTHREADS 4
#define PER_THREAD 4000

struct xfer {
	struct kmem_cache *c;
	void **mine;          /* allocated by this thread */
	void **theirs;        /* allocated by the next thread: freed here */
	pthread_barrier_t *bar;
	uint64_t seed;
};

static void *xfer_thread(void *arg)
{
	struct xfer *x = arg;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < PER_THREAD; i++) {
			struct task *t = x->mine[i] = kmem_cache_alloc(x->c);
			if (!t || t->magic != TASK_MAGIC)
				abort();
			fill_pattern(&t->pad, sizeof(t->pad), x->seed + (uint64_t)i);
		}
		pthread_barrier_wait(x->bar);
		for (int i = 0; i < PER_THREAD; i++) {
			struct task *t = x->theirs[i];
			if (t->magic != TASK_MAGIC)
				abort();
			if (i % 3 == 0)
				kfree(t);
			else
				kmem_cache_free(x->c, t);
		}
		pthread_barrier_wait(x->bar);
	}
	return NULL;   /* the thread's exit drains its cache */
}

static void test_threads_free_each_other(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	ctor_calls = 0;
	struct kmem_cache *c = kmem_cache_create("task-xfer", sizeof(struct task), 0, 0, task_ctor);
	static void *objs[NTHREADS][PER_THREAD];
	struct xfer x[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		x[i] = (struct xfer){ c, objs[i], objs[(i + 1) % NTHREADS], &bar,
		                      ks_test_rng((uint64_t)i) };
		pthread_create(&t[i], NULL, xfer_thread, &x[i]);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	assert_int_equal(stats_of(c).active_objs, 0);
	/* Objects freed through queues and batches kept their first word. */
	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = kmem_cache_alloc(c);
		assert_int_equal(((struct task *)p[i])->magic, TASK_MAGIC);
	}
	kmem_cache_free_bulk(c, 100, p);
	kmem_cache_destroy(c);
	assert_int_equal(heap_free_pages(), before);
}

/* ---- shrink, memory pressure --------------------------------------------------------- */

static void test_shrink(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("dentry", 192, 0, 0, NULL);
	static void *p[NOBJ];
	for (int i = 0; i < NOBJ; i++)
		p[i] = kmem_cache_alloc(c);
	for (int i = 0; i < NOBJ; i++)
		kmem_cache_free(c, p[i]);
	struct kspan_slab_stats s = stats_of(c);
	assert_true(s.spans > 0);
	size_t given = kmem_cache_shrink(c);
	assert_int_equal(given, s.bytes);
	assert_int_equal(stats_of(c).spans, 0);
	assert_int_equal(kmem_cache_shrink(c), 0);
	/* The memory-pressure drain gives a cache's empty spans back too. */
	for (int i = 0; i < NOBJ; i++)
		p[i] = kmem_cache_alloc(c);
	for (int i = 0; i < NOBJ; i++)
		kmem_cache_free(c, p[i]);
	kspan_drain_cpu();
	assert_int_equal(stats_of(c).spans, 0);
	kmem_cache_destroy(c);
}

/* ---- misuse --------------------------------------------------------------------------- */

static void wrong_cache(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("alpha", 64, 0, 0, NULL);
	struct kmem_cache *b = kmem_cache_create("beta", 64, 0, 0, NULL);
	void *p = kmem_cache_alloc(a);
	kmem_cache_free(b, p);
}

static void kmalloc_to_cache(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("alpha", 64, 0, 0, NULL);
	kmem_cache_free(a, kmalloc(64));
}

static void large_to_cache(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("alpha", 64, 0, 0, NULL);
	kmem_cache_free(a, kmalloc(100000));
}

static void double_free(void *arg)
{
	unsigned flags = *(unsigned *)arg;
	struct kmem_cache *a = kmem_cache_create("gamma", 64, 0, flags, NULL);
	void *p = kmem_cache_alloc(a), *keep = kmem_cache_alloc(a);
	kmem_cache_free(a, p);
	kmem_cache_free(a, p);
	kmem_cache_free(a, keep);
}

static void double_free_drained(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("gamma", 64, 0, 0, NULL);
	void *p = kmem_cache_alloc(a), *keep = kmem_cache_alloc(a);
	kmem_cache_free(a, p);
	kspan_drain_cpu();     /* the span is no CPU's now */
	kmem_cache_free(a, p); /* queued: found when the queue is flushed */
	kmem_cache_free(a, keep);
	kspan_drain_cpu();
}

static void interior(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("delta", 64, 0, 0, NULL);
	char *p = kmem_cache_alloc(a);
	kmem_cache_free(a, p + 8);
}

static void not_heap(void *arg)
{
	(void)arg;
	static char buf[64];
	struct kmem_cache *a = kmem_cache_create("delta", 64, 0, 0, NULL);
	kmem_cache_free(a, buf);
}

static void leak(void *arg)
{
	unsigned flags = *(unsigned *)arg;
	struct kmem_cache *a = kmem_cache_create("leaky", 40, 0, flags, NULL);
	for (int i = 0; i < 40; i++)
		kmem_cache_alloc(a);
	kmem_cache_destroy(a);
}

static void destroy_twice(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("once", 40, 0, 0, NULL);
	kmem_cache_destroy(a);
	kmem_cache_destroy(a);
}

static void test_misuse(void **state)
{
	(void)state;
	unsigned none = 0, rz = KSPAN_SLAB_RED_ZONE;
	ks_expect_abort(wrong_cache, NULL, "object of cache \"alpha\" freed to cache \"beta\"");
	ks_expect_abort(kmalloc_to_cache, NULL, "object is from kmalloc, not from cache \"alpha\"");
	ks_expect_abort(large_to_cache, NULL, "object is from kmalloc, not from cache \"alpha\"");
	ks_expect_abort(double_free, &none, "double free (object already free) in span");
	ks_expect_abort(double_free, &none, "of cache \"gamma\"");
	ks_expect_abort(double_free, &rz, "cache \"gamma\": kmem_cache_free");
	ks_expect_abort(double_free_drained, NULL, "of cache \"gamma\"");
	ks_expect_abort(interior, NULL, "interior pointer");
	ks_expect_abort(interior, NULL, "of cache \"delta\"");
	ks_expect_abort(not_heap, NULL, "not an object of cache \"delta\"");
	ks_expect_abort(leak, &none, "kmem_cache_destroy(\"leaky\"): 40 objects remaining (16 shown)");
	ks_expect_abort(leak, &none, "kmem_cache_destroy(\"leaky\"): object 0x");
	ks_expect_abort(leak, &rz, "remaining, allocated at 0x");
	ks_expect_abort(destroy_twice, NULL, "not a live cache");
}

/* ---- poison and red zones ------------------------------------------------------------ */

static void use_after_free(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("poisoned", 96, 0, KSPAN_SLAB_POISON, NULL);
	char *p = kmem_cache_alloc(a);
	kmem_cache_free(a, p);
	p[17] = 1;   /* write after free */
	/* Allocation order is randomised: take every object of the span. */
	for (int i = 0; i < 200; i++)
		kmem_cache_alloc(a);
}

static void overflow(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("zoned", 40, 0, KSPAN_SLAB_RED_ZONE, NULL);
	char *p = kmem_cache_alloc(a);
	p[40] = 1;   /* one past the end */
	kmem_cache_free(a, p);
}

static void overflow_kfree(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("zoned", 40, 0, KSPAN_SLAB_RED_ZONE, NULL);
	char *p = kmem_cache_alloc(a);
	p[44] = 1;
	kfree(p);    /* kfree checks a cache's red zone as well */
}

static void overflow_neighbour(void *arg)
{
	(void)arg;
	struct kmem_cache *a = kmem_cache_create("zoned", 40, 0, KSPAN_SLAB_RED_ZONE, NULL);
	char *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = kmem_cache_alloc(a);
	for (int i = 0; i < 100; i++)
		p[i][41] = 1;    /* every one overflows; freeing the first finds it */
	for (int i = 0; i < 100; i++)
		kmem_cache_free(a, p[i]);
}

static void test_debug_flags(void **state)
{
	(void)state;
	ks_expect_abort(use_after_free, NULL, "cache \"poisoned\": kmem_cache_alloc: use-after-free write");
	ks_expect_abort(overflow, NULL, "cache \"zoned\": kmem_cache_free(0x");
	ks_expect_abort(overflow, NULL, "heap overflow: object of 40 bytes allocated at 0x");
	ks_expect_abort(overflow, NULL, "was written past its end at offset 40");
	ks_expect_abort(overflow_kfree, NULL, "cache \"zoned\": kfree(0x");
	ks_expect_abort(overflow_neighbour, NULL, "heap overflow");
	/* Used correctly, checked caches work, ctors included. */
	ctor_calls = 0;
	struct kmem_cache *c = kmem_cache_create("checked", sizeof(struct task), 0,
	                                         KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE, task_ctor);
	struct kmem_cache *d = kmem_cache_create("checked2", 100, 0,
	                                         KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE, NULL);
	static void *p[500], *q[500];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 500; i++) {
			p[i] = kmem_cache_alloc(c);
			q[i] = kmem_cache_zalloc(d);
			assert_int_equal(((struct task *)p[i])->magic, TASK_MAGIC);
			assert_int_equal(ksize(q[i]), 100);
			memset(q[i], 0x11, 100);
		}
		for (int i = 0; i < 500; i++) {
			kmem_cache_free(c, p[i]);
			kfree(q[i]);
		}
	}
	assert_true(stats_of(c).flags & KSPAN_SLAB_RED_ZONE);
	kspan_print_stats();
	kmem_cache_destroy(c);
	kmem_cache_destroy(d);
}

/* ---- the kmalloc family ---------------------------------------------------------------- */

static void test_kmalloc_family(void **state)
{
	(void)state;
	assert_null(kmalloc_array(SIZE_MAX / 2, 3));
	int *a = kmalloc_array(100, sizeof(int));
	assert_non_null(a);
	for (int i = 0; i < 100; i++)
		a[i] = i;
	assert_null(krealloc_array(a, SIZE_MAX / 4, 8));   /* a unchanged */
	a = krealloc_array(a, 1000, sizeof(int));
	assert_non_null(a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(a[i], i);
	kfree(a);
	char *s = kstrdup("hello, kspan");
	assert_string_equal(s, "hello, kspan");
	char *n = kstrndup("hello, kspan", 5);
	assert_string_equal(n, "hello");
	char *m = kstrndup("hi", 100);
	assert_string_equal(m, "hi");
	char *e = kstrdup("");
	assert_string_equal(e, "");
	unsigned char bytes[300];
	for (int i = 0; i < 300; i++)
		bytes[i] = (unsigned char)i;
	unsigned char *d = kmemdup(bytes, sizeof(bytes));
	assert_memory_equal(d, bytes, sizeof(bytes));
	assert_null(kstrdup(NULL));
	assert_null(kstrndup(NULL, 3));
	assert_null(kmemdup(NULL, 3));
	kfree(s);
	kfree(n);
	kfree(m);
	kfree(e);
	kfree(d);
}

/* ---- a random mix against a shadow ----------------------------------------------------- */

#define MIX_SLOTS 2048

static void test_random_mix(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(99);
	uint64_t before = heap_free_pages();
	static const size_t sizes[4] = { 24, 136, 600, 4000 };
	struct kmem_cache *c[4];
	for (int i = 0; i < 4; i++)
		c[i] = kmem_cache_create("mix", sizes[i], (size_t)8 << (i % 3),
		                         i == 3 ? KSPAN_SLAB_RED_ZONE : 0, NULL);
	static struct { void *p; int cache; uint64_t seed; } slot[MIX_SLOTS];
	uint64_t live[4] = { 0 };
	for (int op = 0; op < 60000; op++) {
		unsigned k = (unsigned)(ks_test_rand(&rng) % MIX_SLOTS);
		if (slot[k].p) {
			int ci = slot[k].cache;
			assert_true(check_pattern(slot[k].p, sizes[ci], slot[k].seed));
			if (ks_test_rand(&rng) % 2)
				kmem_cache_free(c[ci], slot[k].p);
			else
				kfree(slot[k].p);
			slot[k].p = NULL;
			live[ci]--;
		} else {
			int ci = (int)(ks_test_rand(&rng) % 4);
			slot[k].p = ks_test_rand(&rng) % 4 ? kmem_cache_alloc(c[ci]) : kmem_cache_zalloc(c[ci]);
			assert_non_null(slot[k].p);
			slot[k].cache = ci;
			slot[k].seed = ks_test_rand(&rng);
			fill_pattern(slot[k].p, sizes[ci], slot[k].seed);
			live[ci]++;
		}
		if (op % 10000 == 0) {
			kspan_check();
			for (int i = 0; i < 4; i++)
				assert_int_equal(stats_of(c[i]).active_objs, live[i]);
		}
		if (op % 15000 == 7)
			kmem_cache_shrink(c[op % 4]);
	}
	for (unsigned k = 0; k < MIX_SLOTS; k++)
		if (slot[k].p) {
			kmem_cache_free(c[slot[k].cache], slot[k].p);
			slot[k].p = NULL;
		}
	for (int i = 0; i < 4; i++)
		kmem_cache_destroy(c[i]);
	assert_int_equal(heap_free_pages(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_geometry_sweep),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_create_panic),
		cmocka_unit_test(test_slots_run_out),
		cmocka_unit_test(test_alloc_free),
		cmocka_unit_test(test_zalloc),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_ctor_once),
		cmocka_unit_test(test_zalloc_with_ctor),
		cmocka_unit_test(test_threads_free_each_other),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_debug_flags),
		cmocka_unit_test(test_kmalloc_family),
		cmocka_unit_test(test_random_mix),
	};
	return KS_TEST_MAIN("object caches", tests, heap_fixture_setup, NULL);
}
