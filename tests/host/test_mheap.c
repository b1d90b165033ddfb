/*
 * The page heap on its own: split, best fit (lists and treap), coalescing
 * with both neighbours, alignment, growth, scavenging, and the validator
 * catching a corrupted spans array.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/host/platform.h"
#include "mm/arena.h"
#include "mm/mcentral.h"
#include "mm/mheap.h"
#include "mm/mtreap.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static struct mspan *alloc_pages(uintptr_t n)
{
	struct mspan *s = mheap_alloc(n, 1);
	assert_non_null(s);
	assert_int_equal(s->npages, n);
	assert_int_equal(s->state, MSPAN_INUSE);
	for (uintptr_t i = 0; i < n; i++)
		assert_ptr_equal(spanof(s->base + i * KS_PAGE_SIZE + 100), s);
	return s;
}

static void test_split_and_coalesce(void **state)
{
	(void)state;
	uint64_t free0 = mheap_free_pages_total();
	struct mspan *a = alloc_pages(3), *b = alloc_pages(5), *c = alloc_pages(2);
	/* Split: consecutive allocations come from one free span, in order. */
	assert_int_equal(b->base, a->base + 3 * KS_PAGE_SIZE);
	assert_int_equal(c->base, b->base + 5 * KS_PAGE_SIZE);
	uintptr_t abase = a->base;
	mheap_check();
	mheap_free(a);
	mheap_free(c);            /* c merges with the free rest after it */
	mheap_check();
	mheap_free(b);            /* b merges with both neighbours */
	mheap_check();
	struct mspan *all = spanof(abase);
	assert_non_null(all);
	assert_int_equal(all->state, MSPAN_FREE);
	assert_int_equal(all->base, abase);
	assert_int_equal(mheap_free_pages_total(), free0);
	/* One free span covers everything used so far. */
	assert_int_equal(all->npages, (ks_arena.arena_used - abase) >> KS_PAGE_SHIFT);
}

static void test_best_fit_lists(void **state)
{
	(void)state;
	/* Free holes of 5, 3 and 8 pages between in-use guards. */
	struct mspan *g[4], *h5, *h3, *h8;
	g[0] = alloc_pages(1);
	h5 = alloc_pages(5);
	g[1] = alloc_pages(1);
	h3 = alloc_pages(3);
	g[2] = alloc_pages(1);
	h8 = alloc_pages(8);
	g[3] = alloc_pages(1);
	uintptr_t b5 = h5->base, b3 = h3->base, b8 = h8->base;
	mheap_free(h5);
	mheap_free(h3);
	mheap_free(h8);
	mheap_check();
	struct mspan *x = alloc_pages(3);
	assert_int_equal(x->base, b3);         /* exact fit */
	struct mspan *y = alloc_pages(4);
	assert_int_equal(y->base, b5);         /* smallest that fits: 5 */
	struct mspan *z = alloc_pages(6);
	assert_int_equal(z->base, b8);         /* then 8 */
	mheap_check();
	mheap_free(x);
	mheap_free(y);
	mheap_free(z);
	for (int i = 0; i < 4; i++)
		mheap_free(g[i]);
	mheap_check();
}

static void test_best_fit_treap(void **state)
{
	(void)state;
	struct mspan *g[4], *h[3];
	uintptr_t sizes[3] = { 300, 150, 200 }, base[3];
	for (int i = 0; i < 3; i++) {
		g[i] = alloc_pages(1);
		h[i] = alloc_pages(sizes[i]);
		base[i] = h[i]->base;
	}
	g[3] = alloc_pages(1);
	for (int i = 0; i < 3; i++)
		mheap_free(h[i]);
	mheap_check();
	struct mspan *x = alloc_pages(160);
	assert_int_equal(x->base, base[2]);    /* 200 is the best fit */
	struct mspan *y = alloc_pages(140);
	assert_int_equal(y->base, base[1]);    /* 150 */
	struct mspan *z = alloc_pages(290);
	assert_int_equal(z->base, base[0]);    /* 300 */
	mheap_free(x);
	mheap_free(y);
	mheap_free(z);
	for (int i = 0; i < 4; i++)
		mheap_free(g[i]);
	mheap_check();
}

static void test_alignment(void **state)
{
	(void)state;
	struct mspan *pad = alloc_pages(1);
	for (uintptr_t align = 1; align <= 512; align <<= 1) {
		struct mspan *s = mheap_alloc(3, align);
		assert_non_null(s);
		assert_int_equal(s->base % (align * KS_PAGE_SIZE), 0);
		mheap_check();
		mheap_free(s);
	}
	mheap_free(pad);
	mheap_check();
}

static void test_scavenge_returns_memory(void **state)
{
	(void)state;
	mheap_scavenge(0);                     /* no free memory committed */
	size_t before = ks_host_committed();
	struct mspan *s = alloc_pages(5120);   /* 40 MiB */
	memset((void *)s->base, 0x77, 5120 * KS_PAGE_SIZE);
	assert_true(ks_host_committed() >= before + 5120 * KS_PAGE_SIZE);
	uint64_t scav0 = ks_mheap.pages_scavenged_total;
	mheap_free(s);
	/* Over the 8 MiB threshold: decommitted down to half of it. */
	assert_true(ks_mheap.pages_free_committed <= ks_mheap.scav_threshold / 2);
	assert_true(ks_mheap.pages_scavenged_total > scav0);
	assert_true(ks_host_committed() < before + (8u << 20));
	mheap_check();
	/* Scavenging stops at the target: the head of the span stays warm. */
	assert_int_equal(ks_mheap.pages_free_committed, ks_mheap.scav_threshold / 2);
	assert_true(mheap_scavenge(0) > 0);
	assert_int_equal(ks_mheap.pages_free_committed, 0);
	/* Memory that comes back after a decommit reads as zero. */
	s = alloc_pages(5120);
	for (uintptr_t off = 0; off < 5120 * KS_PAGE_SIZE; off += 4096)
		assert_int_equal(((unsigned char *)s->base)[off], 0);
	mheap_free(s);
	mheap_check();
}

/* A heap that frees more than the threshold with no span allocated in
 * between is shrinking: it keeps an eighth of the threshold.  One that
 * frees and allocates in turn keeps what it reuses: nothing is
 * scavenged. */
static void test_scavenge_when_shrinking(void **state)
{
	(void)state;
	enum { N = 24, PAGES = 64 };   /* 24 spans of 512 KiB: 12 MiB */
	struct mspan *s[N];
	mheap_scavenge(0);
	uintptr_t limit = ks_mheap.scav_threshold;   /* 8 MiB: 1024 pages */
	for (int i = 0; i < N; i++) {
		s[i] = alloc_pages(PAGES);
		memset((void *)s[i]->base, 0x5a, PAGES * KS_PAGE_SIZE);
	}
	/* Turns of free and allocate: the freed pages are reused warm. */
	uint64_t scav0 = ks_mheap.pages_scavenged_total;
	for (int k = 0; k < 200; k++) {
		int i = k % N;
		mheap_free(s[i]);
		s[i] = alloc_pages(PAGES);
		assert_false(s[i]->needzero == 0 && k > 0);   /* warm: reused */
	}
	assert_int_equal(ks_mheap.pages_scavenged_total, scav0);
	mheap_check();
	/* Now free everything: past the threshold it is a shrinking heap. */
	size_t before = ks_host_committed();
	for (int i = 0; i < N; i++)
		mheap_free(s[i]);
	mheap_check();
	assert_true(ks_mheap.pages_freed_run > limit);
	assert_true(ks_mheap.pages_free_committed <= limit / 8);
	assert_true(ks_mheap.pages_scavenged_total > scav0);
	assert_true(before - ks_host_committed() >=
	            (N * PAGES - limit / 8) * KS_PAGE_SIZE);
	/* An allocation ends the run. */
	struct mspan *t = alloc_pages(1);
	assert_int_equal(ks_mheap.pages_freed_run, 0);
	mheap_free(t);
	mheap_check();
}

static void test_out_of_arena(void **state)
{
	(void)state;
	uintptr_t total = (ks_arena.arena_end - ks_arena.arena_start) >> KS_PAGE_SHIFT;
	assert_null(mheap_alloc(total + 1, 1));
	assert_null(mheap_alloc(0, 1));
	assert_null(mheap_alloc(1, 3));
	/* The whole arena in one span, then nothing more fits. */
	struct mspan *s = mheap_alloc(total, 1);
	assert_non_null(s);
	assert_null(mheap_alloc(1, 1));
	mheap_free(s);
	mheap_scavenge(0);
	assert_int_equal(mheap_largest_free(), total);
	mheap_check();
}

static void test_out_of_memory(void **state)
{
	(void)state;
	ks_host_set_commit_limit(ks_host_committed() + (4u << 20));
	uint64_t free0 = mheap_free_pages_total();
	struct mspan *ok = mheap_alloc(256, 1);     /* 2 MiB fits */
	assert_non_null(ok);
	assert_null(mheap_alloc(1024, 1));          /* 8 MiB does not */
	mheap_check();                              /* nothing half-done */
	mheap_free(ok);
	ks_host_set_commit_limit(0);
	assert_int_equal(mheap_free_pages_total(), free0);
	mheap_check();
}

/* An aligned allocation that fails after choosing its run must leave the
 * span as it was: no uncoalesced pieces (found by the fuzzer). */
static void test_aligned_out_of_memory(void **state)
{
	(void)state;
	struct mspan *pad = alloc_pages(3);       /* unaligned free space after */
	mheap_scavenge(0);
	ks_host_set_commit_limit(ks_host_committed() + (1u << 20));
	for (uintptr_t align = 2; align <= 256; align <<= 1)
		assert_null(mheap_alloc(512, align)); /* 4 MiB: too much memory */
	mheap_check();
	ks_host_set_commit_limit(0);
	struct mspan *ok = mheap_alloc(512, 16);
	assert_non_null(ok);
	assert_int_equal(ok->base % (16 * KS_PAGE_SIZE), 0);
	mheap_free(ok);
	mheap_free(pad);
	mheap_check();
}

static void test_extend_in_place(void **state)
{
	(void)state;
	struct mspan *a = alloc_pages(4), *b = alloc_pages(2);
	uintptr_t abase = a->base;
	/* b is in use right after a: no room. */
	assert_false(mheap_extend(a, 6));
	assert_int_equal(a->npages, 4);
	/* b extends into the free pages after it (or the arena's end). */
	assert_true(mheap_extend(b, 40));
	assert_int_equal(b->npages, 40);
	for (uintptr_t i = 0; i < 40; i++)
		assert_ptr_equal(spanof(b->base + i * KS_PAGE_SIZE), b);
	memset((void *)b->base, 1, 40 * KS_PAGE_SIZE);   /* all committed */
	mheap_check();
	mheap_free(b);
	assert_true(mheap_extend(a, 10));       /* now a can grow */
	assert_int_equal(a->base, abase);
	mheap_check();
	mheap_free(a);
	mheap_check();
}

/* An extension whose commit fails part way (the first decommitted run of
 * the free neighbour committed, the second refused) leaves the heap's
 * count of committed free pages true (found by the fuzzer: a krealloc of
 * a large object under a commit limit). */
static void test_extend_commit_fails_part_way(void **state)
{
	(void)state;
	struct mspan *a = alloc_pages(1), *b1 = alloc_pages(2), *b2 = alloc_pages(2),
	             *b3 = alloc_pages(4), *g = alloc_pages(1);
	assert_int_equal(b1->base, mspan_end(a));
	assert_int_equal(b2->base, mspan_end(b1));
	assert_int_equal(b3->base, mspan_end(b2));
	assert_int_equal(g->base, mspan_end(b3));
	mheap_free(b1);
	mheap_free(b3);
	mheap_scavenge(0);         /* b1's and b3's pages decommitted */
	mheap_free(b2);            /* one free span: cold 2, warm 2, cold 4 */
	struct mspan *n = spanof(mspan_end(a));
	assert_int_equal(n->npages, 8);
	assert_int_equal(n->nscav, 6);
	mheap_check();
	ks_host_set_commit_limit(ks_host_committed() + 3 * KS_PAGE_SIZE);
	assert_false(mheap_extend(a, 9));   /* commits the first 2, not the 4 */
	ks_host_set_commit_limit(0);
	assert_int_equal(n->nscav, 4);
	mheap_check();
	assert_true(mheap_extend(a, 9));
	mheap_check();
	mheap_free(a);
	mheap_free(g);
	mheap_check();
}

/* The treap against a linear scan, with fake spans. */
static void test_treap_model(void **state)
{
	(void)state;
	enum { N = 500 };
	static struct mspan node[N];
	static int in[N];
	struct mtreap t = { 0 };
	uint64_t rng = ks_test_rng(__LINE__);
	for (int i = 0; i < N; i++) {
		node[i].npages = 128 + ks_test_rand(&rng) % 64;
		node[i].base = (uintptr_t)i << 20;
		node[i].state = MSPAN_FREE;
		node[i].list = MSPAN_ON_HEAP_TREAP;
	}
	for (int step = 0; step < 20000; step++) {
		int i = (int)(ks_test_rand(&rng) % N);
		if (in[i])
			mtreap_remove(&t, &node[i]);
		else
			mtreap_insert(&t, &node[i]);
		in[i] = !in[i];
		uintptr_t want = 128 + ks_test_rand(&rng) % 70;
		struct mspan *best = NULL;
		for (int k = 0; k < N; k++)
			if (in[k] && node[k].npages >= want &&
			    (!best || node[k].npages < best->npages ||
			     (node[k].npages == best->npages && node[k].base < best->base)))
				best = &node[k];
		assert_ptr_equal(mtreap_best_fit(&t, want), best);
		if (step % 1000 == 0)
			mtreap_check(&t);
	}
	mtreap_check(&t);
}

/* arena_count_committed, a word of bits at a time, against a page at a
 * time, over seeded ranges of a span whose pages are committed in a seeded
 * pattern (decommitted through the arena behind the heap's back, then
 * committed again before the span goes back). */
static void test_count_committed(void **state)
{
	(void)state;
	enum { N = 700 };
	uint64_t rng = ks_test_rng(__LINE__);
	struct mspan *s = alloc_pages(N);
	uintptr_t first = arena_page(s->base);
	for (int i = 0; i < 200; i++) {
		uintptr_t at = ks_test_rand(&rng) % N;
		arena_decommit_pages(first + at, 1 + ks_test_rand(&rng) % (N - at < 40 ? N - at : 40));
	}
	for (int step = 0; step < 5000; step++) {
		uintptr_t from = ks_test_rand(&rng) % N;
		uintptr_t n = ks_test_rand(&rng) % (N - from + 1);
		uintptr_t want = 0;
		for (uintptr_t p = first + from; p < first + from + n; p++)
			want += (uintptr_t)arena_page_committed(p);
		assert_int_equal(arena_count_committed(first + from, n), want);
	}
	assert_true(arena_commit_pages(first, N) > 0);
	assert_int_equal(arena_count_committed(first, N), N);
	mheap_free(s);
	mheap_check();
}

static void corrupt_spans(void *arg)
{
	(void)arg;
	struct mspan *s = alloc_pages(4);
	ks_arena.spans[arena_page(s->base) + 2] = NULL;
	mheap_check();
}

static void test_check_catches_corruption(void **state)
{
	(void)state;
	ks_expect_abort(corrupt_spans, NULL, "maps elsewhere");
}

/* Debug builds check the lock order: mcentral before mheap, never after. */
static void wrong_lock_order(void *arg)
{
	(void)arg;
	ks_irqstate_t st = ks_spin_lock_irqsave(&ks_mheap.lock);
	ks_spin_lock(&ks_mcentral[3].lock);
	ks_spin_unlock(&ks_mcentral[3].lock);
	ks_spin_unlock_irqrestore(&ks_mheap.lock, st);
}

static void test_lock_order_checked(void **state)
{
	(void)state;
	ks_expect_abort(wrong_lock_order, NULL, "lock order violated");
	/* The right order passes. */
	ks_irqstate_t st = ks_spin_lock_irqsave(&ks_mcentral[3].lock);
	ks_spin_lock(&ks_mheap.lock);
	ks_spin_unlock(&ks_mheap.lock);
	ks_spin_unlock_irqrestore(&ks_mcentral[3].lock, st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_coalesce),
		cmocka_unit_test(test_best_fit_lists),
		cmocka_unit_test(test_best_fit_treap),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_scavenge_returns_memory),
		cmocka_unit_test(test_scavenge_when_shrinking),
		cmocka_unit_test(test_out_of_arena),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_aligned_out_of_memory),
		cmocka_unit_test(test_extend_in_place),
		cmocka_unit_test(test_extend_commit_fails_part_way),
		cmocka_unit_test(test_treap_model),
		cmocka_unit_test(test_count_committed),
		cmocka_unit_test(test_check_catches_corruption),
		cmocka_unit_test(test_lock_order_checked),
	};
	return KS_TEST_MAIN("mheap", tests, heap_fixture_setup, NULL);
}
