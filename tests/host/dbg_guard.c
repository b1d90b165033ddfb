/*
 * The guard mode of the debug heap (mm/debugheap.c over mm/guard.c):
 * kmalloc and friends send every allocation (sample 1), or 1 in N, to the
 * guarded pool, above or below the guard page; krealloc always moves a
 * guarded object; an allocation the pool cannot take gets a red zone; the
 * reports name the function the program called and its call site.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "arch/host/platform.h"
#include "mm/debugheap.h"
#include "mm/guard.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define PAGE 4096u
#define SITE ((void *)(uintptr_t)0xa110c000)
#define FSITE ((void *)(uintptr_t)0xf7ee0000)

static void mode(unsigned sample, int below, size_t max_live)
{
	/* min_align 1: objects end exactly at their guard page. */
	struct kspan_guard_config cfg = { .sample = sample, .below = below,
	                                  .max_live = max_live, .min_align = 1 };
	assert_int_equal(kspan_guard_configure(&cfg), 0);
}

static uint64_t guarded_allocs(void)
{
	struct kspan_guard_stats st;
	kspan_guard_stats(&st);
	return st.allocs;
}

static void test_all(void **state)
{
	(void)state;
	mode(1, 0, 0);
	uint64_t before = guarded_allocs();
	for (size_t n = 0; n <= 40000; n = n * 2 + 3) {
		char *p = kmalloc(n);
		assert_true(ks_guard_owns((uintptr_t)p));
		assert_int_equal(((uintptr_t)p + n) % PAGE, 0);   /* against the guard */
		assert_int_equal(ksize(p), n);
		memset(p, 0x11, n);
		char *z = kzalloc(n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(z[i], 0);
		kfree(z);
		/* Explicit alignment kept. */
		char *a = kmalloc_aligned(n, 64);
		assert_true(ks_guard_owns((uintptr_t)a));
		assert_int_equal((uintptr_t)a % 64, 0);
		kfree(a);
		/* krealloc moves and keeps the contents. */
		char *q = krealloc(p, n + 1);
		assert_ptr_not_equal(q, p);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(q[i], 0x11);
		q = krealloc(q, n / 2);
		for (size_t i = 0; i < n / 2; i++)
			assert_int_equal(q[i], 0x11);
		kfree(q);
	}
	assert_true(guarded_allocs() > before);
	assert_ptr_equal(kspan_alloc_site(kspan_malloc_as(8, "malloc", SITE)), SITE);
	mode(0, 0, 0);
}

static void test_below(void **state)
{
	(void)state;
	mode(1, 1, 0);
	for (size_t n = 1; n <= 40000; n = n * 3 + 1) {
		char *p = kmalloc(n);
		assert_true(ks_guard_owns((uintptr_t)p));
		assert_int_equal((uintptr_t)p % PAGE, 0);    /* right after the guard */
		memset(p, 0x22, n);
		kfree(p);
	}
	mode(0, 0, 0);
}

static void test_sample(void **state)
{
	(void)state;
	mode(50, 0, 0);
	uint64_t before = guarded_allocs();
	void *p[20000];
	for (int i = 0; i < 20000; i++)
		p[i] = kmalloc(32);
	uint64_t got = guarded_allocs() - before;
	unsigned owned = 0;
	for (int i = 0; i < 20000; i++)
		owned += ks_guard_owns((uintptr_t)p[i]);
	for (int i = 0; i < 20000; i++)
		kfree(p[i]);
	/* 400 expected; gaps uniform in [1, 99]. */
	assert_int_equal(owned, got);
	assert_true(got > 300 && got < 500);
	mode(0, 0, 0);
}

/* Past the pool's bounds, allocations get red zones and work as usual. */
static void test_fallback(void **state)
{
	(void)state;
	struct kspan_guard_stats st;
	kspan_guard_stats(&st);
	mode(1, 0, st.live + 100);
	char *p[300];
	unsigned guarded = 0;
	for (int i = 0; i < 300; i++) {
		p[i] = kmalloc(100);
		guarded += ks_guard_owns((uintptr_t)p[i]);
		memset(p[i], 1, 100);
		assert_int_equal(ksize(p[i]), 100);
	}
	assert_int_equal(guarded, 100);
	for (int i = 0; i < 300; i++)
		kfree(p[i]);
	mode(0, 0, 0);
}

/* Many threads, every allocation guarded, objects freed by other threads. */
static char *handoff[4][500];

static void *churn(void *arg)
{
	int id = (int)(uintptr_t)arg;
	uint64_t rng = ks_test_rng((uint64_t)id);
	for (int i = 0; i < 500; i++) {
		size_t n = (size_t)(ks_test_rand(&rng) % 3000) + 1;
		handoff[id][i] = kmalloc(n);
		assert_non_null(handoff[id][i]);
		fill_pattern(handoff[id][i], n, (uint64_t)id);
		handoff[id][i] = krealloc(handoff[id][i], n);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	mode(1, 0, 0);
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int id = 0; id < 4; id++)
		for (int i = 0; i < 500; i++) {
			assert_true(check_pattern(handoff[id][i], ksize(handoff[id][i]), (uint64_t)id));
			kfree(handoff[id][i]);
		}
	mode(0, 0, 0);
}

/* ---- reports through the debug heap ------------------------------------- */

static char *guarded(size_t n)
{
	mode(1, 0, 0);
	char *p = kspan_malloc_as(n, "malloc", SITE);
	assert_true(ks_guard_owns((uintptr_t)p));
	return p;
}

static void overflow_write(void *arg)
{
	char *p = arg;
	ks_host_guard_faults();
	((volatile char *)p)[13] = 1;
}

static void uaf_read(void *arg)
{
	char *p = arg;
	ks_host_guard_faults();
	(void)((volatile char *)p)[3];
}

static void double_free(void *arg)
{
	kspan_free_as(arg, "free", FSITE);
}

static void realloc_freed(void *arg)
{
	(void)kspan_realloc_as(arg, 100, "realloc", FSITE);
}

static void size_freed(void *arg)
{
	(void)kspan_size_as(arg, "malloc_usable_size");
}

static void test_reports(void **state)
{
	(void)state;
	char want[300];
	char *p = guarded(13);
	snprintf(want, sizeof(want), "kspan: out-of-bounds write at %p: object %p of "
	         "13 bytes allocated at %p\n", (void *)(p + 13), (void *)p, SITE);
	ks_expect_abort(overflow_write, p, want);
	kspan_free_as(p, "free", FSITE);
	snprintf(want, sizeof(want), "kspan: use-after-free read at %p: object %p of "
	         "13 bytes allocated at %p, freed at %p\n", (void *)(p + 3), (void *)p,
	         SITE, FSITE);
	ks_expect_abort(uaf_read, p, want);
	snprintf(want, sizeof(want), "kspan: free(%p): double free of a guarded object "
	         "(13 bytes, allocated at %p, freed at %p)", (void *)p, SITE, FSITE);
	ks_expect_abort(double_free, p, want);
	ks_expect_abort(realloc_freed, p, "kspan: realloc(0x");
	ks_expect_abort(realloc_freed, p, "double free of a guarded object");
	ks_expect_abort(size_freed, p, "kspan: malloc_usable_size(0x");
	ks_expect_abort(size_freed, p, "use after free of a guarded object");
	/* The realloc that moved an object freed it with realloc's site. */
	char *q = guarded(40);
	char *r = kspan_realloc_as(q, 4000, "realloc", FSITE);
	assert_ptr_not_equal(q, r);
	snprintf(want, sizeof(want), "kspan: use-after-free read at %p: object %p of "
	         "40 bytes allocated at %p, freed at %p\n", (void *)(q + 3), (void *)q,
	         SITE, FSITE);
	ks_expect_abort(uaf_read, q, want);
	kfree(r);
	mode(0, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_below),
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_reports),
	};
	return KS_TEST_MAIN("guard mode", tests, heap_fixture_setup, NULL);
}
