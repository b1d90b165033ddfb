/*
 * lib/bits.h's CPU probe: whether ks_popcount64 may use POPCNT.
 */
#include "lib/bits.h"

int ks_have_popcnt;

void ks_bits_init(void)
{
#if defined(__x86_64__)
	uint32_t a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	__atomic_store_n(&ks_have_popcnt, (c >> 23) & 1, __ATOMIC_RELAXED);
#endif
}
