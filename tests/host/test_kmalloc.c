/*
 * The public API end to end on the host: every size class, large objects,
 * alignment, realloc, edge cases, out-of-memory and recovery, and a seeded
 * random sequence of 10^6 operations checked against a shadow model with
 * fill patterns verified before every free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "arch/host/platform.h"
#include "mm/sizeclass.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static void test_every_class(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		size_t size = ks_class_to_size[cls];
		size_t prev = ks_class_to_size[cls - 1];
		/* The smallest and largest request of the class, many objects. */
		enum { N = 300 };
		void *objs[N];
		for (int i = 0; i < N; i++) {
			size_t req = (i & 1) ? size : prev + 1;
			objs[i] = kmalloc(req);
			assert_non_null(objs[i]);
			assert_int_equal(ksize(objs[i]), size);
			assert_int_equal((uintptr_t)objs[i] % (size >= 16 ? 16 : 8), 0);
			fill_pattern(objs[i], size, cls);
		}
		for (int i = 0; i < N; i++)
			for (int j = i + 1; j < N && j < i + 8; j++)
				assert_ptr_not_equal(objs[i], objs[j]);
		for (int i = 0; i < N; i++) {
			assert_true(check_pattern(objs[i], size, cls));
			kfree(objs[i]);
		}
	}
	assert_int_equal(heap_free_pages(), before);
}

static void test_zero_and_impossible_sizes(void **state)
{
	(void)state;
	void *a = kmalloc(0), *b = kmalloc(0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	kfree(a);
	kfree(b);
	kfree(NULL);
	assert_null(kmalloc(SIZE_MAX));
	assert_null(kmalloc(SIZE_MAX - 4096));
	assert_null(kmalloc(TEST_ARENA_BYTES * 2));
	assert_null(kcalloc(SIZE_MAX / 2, 3));
	assert_null(kcalloc(1ull << 33, 1ull << 33));
	assert_null(kmalloc_aligned(64, 3));
	assert_null(kmalloc_aligned(64, 0));
	assert_null(kpages_alloc(0));
	assert_null(kpages_alloc(SIZE_MAX / 4096));
}

static void test_zeroing(void **state)
{
	(void)state;
	for (size_t size = 1; size < 70000; size = size * 3 + 1) {
		unsigned char *p = kmalloc(size);
		memset(p, 0xAB, size);
		kfree(p);
		unsigned char *z = kzalloc(size);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(z[i], 0);
		kfree(z);
		unsigned char *c = kcalloc(size, 1);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(c[i], 0);
		kfree(c);
	}
}

static void test_large(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	size_t sizes[] = { 32769, 40000, 65536, 1 << 20, (3 << 20) + 5, 16 << 20 };
	void *p[6];
	for (int i = 0; i < 6; i++) {
		p[i] = kmalloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % KSPAN_PAGE_SIZE, 0);
		assert_true(ksize(p[i]) >= sizes[i]);
		assert_true(ksize(p[i]) < sizes[i] + KSPAN_PAGE_SIZE);
		fill_pattern(p[i], sizes[i], i);
	}
	for (int i = 5; i >= 0; i--) {
		assert_true(check_pattern(p[i], sizes[i], i));
		kfree(p[i]);
	}
	assert_int_equal(heap_free_pages(), before);
}

static void test_aligned(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	for (size_t align = 1; align <= (1u << 22); align <<= 1) {
		size_t sizes[] = { 1, 8, 24, 100, 4096, 5000, 40000 };
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = kmalloc_aligned(sizes[i], align);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			assert_true(ksize(p) >= sizes[i]);
			fill_pattern(p, sizes[i], align);
			assert_true(check_pattern(p, sizes[i], align));
			kfree(p);
		}
	}
	assert_int_equal(heap_free_pages(), before);
}

static void test_krealloc(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	/* Same class: stays in place. */
	char *p = kmalloc(100);
	size_t cap = ksize(p);
	fill_pattern(p, 100, 1);
	assert_ptr_equal(krealloc(p, cap), p);
	assert_true(check_pattern(p, 100, 1));
	/* Grow across classes and into large objects: contents move. */
	size_t n = 100;
	for (size_t want = 150; want < (4u << 20); want = want * 2 + 3) {
		char *q = krealloc(p, want);
		assert_non_null(q);
		assert_true(check_pattern(q, n, 1));
		/* Re-fill the whole buffer for the next step. */
		fill_pattern(q, want, 1);
		p = q;
		n = want;
	}
	/* Shrink back to a small class. */
	char *s = krealloc(p, 40);
	assert_non_null(s);
	assert_true(check_pattern(s, 40, 1));
	kfree(s);
	/* A large object at the end of the heap grows in place. */
	char *big = kmalloc(100000);
	fill_pattern(big, 100000, 7);
	char *bigger = krealloc(big, 400000);
	assert_ptr_equal(bigger, big);
	assert_true(ksize(bigger) >= 400000);
	assert_true(check_pattern(bigger, 100000, 7));
	memset(bigger + 100000, 0, 300000);
	kspan_check();
	kfree(bigger);
	/* krealloc(NULL, n) is kmalloc(n). */
	void *fresh = krealloc(NULL, 10);
	assert_non_null(fresh);
	assert_int_equal(ksize(fresh), 16);
	kfree(fresh);
	assert_int_equal(heap_free_pages(), before);
}

static void test_kpages(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	void *a = kpages_alloc(1), *b = kpages_alloc(7), *c = kpages_alloc(200);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal((uintptr_t)b % KSPAN_PAGE_SIZE, 0);
	memset(c, 0x5A, 200 * KSPAN_PAGE_SIZE);
	kpages_free(b, 7);
	kpages_free(a, 1);
	kpages_free(c, 200);
	assert_int_equal(heap_free_pages(), before);
}

/* Exhaust memory (commit limit), free it all, come back to the start. */
static void test_oom_and_recover(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	ks_host_set_commit_limit(ks_host_committed() + (48u << 20));
	enum { MAX = 1 << 20 };
	void **objs = calloc(MAX, sizeof(void *));
	size_t n = 0, sizes[] = { 24, 1000, 9000, 70000 };
	int nulls = 0;
	while (n < MAX && nulls < 200) {
		void *p = kmalloc(sizes[n % 4]);
		if (!p) {
			nulls++;
			continue;
		}
		objs[n++] = p;
	}
	assert_int_equal(nulls, 200);      /* memory really ran out */
	assert_true(n > 1000);
	kspan_check();                     /* consistent while exhausted */
	for (size_t i = 0; i < n; i++)
		kfree(objs[i]);
	free(objs);
	ks_host_set_commit_limit(0);
	assert_int_equal(heap_free_pages(), before);
	/* And it allocates again. */
	void *p = kmalloc(1 << 20);
	assert_non_null(p);
	kfree(p);
}

/* Seeded random sequence against a shadow model. */
static void test_random_ops(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	enum { SLOTS = 4096, OPS = 1000000 };
	static struct { void *p; size_t n; uint64_t seed; } slot[SLOTS];
	uint64_t rng = ks_test_rng(__LINE__);
	for (long op = 0; op < OPS; op++) {
		uint64_t r = ks_test_rand(&rng);
		unsigned i = (unsigned)(r % SLOTS);
		if (slot[i].p) {
			assert_true(check_pattern(slot[i].p, slot[i].n, slot[i].seed));
			assert_true(ksize(slot[i].p) >= slot[i].n);
			if ((r >> 20) % 8 == 0) {
				size_t n = (r >> 24) % 3000;
				void *q = krealloc(slot[i].p, n);
				assert_non_null(q);
				size_t keep = n < slot[i].n ? n : slot[i].n;
				assert_true(check_pattern(q, keep, slot[i].seed));
				fill_pattern(q, n, op);
				slot[i].p = q;
				slot[i].n = n;
				slot[i].seed = (uint64_t)op;
			} else {
				kfree(slot[i].p);
				slot[i].p = NULL;
			}
		} else {
			unsigned kind = (unsigned)((r >> 16) % 100);
			size_t n = kind < 60 ? (r >> 24) % 128
			         : kind < 95 ? (r >> 24) % 4096
			         : kind < 99 ? (r >> 24) % 40000 : (r >> 24) % 300000;
			size_t align = kind == 42 ? (size_t)1 << ((r >> 40) % 16) : 0;
			void *p = align ? kmalloc_aligned(n, align) : kmalloc(n);
			assert_non_null(p);
			if (align)
				assert_int_equal((uintptr_t)p % align, 0);
			fill_pattern(p, n, op);
			slot[i].p = p;
			slot[i].n = n;
			slot[i].seed = (uint64_t)op;
		}
		if (op % 200000 == 0)
			kspan_check();
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i].p) {
			assert_true(check_pattern(slot[i].p, slot[i].n, slot[i].seed));
			kfree(slot[i].p);
		}
	assert_int_equal(heap_free_pages(), before);
}

static void test_stats(void **state)
{
	(void)state;
	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = kmalloc(200);
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_class_stats(cs);
	unsigned cls = ks_size_to_class(200);
	assert_int_equal(cs[cls].size, ks_class_to_size[cls]);
	assert_true(cs[cls].inuse >= 100);
	assert_true(cs[cls].spans >= 1);
	assert_int_equal(cs[cls].bytes, cs[cls].spans * cs[cls].npages * KSPAN_PAGE_SIZE);
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	assert_int_equal(hs.arena_bytes, TEST_ARENA_BYTES);
	assert_true(hs.slow_allocs > 0 && hs.owned_spans > 0);
	for (int i = 0; i < 100; i++)
		kfree(p[i]);
	kspan_drain_cpu();
	kspan_class_stats(cs);
	assert_int_equal(cs[cls].inuse, 0);
	kspan_print_stats();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_class),
		cmocka_unit_test(test_zero_and_impossible_sizes),
		cmocka_unit_test(test_zeroing),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_aligned),
		cmocka_unit_test(test_krealloc),
		cmocka_unit_test(test_kpages),
		cmocka_unit_test(test_oom_and_recover),
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_stats),
	};
	return KS_TEST_MAIN("kmalloc", tests, heap_fixture_setup, NULL);
}
