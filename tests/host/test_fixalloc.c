/*
 * The metadata pool on its own (mm/fixalloc.c): it holds the max objects
 * it was made for, hands out zeroed objects that never overlap, gives
 * emptied chunks back to the platform (all but one, and all but each
 * one's first page), reuses them, and stops on a pointer that is not one
 * of its objects.  The random mix runs from the run's seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/host/platform.h"
#include "mm/fixalloc.h"
#include "mm/mcache.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define PAGE 4096u

/* A metadata pool holds the max objects it was made for, whatever their
 * size: objects do not straddle chunks, so a chunk's tail is lost (with
 * 18 KiB per-CPU caches, 3 to a chunk, only 57 of 64 used to fit: the
 * 58th thread of a host program got no cache and malloc said NULL). */
static void test_fixalloc_holds_max(void **state)
{
	(void)state;
	static const size_t sizes[] = { 16, 4000, 18240, sizeof(struct mcache), 40000, 65536 };
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct fixalloc f;
		assert_int_equal(fixalloc_init(&f, sizes[k], 64), 0);
		for (int i = 0; i < 64; i++) {
			uint8_t *p = fixalloc_alloc(&f);
			if (!p)
				fail_msg("fixalloc of %zu-byte objects: object %d of 64 failed",
				         sizes[k], i);
			p[0] = p[sizes[k] - 1] = 1;   /* committed, all of it */
			if (sizes[k] % 64 == 0 && (uintptr_t)p % 64)
				fail_msg("a %zu-byte object at %p is not 64-byte aligned",
				         sizes[k], (void *)p);
		}
		fixalloc_check(&f);
	}
	struct fixalloc f;
	assert_int_equal(fixalloc_init(&f, FIXALLOC_CHUNK + 16, 4), -1);   /* cannot fit */
}

static void shuffle(void **v, size_t n, uint64_t *rng)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = ks_test_rand(rng) % i;
		void *t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Everything freed, in any order: every chunk but one goes back but for
 * its first page; the platform's count agrees; then everything comes
 * again from the released chunks, zeroed, without a new chunk. */
static void test_fixalloc_gives_back(void **state)
{
	(void)state;
	enum { SIZE = 448, N = 20 * (FIXALLOC_CHUNK / SIZE) };
	static void *obj[N];
	uint64_t rng = ks_test_rng(1);
	struct fixalloc f;
	assert_int_equal(fixalloc_init(&f, SIZE, N), 0);
	size_t plat0 = ks_host_committed();
	for (size_t i = 0; i < N; i++) {
		obj[i] = fixalloc_alloc(&f);
		assert_non_null(obj[i]);
		memset(obj[i], 0xa5, SIZE);
	}
	fixalloc_check(&f);
	size_t chunks = (f.next - f.base) / f.chunk, full = f.committed;
	assert_int_equal(full, chunks * f.chunk);
	assert_int_equal(ks_host_committed() - plat0, full);

	shuffle(obj, N, &rng);
	for (size_t i = 0; i < N; i++) {
		fixalloc_free(&f, obj[i]);
		if (i % 97 == 0)
			fixalloc_check(&f);
	}
	fixalloc_check(&f);
	assert_int_equal(f.inuse, 0);
	/* One chunk kept whole, the others down to their header page. */
	assert_int_equal(f.committed, f.chunk + (chunks - 1) * PAGE);
	assert_int_equal(ks_host_committed() - plat0, f.committed);

	uintptr_t next = f.next;
	for (size_t i = 0; i < N; i++) {
		uint8_t *p = fixalloc_alloc(&f);
		assert_non_null(p);
		for (size_t b = 0; b < SIZE; b++)
			if (p[b])
				fail_msg("object %p byte %zu is %#x after reuse, not 0",
				         (void *)p, b, p[b]);
		obj[i] = p;
	}
	assert_int_equal(f.next, next);   /* no chunk that was never used */
	assert_int_equal(f.committed, full);
	fixalloc_check(&f);
}

/* A random mix: objects never overlap (each holds its own pattern until it
 * is freed), the counters stay exact, and what is committed never exceeds
 * the chunks the objects in use need, plus the kept one, plus a page for
 * each released one. */
static void test_fixalloc_random_mix(void **state)
{
	(void)state;
	enum { SIZE = 208, N = 6000, STEPS = 60000 };
	static uint8_t *obj[N];
	uint64_t rng = ks_test_rng(2);
	struct fixalloc f;
	assert_int_equal(fixalloc_init(&f, SIZE, N), 0);
	size_t live = 0;
	for (unsigned step = 0; step < STEPS; step++) {
		/* Phases of growth and of shrinking, so chunks fill and empty. */
		bool grow = (step / 5000) % 2 == 0;
		size_t i = ks_test_rand(&rng) % N;
		if (!obj[i] && (grow || ks_test_rand(&rng) % 4 == 0)) {
			obj[i] = fixalloc_alloc(&f);
			assert_non_null(obj[i]);
			for (size_t b = 0; b < SIZE; b++)
				assert_int_equal(obj[i][b], 0);
			memset(obj[i], (int)(i & 0xff), SIZE);
			memcpy(obj[i], &i, sizeof(i));
			live++;
		} else if (obj[i]) {
			size_t tag;
			memcpy(&tag, obj[i], sizeof(tag));
			if (tag != i || obj[i][SIZE - 1] != (uint8_t)(i & 0xff))
				fail_msg("object %zu at %p was overwritten", i, (void *)obj[i]);
			fixalloc_free(&f, obj[i]);
			obj[i] = NULL;
			live--;
		}
		if (step % 1000 == 0) {
			fixalloc_check(&f);
			assert_int_equal(f.inuse, live);
		}
	}
	fixalloc_check(&f);
	for (size_t i = 0; i < N; i++)
		if (obj[i]) {
			fixalloc_free(&f, obj[i]);
			obj[i] = NULL;
		}
	fixalloc_check(&f);
	size_t chunks = (f.next - f.base) / f.chunk;
	assert_int_equal(f.committed, f.chunk + (chunks - 1) * PAGE);
}

static struct fixalloc bad;

static void free_interior(void *arg)
{
	(void)arg;
	uint8_t *p = fixalloc_alloc(&bad);
	fixalloc_free(&bad, p + 16);
}

static void free_outside(void *arg)
{
	static uint64_t x;
	(void)arg;
	fixalloc_free(&bad, &x);
}

static void free_in_released(void *arg)
{
	(void)arg;
	void *a[2 * FIXALLOC_CHUNK / 1024];
	unsigned per = bad.per, n = 2 * per;
	for (unsigned i = 0; i < n; i++)
		a[i] = fixalloc_alloc(&bad);
	for (unsigned i = 0; i < n; i++)
		fixalloc_free(&bad, a[i]);
	fixalloc_free(&bad, a[n - 1]);   /* its chunk is empty now */
}

static void test_fixalloc_bad_free(void **state)
{
	(void)state;
	assert_int_equal(fixalloc_init(&bad, 1024, 1000), 0);
	ks_expect_abort(free_interior, NULL, "is not an object of this pool");
	ks_expect_abort(free_outside, NULL, "is not an object of this pool");
	ks_expect_abort(free_in_released, NULL, "in a chunk with nothing in use");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixalloc_holds_max),
		cmocka_unit_test(test_fixalloc_gives_back),
		cmocka_unit_test(test_fixalloc_random_mix),
		cmocka_unit_test(test_fixalloc_bad_free),
	};
	return KS_TEST_MAIN("fixalloc", tests, heap_fixture_setup, NULL);
}
