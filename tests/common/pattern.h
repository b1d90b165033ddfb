/*
 * Fill patterns for allocator tests, shared by the host suites and the
 * in-kernel self-tests (freestanding: no libc).  The byte at offset i of an
 * object filled with seed depends on i and seed only, so contents can be
 * checked after krealloc moves them; seeds differ per object, so two
 * objects that overlap show as a pattern mismatch.
 */
#ifndef KSPAN_TESTS_COMMON_PATTERN_H
#define KSPAN_TESTS_COMMON_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t ks_pattern_word(size_t w, uint64_t seed);

static inline unsigned char ks_pattern_byte(size_t i, uint64_t seed)
{
	return (unsigned char)(ks_pattern_word(i >> 3, seed) >> (8 * (i & 7)));
}

static inline uint64_t ks_pattern_word(size_t w, uint64_t seed)
{
	uint64_t x = ((uint64_t)w + seed) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);   /* bytes 8w..8w+7, little-endian */
}

static inline void fill_pattern(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = ks_pattern_word(i >> 3, seed);
		__builtin_memcpy(b + i, &v, 8);
	}
	for (; i < n; i++)
		b[i] = ks_pattern_byte(i, seed);
}

/* 1 if the pattern is intact, 0 if not. */
static inline int check_pattern(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		__builtin_memcpy(&v, b + i, 8);
		if (v != ks_pattern_word(i >> 3, seed))
			return 0;
	}
	for (; i < n; i++)
		if (b[i] != ks_pattern_byte(i, seed))
			return 0;
	return 1;
}

/* xorshift64*: deterministic random numbers for seeded tests. */
static inline uint64_t ks_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
