/*
 * Object caches under the debug heap (DEBUG=1): every cache gets poison and
 * red zones (slub_debug on every cache), so a leak report names each
 * object's allocation site, a write after free or past the end is found
 * on a cache that asked for nothing, and kfree, ksize and krealloc of cache
 * objects go through the same checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static void test_checked_everywhere(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct kmem_cache *c = kmem_cache_create("plain", 100, 0, 0, NULL);
	struct kspan_slab_stats s;
	kmem_cache_stats(c, &s);
	assert_true(s.flags & KSPAN_SLAB_RED_ZONE);
	assert_true(s.flags & KSPAN_SLAB_POISON);
	static void *p[500];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 500; i++) {
			p[i] = kmem_cache_alloc(c);
			assert_non_null(p[i]);
			assert_non_null(kspan_alloc_site(p[i]));   /* the call site */
			assert_int_equal(ksize(p[i]), 100);
			fill_pattern(p[i], 100, (uint64_t)i);
		}
		for (int i = 0; i < 500; i++) {
			assert_true(check_pattern(p[i], 100, (uint64_t)i));
			if (i % 3 == 0)
				kfree(p[i]);
			else
				kmem_cache_free(c, p[i]);
		}
	}
	/* krealloc of a cache object moves it to kmalloc. */
	char *q = kmem_cache_alloc(c);
	memcpy(q, "cache object", 13);
	char *r = krealloc(q, 5000);
	assert_non_null(r);
	assert_string_equal(r, "cache object");
	kfree(r);
	kmem_cache_destroy(c);
	assert_int_equal(heap_free_pages(), before);
}

static void leak_with_sites(void *arg)
{
	(void)arg;
	struct kmem_cache *c = kmem_cache_create("leaky", 64, 0, 0, NULL);
	for (int i = 0; i < 3; i++)
		kmem_cache_alloc(c);
	kmem_cache_destroy(c);
}

static void write_after_free(void *arg)
{
	(void)arg;
	struct kmem_cache *c = kmem_cache_create("plain", 64, 0, 0, NULL);
	char *p = kmem_cache_alloc(c);
	kfree(p);
	p[3] = 7;
	for (int i = 0; i < 200; i++)
		kmem_cache_alloc(c);
}

static void overflow(void *arg)
{
	(void)arg;
	struct kmem_cache *c = kmem_cache_create("plain", 64, 0, 0, NULL);
	char *p = kmem_cache_alloc(c);
	p[64] = 1;
	kfree(p);
}

static void double_kfree(void *arg)
{
	(void)arg;
	struct kmem_cache *c = kmem_cache_create("plain", 64, 0, 0, NULL);
	char *p = kmem_cache_alloc(c), *keep = kmem_cache_alloc(c);
	kfree(p);
	kfree(p);
	kfree(keep);
}

static void test_reports(void **state)
{
	(void)state;
	ks_expect_abort(leak_with_sites, NULL, "remaining, allocated at 0x");
	ks_expect_abort(leak_with_sites, NULL, "kmem_cache_destroy(\"leaky\"): 3 objects remaining");
	ks_expect_abort(write_after_free, NULL, "cache \"plain\": kmem_cache_alloc: use-after-free write");
	ks_expect_abort(overflow, NULL, "cache \"plain\": kfree(0x");
	ks_expect_abort(overflow, NULL, "was written past its end at offset 64");
	ks_expect_abort(double_kfree, NULL, "double free");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checked_everywhere),
		cmocka_unit_test(test_reports),
	};
	return KS_TEST_MAIN("object caches (debug heap)", tests, heap_fixture_setup, NULL);
}
