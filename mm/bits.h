/*
 * Bit helpers for mm/ that need no compiler support library: gcc turns
 * __builtin_popcountll into a call to libgcc's __popcountdi2 unless the
 * target has POPCNT, and libkspan.a must link into kernels without libgcc.
 * (__builtin_ctzll always compiles to bsf/tzcnt.)
 */
#ifndef KSPAN_MM_BITS_H
#define KSPAN_MM_BITS_H

#include <stdint.h>

static inline unsigned ks_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

#endif
