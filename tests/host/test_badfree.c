/*
 * Bad input is caught, never silently accepted: death tests (the child must
 * abort with a message naming the fault) for every kind of bad free the
 * spans array and the free bits can detect.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static void double_free_owned(void *arg)
{
	(void)arg;
	void *p = kmalloc(64);
	kfree(p);
	kfree(p);   /* span still owned by this CPU: caught on the fast path */
}

static void double_free_queued(void *arg)
{
	(void)arg;
	/* Fill more than one span so the first one is no longer cached. */
	void *p[300];
	for (int i = 0; i < 300; i++)
		p[i] = kmalloc(512);
	kfree(p[0]);
	kfree(p[0]);   /* both queued; the flush finds the second */
	kspan_drain_cpu();
}

static void double_free_uncached(void *arg)
{
	(void)arg;
	void *p = kmalloc(2048), *keep = kmalloc(2048);
	kfree(p);
	kspan_drain_cpu();   /* span no longer cached by anyone */
	kfree(p);
	kfree(keep);
	kspan_drain_cpu();
}

static void *free_in_thread(void *p)
{
	kfree(p);
	kfree(p);      /* remote double free: remote bit already set */
	kspan_drain_cpu();
	return NULL;
}

static void double_free_remote(void *arg)
{
	(void)arg;
	void *p = kmalloc(96);
	void *keep = kmalloc(96);  /* span stays owned by this CPU */
	pthread_t t;
	pthread_create(&t, NULL, free_in_thread, p);
	pthread_join(t, NULL);
	kfree(keep);
}

static void *free_once_in_thread(void *p)
{
	kfree(p);
	kspan_drain_cpu();
	return NULL;
}

static void double_free_remote_then_local(void *arg)
{
	(void)arg;
	void *p = kmalloc(96);
	void *keep = kmalloc(96);
	pthread_t t;
	pthread_create(&t, NULL, free_once_in_thread, p);
	pthread_join(t, NULL);
	kfree(p);          /* this CPU owns the span: frees into its bits */
	for (int i = 0; i < 100000; i++)  /* run the span dry: merge finds it */
		(void)kmalloc(96);
	kfree(keep);
}

static void double_free_large(void *arg)
{
	(void)arg;
	void *p = kmalloc(100000);
	kfree(p);
	kfree(p);
}

static void interior_small(void *arg)
{
	(void)arg;
	char *p = kmalloc(128);
	kfree(p + 8);
}

static void interior_large(void *arg)
{
	(void)arg;
	char *p = kmalloc(1 << 20);
	kfree(p + 8192);
}

static void outside_heap_stack(void *arg)
{
	(void)arg;
	int local;
	kfree(&local);
}

static void outside_heap_libc(void *arg)
{
	(void)arg;
	kfree(malloc(32));
}

static void wild_pointer(void *arg)
{
	(void)arg;
	kfree((void *)0x123456789);
}

static void never_allocated_page(void *arg)
{
	(void)arg;
	/* A page past everything allocated so far, inside the used arena. */
	char *p = kmalloc(64);
	char *big = kmalloc(4 << 20);
	kfree(big);
	kfree(big + (1 << 20));
	kfree(p);
}

static void kpages_with_kfree(void *arg)
{
	(void)arg;
	kfree(kpages_alloc(2));
}

static void kfree_object_via_kpages(void *arg)
{
	(void)arg;
	kpages_free(kmalloc(100000), 13);
}

static void kpages_wrong_count(void *arg)
{
	(void)arg;
	kpages_free(kpages_alloc(3), 2);
}

static void ksize_of_freed(void *arg)
{
	(void)arg;
	void *p = kmalloc(1 << 20);
	kfree(p);
	(void)ksize(p);
}

static void realloc_of_freed(void *arg)
{
	(void)arg;
	void *keep = kmalloc(64);
	void *p = kmalloc(64);
	kfree(p);
	(void)krealloc(p, 200);   /* must not copy from the freed object */
	kfree(keep);
}

static void past_last_object(void *arg)
{
	(void)arg;
	/* Class 48 B: 170 objects in 8 KiB, 32 bytes of tail after them. */
	char *p = kmalloc(48);
	uintptr_t base = (uintptr_t)p & ~(uintptr_t)(KSPAN_PAGE_SIZE - 1);
	kfree((void *)(base + 170 * 48));
}

#define DEATH(fn, msg) \
	static void test_##fn(void **state) { (void)state; ks_expect_abort(fn, NULL, msg); }

DEATH(double_free_owned, "double free")
DEATH(double_free_queued, "double free")
DEATH(double_free_uncached, "double free")
DEATH(double_free_remote, "double free")
DEATH(double_free_remote_then_local, "double free")
DEATH(double_free_large, "page is not in use")
DEATH(interior_small, "interior pointer")
DEATH(interior_large, "interior pointer into a large object")
DEATH(outside_heap_stack, "not in the heap")
DEATH(outside_heap_libc, "not in the heap")
DEATH(wild_pointer, "not in the heap")
DEATH(never_allocated_page, "page is not in use")
DEATH(kpages_with_kfree, "kpages_alloc")
DEATH(kfree_object_via_kpages, "not from kpages_alloc")
DEATH(kpages_wrong_count, "block has 3 pages")
DEATH(ksize_of_freed, "page is not in use")
DEATH(past_last_object, "past the last object")
DEATH(realloc_of_freed, "object is free")

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_double_free_owned),
		cmocka_unit_test(test_double_free_queued),
		cmocka_unit_test(test_double_free_uncached),
		cmocka_unit_test(test_double_free_remote),
		cmocka_unit_test(test_double_free_remote_then_local),
		cmocka_unit_test(test_double_free_large),
		cmocka_unit_test(test_interior_small),
		cmocka_unit_test(test_interior_large),
		cmocka_unit_test(test_outside_heap_stack),
		cmocka_unit_test(test_outside_heap_libc),
		cmocka_unit_test(test_wild_pointer),
		cmocka_unit_test(test_never_allocated_page),
		cmocka_unit_test(test_kpages_with_kfree),
		cmocka_unit_test(test_kfree_object_via_kpages),
		cmocka_unit_test(test_kpages_wrong_count),
		cmocka_unit_test(test_ksize_of_freed),
		cmocka_unit_test(test_past_last_object),
		cmocka_unit_test(test_realloc_of_freed),
	};
	return KS_TEST_MAIN("bad frees", tests, heap_fixture_setup, NULL);
}
