/*
 * Bit helpers for mm/ that need no compiler support library: gcc turns
 * __builtin_popcountll into a call to libgcc's __popcountdi2 unless the
 * target has POPCNT, and libkspan.a must link into kernels without libgcc.
 * (__builtin_ctzll always compiles to bsf/tzcnt.)
 *
 * ks_popcount64 uses the POPCNT instruction when the CPU has it (x86-64
 * CPUs since 2008; ks_bits_init asks CPUID, kspan_init calls it) and a
 * SWAR count otherwise, so the build needs no -mpopcnt and runs on any
 * x86-64.  Before ks_bits_init, or on other architectures, the SWAR count.
 */
#ifndef KSPAN_LIB_BITS_H
#define KSPAN_LIB_BITS_H

#include <stddef.h>
#include <stdint.h>

/* Does the CPU have POPCNT (set by ks_bits_init)? */
extern int ks_have_popcnt;

/* Ask the CPU (CPUID leaf 1, ECX bit 23).  Idempotent; any context. */
void ks_bits_init(void);

static inline unsigned ks_popcount64_swar(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static inline unsigned ks_popcount64(uint64_t x)
{
#if defined(__x86_64__)
	if (__builtin_expect(ks_have_popcnt, 1)) {
		uint64_t n;
		__asm__("popcntq %1, %0" : "=r"(n) : "rm"(x) : "cc");
		return (unsigned)n;
	}
#endif
	return ks_popcount64_swar(x);
}

/* Index of the lowest set bit of m != 0, as a full word: on x86-64 one
 * bsf, with no zero-extension after it and no false dependency to break
 * (__builtin_ctzll gives an int and a tzcnt with an xor before it). */
static inline uintptr_t ks_lowest_bit(uint64_t m)
{
#if defined(__x86_64__)
	uint64_t b;
	__asm__("bsfq %1, %0" : "=r"(b) : "rm"(m) : "cc");
	return (uintptr_t)b;
#else
	return (uintptr_t)__builtin_ctzll(m);
#endif
}

/* The one mixer of kspan (splitmix64's finaliser): seeds, secrets and the
 * object-order random numbers all go through it. */
static inline uint64_t ks_mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The first byte of p[from, to) that is not b, or to: a word at a time
 * (relaxed loads: the debug heap reads neighbours' red zones that their
 * owners may write meanwhile, and a torn read only delays a report).
 * The red-zone, poison and guard-slack checks all scan with it. */
static inline size_t ks_first_not(const uint8_t *p, size_t from, size_t to, uint8_t b)
{
	size_t i = from;
	for (; i < to && ((uintptr_t)(p + i) & 7); i++)
		if (__atomic_load_n(&p[i], __ATOMIC_RELAXED) != b)
			return i;
	const uint64_t pat = 0x0101010101010101ull * b;
	for (; i + 8 <= to; i += 8)
		if (__atomic_load_n((const uint64_t *)(const void *)(p + i),
		                    __ATOMIC_RELAXED) != pat)
			break;
	for (; i < to; i++)
		if (__atomic_load_n(&p[i], __ATOMIC_RELAXED) != b)
			return i;
	return to;
}

#endif
