/*
 * The heap bitmap (mm/mbitmap.h) on its own: where each chunk's words
 * live, and the writers against a word-by-word model, for random types
 * (pointer maps of 1 to 150 words, repeated for arrays), object lengths
 * and positions, with the neighbouring words' bits checked untouched.
 * Randomised from the run's seed; every assertion holds for any seed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/gc.h>
#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mheap.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define SPAN_PAGES 4
#define SPAN_WORDS (SPAN_PAGES * KS_PAGE_SIZE / 8)

static bool bit_of(uintptr_t addr)
{
	uintptr_t w = (addr - ks_arena.arena_start) / 8;
	return (*heapbits_word(w / 64) >> (w % 64)) & 1;
}

static void test_layout(void **state)
{
	(void)state;
	struct mspan *s = mheap_alloc(1, 1);
	assert_non_null(s);
	uintptr_t k = heapbits_chunk(s->base);
	/* Chunk k: the 16 bytes below bitmap - 16k, pointer word first. */
	assert_ptr_equal(heapbits_word(k), (uint64_t *)(ks_arena.bitmap - 16 * (k + 1)));
	assert_ptr_equal(heapbits_side(k), (uint64_t *)(ks_arena.bitmap - 16 * k) - 1);
	assert_int_equal(heapbits_chunk(s->base + 511), k);
	assert_int_equal(heapbits_chunk(s->base + 512), k + 1);
	/* Inside the space the arena reserved (2 bits per word). */
	uintptr_t last = heapbits_chunk(ks_arena.arena_end - 8);
	assert_true((uint8_t *)heapbits_word(last) >= ks_arena.bitmap - ks_arena.bitmap_bytes);
	assert_int_equal(ks_arena.bitmap_bytes, (ks_arena.arena_end - ks_arena.arena_start) / 32);
	/* A page's state and its span's sweep generation are side words of
	 * its first two chunks. */
	uintptr_t p = arena_page(s->base);
	assert_ptr_equal(gcpage_state(p), heapbits_side(k));
	assert_ptr_equal(gcspan_sweepgen(p), heapbits_side(k + 1));
	mheap_free(s);
}

/* A random type of period words (at least one pointer word). */
static struct kgc_type random_type(uint64_t *rng, uint8_t *mask, uintptr_t period)
{
	memset(mask, 0, (period + 7) / 8);
	for (uintptr_t i = 0; i < period; i++)
		if (ks_test_rand(rng) % 3 == 0)
			mask[i / 8] |= (uint8_t)(1u << (i % 8));
	mask[0] |= 1;
	struct kgc_type t = { period * 8 - ks_test_rand(rng) % 8, mask, "random" };
	return t;
}

static bool model_bit(const struct kgc_type *t, uintptr_t i, uintptr_t req)
{
	if (i >= req)
		return false;
	if (!t)
		return true;
	uintptr_t period = (t->size + 7) / 8, j = i % period;
	return (t->ptrmask[j / 8] >> (j % 8)) & 1;
}

static void test_writers_against_model(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(__LINE__);
	struct mspan *s = mheap_alloc(SPAN_PAGES, 1);
	assert_non_null(s);
	static uint8_t mask[32];
	static bool before[SPAN_WORDS];
	for (int round = 0; round < 3000; round++) {
		/* Random bits everywhere first, to see what a write leaves. */
		for (uintptr_t c = 0; c < SPAN_WORDS / 64; c++)
			*heapbits_word(heapbits_chunk(s->base) + c) = ks_test_rand(&rng);
		for (uintptr_t i = 0; i < SPAN_WORDS; i++)
			before[i] = bit_of(s->base + 8 * i);
		uintptr_t period = 1 + ks_test_rand(&rng) % (round % 4 ? 64 : 150);
		struct kgc_type t = random_type(&rng, mask, period);
		const struct kgc_type *tp = ks_test_rand(&rng) % 8 ? &t : NULL;
		uintptr_t objw = 1 + ks_test_rand(&rng) % (round % 2 ? 64 : 700);
		uintptr_t req = 1 + ks_test_rand(&rng) % objw;
		uintptr_t at = ks_test_rand(&rng) % (SPAN_WORDS - objw + 1);
		uintptr_t addr = s->base + 8 * at;
		uint64_t bits;
		if (objw <= 64 && (!tp || heapbits_pattern64(tp, &bits))) {
			if (!tp)
				bits = ~0ull;
			heapbits_write_small(addr, objw, bits & heapbits_low(req));
			assert_int_equal(heapbits_read_small(addr, objw), bits & heapbits_low(req));
		} else {
			heapbits_set_object(addr, objw, req, tp);
		}
		for (uintptr_t i = 0; i < SPAN_WORDS; i++) {
			bool want = i >= at && i < at + objw ? model_bit(tp, i - at, req) : before[i];
			if (bit_of(s->base + 8 * i) != want)
				fail_msg("round %d: word %lu of an object of %lu words (%lu typed, "
				         "period %lu, at %lu): bit %d", round, (unsigned long)(i - at),
				         (unsigned long)objw, (unsigned long)req, (unsigned long)period,
				         (unsigned long)at, (int)!want);
		}
	}
	heapbits_clear(s->base, SPAN_WORDS);
	for (uintptr_t i = 0; i < SPAN_WORDS; i++)
		assert_false(bit_of(s->base + 8 * i));
	mheap_free(s);
}

static void test_pattern64(void **state)
{
	(void)state;
	static const uint8_t one[1] = { 0x1 };
	struct kgc_type ptrs = { 8, one, "pointer" };
	uint64_t bits;
	assert_true(heapbits_pattern64(&ptrs, &bits));
	assert_int_equal(bits, ~0ull);   /* an array of pointers */
	static const uint8_t m3[1] = { 0x5 };
	struct kgc_type three = { 24, m3, "three" };   /* words 0 and 2 of 3 */
	assert_true(heapbits_pattern64(&three, &bits));
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal((bits >> i) & 1, i % 3 != 1);
	static uint8_t big[9];
	struct kgc_type wide = { 65 * 8, big, "wide" };
	assert_false(heapbits_pattern64(&wide, &bits));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_writers_against_model),
		cmocka_unit_test(test_pattern64),
	};
	return KS_TEST_MAIN("gc_bitmap", tests, heap_fixture_setup, NULL);
}
