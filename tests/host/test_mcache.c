/*
 * The per-CPU cache and the central lists: fast-path hits, refills, queued
 * frees handed to mcentral in batches, span list transitions, draining,
 * and the tiny allocator.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include "mm/arena.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#include "mm/mgc.h"

static struct mcache *my_cache(void)
{
	return &ks_mcaches[ks_plat_cpu_id()];
}

static void test_fast_path_and_refill(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct mcache *c = my_cache();
	unsigned cls = ks_size_to_class(256);
	spanclass_t sc = ks_make_spanclass(cls, true);
	unsigned nelems = ks_class_to_nelems[cls];
	uint64_t fast0 = c->fast_allocs, slow0 = c->slow_allocs, ref0 = c->refills;
	void *p[64];
	assert_true(nelems + 1 <= 64);
	for (unsigned i = 0; i < nelems + 1; i++)
		p[i] = kmalloc(256);
	/* One refill for the first span, one when it ran out. */
	assert_int_equal(c->refills - ref0, 2);
	assert_true(c->fast_allocs - fast0 >= nelems - 2);
	assert_true(c->slow_allocs - slow0 <= 3);
	assert_true(c->alloc[sc] != &ks_emptyspan);
	assert_int_equal(c->alloc[sc]->owner, (int)ks_plat_cpu_id());
	for (unsigned i = 0; i < nelems + 1; i++)
		kfree(p[i]);
	kspan_drain_cpu();
	assert_ptr_equal(c->alloc[sc], &ks_emptyspan);
	assert_int_equal(ks_mcentral[sc].nspans, 0);
	assert_int_equal(heap_free_pages(), before);
}

static void test_queued_frees_batch(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct mcache *c = my_cache();
	unsigned cls = ks_size_to_class(1024);   /* 8 objects per span */
	spanclass_t sc = ks_make_spanclass(cls, true);
	enum { N = 80 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = kmalloc(1024);
	/* p[0..7] are in a span this CPU no longer owns. */
	struct mspan *first = spanof((uintptr_t)p[0]);
	assert_int_equal(first->owner, KS_NO_OWNER);
	assert_int_equal(first->list, MSPAN_ON_EMPTY);
	assert_int_equal(first->nfree, 0);
	kfree(p[0]);
	/* Queued, not yet in the span. */
	assert_int_equal(c->freebuf[sc].n, 1);
	assert_int_equal(first->nfree, 0);
	/* Fill the queue; the next free flushes it to mcentral. */
	for (int i = 1; i < KS_FREEBUF_SIZE; i++)
		kfree(p[i]);
	assert_int_equal(c->freebuf[sc].n, KS_FREEBUF_SIZE);
	kfree(p[KS_FREEBUF_SIZE]);
	assert_int_equal(c->freebuf[sc].n, 1);
	/* p[0..7] all reached their span: it went back to the heap. */
	assert_true(first->state != MSPAN_INUSE || first->base != (uintptr_t)p[0]);
	for (int i = KS_FREEBUF_SIZE + 1; i < N; i++)
		kfree(p[i]);
	assert_int_equal(heap_free_pages(), before);
}

/* A queued free is what the next allocation that misses the fast path
 * gets back, without a lock. */
static void test_queued_frees_reused(void **state)
{
	(void)state;
	unsigned cls = ks_size_to_class(2048);   /* 4 objects per span */
	spanclass_t sc = ks_make_spanclass(cls, true);
	void *p[12];
	for (int i = 0; i < 12; i++)
		p[i] = kmalloc(2048);
	/* Spans of p[0..7] are no longer owned: their frees are queued. */
	kfree(p[5]);
	kfree(p[2]);
	struct mcache *c = my_cache();
	assert_int_equal(c->freebuf[sc].n, 2);
	/* The owned span (p[8..11]) is full, so allocation misses the fast
	 * path and takes the queued objects, last freed first. */
	void *a = kmalloc(2048), *b = kmalloc(2048);
	assert_ptr_equal(a, p[2]);
	assert_ptr_equal(b, p[5]);
	assert_int_equal(c->freebuf[sc].n, 0);
	p[2] = a;
	p[5] = b;
	for (int i = 0; i < 12; i++)
		kfree(p[i]);
	kspan_drain_cpu();
}

static void double_queued(void *arg)
{
	(void)arg;
	void *p[12];
	for (int i = 0; i < 12; i++)
		p[i] = kmalloc(2048);
	kfree(p[1]);
	kfree(p[1]);
}

static void test_double_free_in_queue(void **state)
{
	(void)state;
	ks_expect_abort(double_queued, NULL, "double free (object already freed on this CPU)");
}

static void test_partial_span_goes_to_nonempty(void **state)
{
	(void)state;
	unsigned cls = ks_size_to_class(2048);
	spanclass_t sc = ks_make_spanclass(cls, true);
	void *p[8];
	for (int i = 0; i < 8; i++)
		p[i] = kmalloc(2048);
	struct mspan *s = spanof((uintptr_t)p[0]);
	kspan_drain_cpu();
	assert_int_equal(s->owner, KS_NO_OWNER);
	assert_int_equal(s->list, MSPAN_ON_EMPTY);     /* full */
	kfree(p[3]);
	kspan_drain_cpu();                             /* flush the queue */
	assert_int_equal(s->list, MSPAN_ON_NONEMPTY);
	assert_ptr_equal(ks_mcentral[sc].nonempty, s);
	assert_int_equal(s->nfree, 1);
	/* The next allocation of the class takes that span and that object. */
	void *q = kmalloc(2048);
	assert_ptr_equal(q, p[3]);
	assert_int_equal(s->list, MSPAN_ON_EMPTY);
	p[3] = q;
	for (int i = 0; i < 8; i++)
		kfree(p[i]);
	mcentral_check(&ks_mcentral[sc]);
	kspan_drain_cpu();
}

static struct {
	void *obj[100];
	pthread_mutex_t lock;
} shared = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *owner_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		shared.obj[i] = kmalloc(48);
	/* The span is owned by this thread's slot; stay alive while main
	 * frees remotely, then drain at exit. */
	pthread_mutex_lock(&shared.lock);
	pthread_mutex_unlock(&shared.lock);
	return NULL;
}

static void test_remote_frees(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	pthread_mutex_lock(&shared.lock);
	pthread_t t;
	pthread_create(&t, NULL, owner_thread, NULL);
	while (!__atomic_load_n(&shared.obj[99], __ATOMIC_ACQUIRE))
		;
	struct mspan *s = spanof((uintptr_t)shared.obj[0]);
	assert_true(s->owner != KS_NO_OWNER && s->owner != (int)ks_plat_cpu_id());
	for (int i = 0; i < 100; i++)
		kfree(shared.obj[i]);
	kspan_drain_cpu();            /* flush: they land in remotebits */
	assert_int_equal(__atomic_load_n(&s->nremote, __ATOMIC_ACQUIRE), 100);
	pthread_mutex_unlock(&shared.lock);
	pthread_join(t, NULL);        /* owner drains: remote bits merge */
	assert_int_equal(heap_free_pages(), before);
}

static void test_tiny(void **state)
{
	(void)state;
	/* Sixteen 1-byte objects fit one 16-byte block. */
	uintptr_t first = (uintptr_t)ks_tiny_alloc(1);
	uintptr_t block = first & ~(uintptr_t)15;
	int same = 1;
	for (int i = 1; i < 16; i++) {
		uintptr_t p = (uintptr_t)ks_tiny_alloc(1);
		same += (p & ~(uintptr_t)15) == block;
	}
	assert_true(same >= 15 - (int)(first - block));
	/* Alignment by size: 8-byte objects 8-aligned, 4-byte 4-aligned. */
	for (int i = 0; i < 50; i++) {
		assert_int_equal((uintptr_t)ks_tiny_alloc(8) % 8, 0);
		assert_int_equal((uintptr_t)ks_tiny_alloc(4) % 4, 0);
		assert_int_equal((uintptr_t)ks_tiny_alloc(6) % 2, 0);
		assert_non_null(ks_tiny_alloc(3));
	}
	assert_null(ks_tiny_alloc(16));
	assert_null(ks_tiny_alloc(0));
	/* Tiny blocks are collector-managed: they stay allocated here. */
	kspan_drain_cpu();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_and_refill),
		cmocka_unit_test(test_queued_frees_batch),
		cmocka_unit_test(test_queued_frees_reused),
		cmocka_unit_test(test_double_free_in_queue),
		cmocka_unit_test(test_partial_span_goes_to_nonempty),
		cmocka_unit_test(test_remote_frees),
		cmocka_unit_test(test_tiny),
	};
	return KS_TEST_MAIN("mcache", tests, heap_fixture_setup, NULL);
}
