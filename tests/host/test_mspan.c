/*
 * A span's object bookkeeping (free bits, the word an owner allocates
 * from, object indices by multiply), tested on their own.  Randomised
 * parts (the key, the word picked) come from the run's seed; every
 * assertion holds for any seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/bits.h"
#include "mm/arena.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/mheap.h"
#include "mm/mspan.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static struct mcentral *central_of(unsigned cls)
{
	return &ks_mcentral[ks_make_spanclass(cls, true)];
}

static struct mspan *small_span(unsigned cls, uint8_t key)
{
	struct mcentral *c = central_of(cls);
	struct mspan *s = mheap_alloc(c->npages, 1);
	assert_non_null(s);
	mspan_init_small(s, c, key);
	return s;
}

/* Take every object of s the way an owner does (a word at a time, the
 * lowest set bit first); returns how often an object came out below the
 * one before it. */
static unsigned take_all(struct mspan *s, uint64_t *rng)
{
	struct mcache_class pc;
	mcache_class_init(&pc, s->central, 0);
	pc.cur = s;
	unsigned taken = 0, descents = 0;
	uintptr_t last = 0;
	uint64_t seen[KS_FREE_WORDS] = { 0 };
	while (mspan_pick_word(s, ks_test_rand(rng), 1)) {
		pc.word = &s->freebits[s->curword];
		pc.base = s->base + (uintptr_t)s->curword * 64 * s->elemsize;
		pc.key = s->key;
		uintptr_t p;
		while ((p = (uintptr_t)mcache_take(&pc)) != 0) {
			assert_true(p >= s->base && p - s->base < s->limit);
			bool exact;
			uintptr_t idx = mspan_index(s, p - s->base, &exact);
			assert_true(exact);
			assert_int_equal(idx * s->elemsize, p - s->base);
			assert_false(seen[idx / 64] >> (idx % 64) & 1);   /* once */
			seen[idx / 64] |= 1ull << (idx % 64);
			if (taken && p < last)
				descents++;
			last = p;
			taken++;
		}
	}
	assert_int_equal(taken, s->nelems);
	assert_int_equal(mspan_count_free(s), 0);
	return descents;
}

static void test_init_every_class(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(__LINE__);
	unsigned descents = 0;
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		struct mspan *s = small_span(cls, (uint8_t)ks_test_rand(&rng));
		assert_int_equal(s->nfree, ks_class_to_nelems[cls]);
		assert_int_equal(s->elemsize, ks_class_to_size[cls]);
		assert_int_equal(s->limit, (uintptr_t)s->nelems * s->elemsize);
		mspan_check(s);
		s->owner = 0;
		descents += take_all(s, &rng);
		/* Free them all again; every bit comes back. */
		for (uint32_t i = 0; i < s->nelems; i++)
			mspan_free_bit(s, i, s->base + (uintptr_t)i * s->elemsize, "kfree");
		s->owner = KS_NO_OWNER;
		assert_int_equal(mspan_count_free(s), s->nelems);
		mspan_check(s);
		mheap_free(s);
	}
	mheap_check();
	/* Randomised order: objects do not all come out in address order
	 * (a descent at least at every second word; failing this needs every
	 * key and word pick of 66 classes to line up: no seed does). */
	assert_true(KSPAN_RANDOMIZE ? descents > 0 : descents == 0);
}

/* The multiply of mspan_index against division, for every offset of
 * every class's span. */
static void test_index_by_multiply(void **state)
{
	(void)state;
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		struct mcentral *c = central_of(cls);
		struct mspan s = { .divmagic = c->divmagic };
		uintptr_t limit = (uintptr_t)c->nelems * c->elemsize;
		for (uintptr_t off = 0; off < limit; off++) {
			bool exact;
			uintptr_t idx = mspan_index(&s, off, &exact);
			if (idx != off / c->elemsize || exact != (off % c->elemsize == 0))
				fail_msg("class %u (%u B): offset %lu gives index %lu%s",
				         cls, (unsigned)c->elemsize, (unsigned long)off,
				         (unsigned long)idx, exact ? " (exact)" : "");
		}
	}
	/* Object caches use any size: spot-check odd ones up to 2^32. */
	static const uint32_t sizes[] = { 24, 40, 72, 200, 1000, 4104, 65544, 1u << 20 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct mspan s = { .divmagic = ks_divmagic(sizes[i]) };
		for (uint64_t k = 0; k < 1000; k++)
			for (int d = -1; d <= 1; d++) {
				uint64_t off = k * sizes[i] + (uint64_t)(d + 1) * 7;
				if (off >= (1ull << 32))
					continue;
				bool exact;
				uintptr_t idx = mspan_index(&s, off, &exact);
				assert_int_equal(idx, off / sizes[i]);
				assert_int_equal(exact, off % sizes[i] == 0);
			}
	}
}

static void double_free_bit(void *arg)
{
	(void)arg;
	struct mspan *s = small_span(3, 0);
	s->owner = 0;
	take_all(s, &(uint64_t){ 1 });
	mspan_free_bit(s, 7, s->base + 7 * s->elemsize, "kfree");
	mspan_free_bit(s, 7, s->base + 7 * s->elemsize, "kfree");
}

static void test_free_bit_detects_double_free(void **state)
{
	(void)state;
	ks_expect_abort(double_free_bit, NULL, "double free");
}

static void corrupt_count(void *arg)
{
	(void)arg;
	struct mspan *s = small_span(9, 0);
	s->nfree--;
	mspan_check(s);
}

static void test_check_catches_bad_count(void **state)
{
	(void)state;
	ks_expect_abort(corrupt_count, NULL, "nfree");
}

static void stray_bit(void *arg)
{
	(void)arg;
	struct mspan *s = small_span(31, 5);   /* 1024 B: 8 objects, one word */
	uint64_t f = s->freebits[0];
	unsigned b = 0;
	while (f >> b & 1)
		b++;
	s->freebits[0] |= 1ull << b;             /* a bit of no object */
	mspan_check(s);
}

static void test_check_catches_stray_bit(void **state)
{
	(void)state;
	ks_expect_abort(stray_bit, NULL, "beyond the last object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_every_class),
		cmocka_unit_test(test_index_by_multiply),
		cmocka_unit_test(test_free_bit_detects_double_free),
		cmocka_unit_test(test_check_catches_bad_count),
		cmocka_unit_test(test_check_catches_stray_bit),
	};
	return KS_TEST_MAIN("mspan", tests, heap_fixture_setup, NULL);
}
