/*
 * The debug heap (KSPAN_DEBUG_HEAP, mm/debugheap.c): each detector catches
 * the bug it exists for, in a death test, and a correct program runs
 * through it untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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
	};
	return KS_TEST_MAIN("debug heap", tests, heap_fixture_setup, NULL);
}
