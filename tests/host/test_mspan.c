/*
 * A span's object bookkeeping (free bits, the allocation word, remote
 * frees) and the Go 1.10 heap bitmap, tested on their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mheap.h"
#include "mm/mspan.h"
#include "mm/mcache.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static struct mspan *small_span(unsigned cls)
{
	struct mspan *s = mheap_alloc(ks_class_to_npages[cls], 1);
	assert_non_null(s);
	mspan_init_small(s, ks_make_spanclass(cls, true));
	return s;
}

static void test_init_every_class(void **state)
{
	(void)state;
	unsigned descents = 0;   /* objects handed out below the one before */
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		struct mspan *s = small_span(cls);
		assert_int_equal(s->nfree, ks_class_to_nelems[cls]);
		assert_int_equal(s->elemsize, ks_class_to_size[cls]);
		mspan_check(s);
		/* Take every object through the allocation word. */
		s->owner = 0;
		unsigned taken = 0;
		uintptr_t last = 0;
		uint64_t seen[KS_FREE_WORDS] = { 0 };
		while (s->allocCache || mspan_load_word(s)) {
			uintptr_t p = (uintptr_t)mcache_take(s);
			assert_true(p >= s->base && p + s->elemsize <= mspan_end(s));
			uint32_t idx = mspan_obj_index(s, p);
			assert_int_equal(idx * s->elemsize, p - s->base);
			assert_false(seen[idx / 64] >> (idx % 64) & 1);   /* once */
			seen[idx / 64] |= 1ull << (idx % 64);
			if (taken && p < last)
				descents++;
			last = p;
			taken++;
		}
		assert_int_equal(taken, s->nelems);
		mspan_release_word(s);
		s->owner = KS_NO_OWNER;
		mspan_count_free(s);
		assert_int_equal(s->nfree, 0);
		mheap_free(s);
	}
	mheap_check();
	/* Randomised order: objects do not come out in address order. */
	assert_true(KSPAN_RANDOMIZE ? descents > 0 : descents == 0);
}

static void test_free_bits_and_remote(void **state)
{
	(void)state;
	struct mspan *s = small_span(1);   /* 8 B: 1024 objects, 16 words */
	s->owner = 3;
	assert_true(mspan_load_word(s));
	/* Whichever word the (randomised) load picked is now allocCache:
	 * take all of it, and all of another word w. */
	unsigned cw = s->curword, w = (cw + 5) % s->nwords;
	assert_int_equal(s->freebits[cw], 0);
	s->allocCache = 0;
	s->freebits[w] = 0;
	/* A remote free of object w*64+7, then the merge puts it back. */
	s->remotebits[w] |= 1ull << 7;
	s->nremote = 1;
	assert_true(mspan_obj_is_free(s, w * 64 + 7));
	assert_false(mspan_obj_is_free(s, w * 64 + 8));
	assert_false(mspan_obj_is_free(s, cw * 64 + 7));
	mspan_merge_remote(s);
	assert_int_equal(s->nremote, 0);
	assert_int_equal(s->freebits[w], 1ull << 7);
	mspan_release_word(s);
	s->owner = KS_NO_OWNER;
	mspan_count_free(s);
	assert_int_equal(s->nfree, 1024 - 64 - 63);
	mspan_check(s);
	s->freebits[w] = ~0ull;
	s->freebits[cw] = ~0ull;
	mspan_count_free(s);
	mheap_free(s);
}

static void remote_double(void *arg)
{
	(void)arg;
	struct mspan *s = small_span(3);
	s->owner = 1;
	/* Object 2 is free in freebits and also freed remotely. */
	s->remotebits[0] |= 1ull << 2;
	s->nremote = 1;
	mspan_merge_remote(s);
}

static void test_merge_detects_double_free(void **state)
{
	(void)state;
	ks_expect_abort(remote_double, NULL, "double free");
}

static void corrupt_count(void *arg)
{
	(void)arg;
	struct mspan *s = small_span(9);
	s->nfree--;
	mspan_check(s);
}

static void test_check_catches_bad_count(void **state)
{
	(void)state;
	ks_expect_abort(corrupt_count, NULL, "nfree");
}

/* Heap bitmap: Go 1.10's layout, backwards from the arena start. */
static void test_heap_bitmap_layout(void **state)
{
	(void)state;
	struct mspan *s = mheap_alloc(1, 1);
	uintptr_t a = s->base;
	uintptr_t w = (a - ks_arena.arena_start) / 8;
	struct heapbits h = heapbits_for(a);
	assert_ptr_equal(h.byte, ks_arena.bitmap - w / 4 - 1);
	assert_int_equal(h.shift, w & 3);
	/* Object of 10 words, pointers at words 1, 4 and 6. */
	uint8_t mask[2] = { (1 << 1) | (1 << 4) | (1 << 6), 0 };
	heapbits_set_object(a, 10, mask);
	struct heapbits it = heapbits_for(a);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(heapbits_is_pointer(it), i == 1 || i == 4 || i == 6);
		assert_int_equal(heapbits_is_scan(it), i <= 6);
		assert_true(heapbits_for(a + 8 * i).byte == it.byte &&
		            heapbits_for(a + 8 * i).shift == it.shift);
		it = heapbits_next(it);
	}
	/* Neighbouring words untouched. */
	assert_false(heapbits_is_pointer(heapbits_for(a + 80)));
	assert_false(heapbits_is_scan(heapbits_for(a + 80)));
	/* NULL mask: every word a pointer. */
	heapbits_set_object(a + 128, 3, NULL);
	for (unsigned i = 0; i < 3; i++)
		assert_true(heapbits_is_pointer(heapbits_for(a + 128 + 8 * i)));
	heapbits_clear(a, 20);
	for (unsigned i = 0; i < 20; i++) {
		assert_false(heapbits_is_pointer(heapbits_for(a + 8 * i)));
		assert_false(heapbits_is_scan(heapbits_for(a + 8 * i)));
	}
	/* One byte per 4 words: the bitmap is 1/32 of the arena. */
	assert_int_equal(ks_arena.bitmap_bytes, (ks_arena.arena_end - ks_arena.arena_start) / 32);
	mheap_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_every_class),
		cmocka_unit_test(test_free_bits_and_remote),
		cmocka_unit_test(test_merge_detects_double_free),
		cmocka_unit_test(test_check_catches_bad_count),
		cmocka_unit_test(test_heap_bitmap_layout),
	};
	return KS_TEST_MAIN("mspan", tests, heap_fixture_setup, NULL);
}
