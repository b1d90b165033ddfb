/*
 * The debug heap (KSPAN_DEBUG_HEAP, mm/debugheap.c): each detector catches
 * the bug it exists for, in a death test, and a correct program runs
 * through it untouched.
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
#include "mm/debugheap.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static void test_correct_use_passes(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	for (size_t n = 0; n < 5000; n += 37) {
		char *p = kmalloc(n);
		assert_non_null(p);
		assert_int_equal(ksize(p), n);        /* the size asked for */
		fill_pattern(p, n, n);
		char *q = krealloc(p, n * 2 + 1);
		assert_true(check_pattern(q, n, n));
		kfree(q);
		for (size_t align = 8; align <= 4096; align <<= 1) {
			void *a = kmalloc_aligned(n + 1, align);
			assert_int_equal((uintptr_t)a % align, 0);
			assert_int_equal(ksize(a), n + 1);
			memset(a, 1, n + 1);
			kfree(a);
		}
	}
	char *big = kmalloc(100000);
	memset(big, 7, 100000);
	kfree(big);
	assert_int_equal(heap_free_pages(), before);
}

static void test_call_site_recorded(void **state)
{
	(void)state;
	void *p = kmalloc(40);
	void *site = kspan_alloc_site(p);
	/* The site is in this function: between its start and its end. */
	assert_true((uintptr_t)site > (uintptr_t)test_call_site_recorded);
	assert_true((uintptr_t)site < (uintptr_t)test_call_site_recorded + 4096);
	kfree(p);
}

static void overflow_small(void *arg)
{
	(void)arg;
	char *p = kmalloc(20);
	p[20] = 'x';              /* one byte past the end */
	kfree(p);
}

static void overflow_large(void *arg)
{
	(void)arg;
	char *p = kmalloc(50000);
	p[50003] = 'x';
	kfree(p);
}

static void overflow_trailer(void *arg)
{
	(void)arg;
	char *p = kmalloc(32);
	memset(p, 0, 64);         /* through the canary and the trailer */
	kfree(p);
}

static void use_after_free_write(void *arg)
{
	(void)arg;
	char *p = kmalloc(100);
	kfree(p);
	p[10] = 1;                /* write into the freed object */
	for (int i = 0; i < 1000; i++)
		(void)kmalloc(100);   /* its slot is handed out again: checked */
}

/* Reports name the function the program called (fn) and the call site
 * the wrapper recorded. */
#define SITE ((void *)(uintptr_t)0x5173000)

static void site_recorded_as_given(void **state)
{
	(void)state;
	void *p = kspan_malloc_as(40, "malloc", SITE);
	assert_ptr_equal(kspan_alloc_site(p), SITE);
	kspan_free_as(p, "free", SITE);
	p = kspan_aligned_as(40, 64, "posix_memalign", SITE);
	assert_ptr_equal(kspan_alloc_site(p), SITE);
	p = kspan_realloc_as(p, 400, "realloc", (void *)((uintptr_t)SITE + 8));
	assert_ptr_equal(kspan_alloc_site(p), (void *)((uintptr_t)SITE + 8));
	kspan_free_as(p, "free", SITE);
}

static void overflow_as_free(void *arg)
{
	(void)arg;
	char *p = kspan_malloc_as(20, "malloc", SITE);
	p[21] = 'x';
	kspan_free_as(p, "free", SITE);
}

static void overflow_as_realloc(void *arg)
{
	(void)arg;
	char *p = kspan_malloc_as(20, "malloc", SITE);
	p[20] = 'x';
	(void)kspan_realloc_as(p, 2000, "realloc", SITE);
}

static void trailer_as_size(void *arg)
{
	(void)arg;
	char *p = kspan_malloc_as(32, "malloc", SITE);
	memset(p, 0, 64);
	(void)kspan_size_as(p, "malloc_usable_size");
}

static void double_free_as(void *arg)
{
	(void)arg;
	char *p = kspan_malloc_as(32, "malloc", SITE);
	kspan_free_as(p, "free", SITE);
	kspan_free_as(p, "free", SITE);
}

static void double_free_later(void *arg)
{
	(void)arg;
	/* Not the latest free any more, and its span has other objects. */
	char *q[10];
	char *p = kmalloc(48);
	for (int i = 0; i < 10; i++)
		q[i] = kmalloc(48);
	kfree(p);
	for (int i = 0; i < 10; i++)
		kfree(q[i]);
	kfree(p);
}

static void realloc_freed(void *arg)
{
	(void)arg;
	char *keep = kmalloc(32);
	char *p = kmalloc(32);
	kfree(p);
	(void)krealloc(p, 64);
	kfree(keep);
}

static void size_freed(void *arg)
{
	(void)arg;
	char *keep = kmalloc(32);
	char *p = kmalloc(32);
	kfree(p);
	(void)kspan_size_as(p, "malloc_usable_size");
	kfree(keep);
}

static void use_after_free_as_malloc(void *arg)
{
	(void)arg;
	char *p = kspan_malloc_as(100, "malloc", SITE);
	kspan_free_as(p, "free", SITE);
	p[10] = 1;
	for (int i = 0; i < 1000; i++)
		(void)kspan_malloc_as(100, "calloc", SITE);
}

static void test_reports_name_fn(void **state)
{
	(void)state;
	char want[160];
	snprintf(want, sizeof(want), "object of 20 bytes allocated at %p was "
	         "written past its end at offset 21", SITE);
	ks_expect_abort(overflow_as_free, NULL, "kspan: free(0x");
	ks_expect_abort(overflow_as_free, NULL, want);
	ks_expect_abort(overflow_as_realloc, NULL, "kspan: realloc(0x");
	ks_expect_abort(overflow_as_realloc, NULL, "heap overflow");
	ks_expect_abort(trailer_as_size, NULL, "kspan: malloc_usable_size(0x");
	ks_expect_abort(trailer_as_size, NULL, "red zone trailer");
	ks_expect_abort(use_after_free_as_malloc, NULL, "kspan: calloc: use-after-free write");
}

/* A double free says "double free", as the release heap does; sizing a
 * freed object says "use after free". */
static void test_double_free_messages(void **state)
{
	(void)state;
	ks_expect_abort(double_free_as, NULL, "kspan: free(0x");
	ks_expect_abort(double_free_as, NULL, "double free (object already free) in span");
	ks_expect_abort(double_free_later, NULL, "kspan: kfree(0x");
	ks_expect_abort(double_free_later, NULL, ": double free (object already free)");
	ks_expect_abort(realloc_freed, NULL, "kspan: krealloc(0x");
	ks_expect_abort(realloc_freed, NULL, ": double free (object already free)");
	ks_expect_abort(size_freed, NULL, "kspan: malloc_usable_size(0x");
	ks_expect_abort(size_freed, NULL, ": use after free (object already free)");
}

/* Two objects next to each other in one span (the order within a span is
 * random): blocks of 40 + KS_RZ = 64 bytes, *hi == *lo + 64. */
static void adjacent_pair(char **lo, char **hi, char **rest, int nrest)
{
	for (int i = 0; i < nrest; i++)
		rest[i] = kmalloc(40);
	for (int i = 0; i < nrest; i++)
		for (int j = 0; j < nrest; j++)
			if (rest[j] == rest[i] + 64) {
				*lo = rest[i];
				*hi = rest[j];
				return;
			}
	fail_msg("no two adjacent objects among %d", nrest);
}

static void neighbour_freed(void *arg)
{
	(void)arg;
	char *rest[64], *lo, *hi;
	adjacent_pair(&lo, &hi, rest, 64);
	lo[40] = 'x';          /* one byte into lo's red zone */
	kspan_free_as(hi, "free", SITE);   /* caught here, not at free(lo) */
}

static void neighbour_allocated(void *arg)
{
	(void)arg;
	char *rest[64], *lo, *hi;
	adjacent_pair(&lo, &hi, rest, 64);
	kfree(hi);
	lo[44] = 'x';
	/* hi's slot comes back (the last free of this CPU's span). */
	for (int i = 0; i < 400; i++)
		(void)kspan_malloc_as(40, "malloc", SITE);
}

static void test_neighbour_red_zones(void **state)
{
	(void)state;
	ks_expect_abort(neighbour_freed, NULL, "kspan: free(0x");
	ks_expect_abort(neighbour_freed, NULL, "heap overflow: the neighbouring object 0x");
	ks_expect_abort(neighbour_freed, NULL, "was written past its end at offset 40 "
	                "(found when this block was freed)");
	ks_expect_abort(neighbour_allocated, NULL, "kspan: malloc(0x");
	ks_expect_abort(neighbour_allocated, NULL, "written past its end at offset 44 "
	                "(found when this block was allocated)");
}

/* Neighbours are checked without disturbing correct programs: many
 * threads allocating and freeing objects next to each other. */
static void *churn(void *arg)
{
	uint64_t rng = ks_test_rng((uintptr_t)arg);
	char *slot[256] = { 0 };
	size_t len[256] = { 0 };
	for (int i = 0; i < 40000; i++) {
		unsigned k = (unsigned)(ks_test_rand(&rng) % 256);
		if (slot[k]) {
			assert_true(check_pattern(slot[k], len[k], k));
			kfree(slot[k]);
			slot[k] = NULL;
		} else {
			len[k] = (size_t)(ks_test_rand(&rng) % 200);
			slot[k] = kmalloc(len[k]);
			fill_pattern(slot[k], len[k], k);
		}
	}
	for (int k = 0; k < 256; k++)
		kfree(slot[k]);
	return NULL;
}

static void test_neighbour_checks_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void test_overflow_small(void **state)
{
	(void)state;
	ks_expect_abort(overflow_small, NULL, "written past its end at offset 20");
}

static void test_overflow_large(void **state)
{
	(void)state;
	ks_expect_abort(overflow_large, NULL, "heap overflow");
}

static void test_overflow_trailer(void **state)
{
	(void)state;
	ks_expect_abort(overflow_trailer, NULL, "heap overflow");
}

static void test_use_after_free_write(void **state)
{
	(void)state;
	ks_expect_abort(use_after_free_write, NULL, "use-after-free write");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_correct_use_passes),
		cmocka_unit_test(test_call_site_recorded),
		cmocka_unit_test(test_overflow_small),
		cmocka_unit_test(test_overflow_large),
		cmocka_unit_test(test_overflow_trailer),
		cmocka_unit_test(test_use_after_free_write),
		cmocka_unit_test(site_recorded_as_given),
		cmocka_unit_test(test_reports_name_fn),
		cmocka_unit_test(test_double_free_messages),
		cmocka_unit_test(test_neighbour_red_zones),
		cmocka_unit_test(test_neighbour_checks_threads),
	};
	return KS_TEST_MAIN("debug heap", tests, heap_fixture_setup, NULL);
}
