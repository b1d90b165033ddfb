/*
 * Writers of the heap bitmap (see mm/mbitmap.h for the layout) for what the
 * inline ones in the header do not cover: types longer than 64 words and
 * objects longer than 64 words, a chunk (64 words) at a time.
 */
#include "lib/config.h"
#if KSPAN_GC
#include <kspan/gc.h>
#include "lib/check.h"
#include "mm/mbitmap.h"

static uintptr_t period_of(const struct kgc_type *type)
{
	return (type->size + 7) / 8;
}

/* Bits [j, j + n) of the pointer map (n <= 64; j + n <= the period): only
 * the bytes that hold them are read. */
static uint64_t map_bits(const uint8_t *mask, uintptr_t j, unsigned n)
{
	uint64_t v = 0;
	for (unsigned b = 0; b < n;) {
		uintptr_t bit = j + b;
		unsigned off = (unsigned)(bit & 7), k = 8 - off < n - b ? 8 - off : n - b;
		v |= (uint64_t)((mask[bit >> 3] >> off) & ((1u << k) - 1)) << b;
		b += k;
	}
	return v;
}

bool heapbits_pattern64(const struct kgc_type *type, uint64_t *out)
{
	uintptr_t p = period_of(type);
	if (p > 64)
		return false;
	uint64_t m = map_bits(type->ptrmask, 0, (unsigned)p), rep = 0;
	for (unsigned i = 0; i < 64; i += (unsigned)p)
		rep |= m << i;
	*out = rep;
	return true;
}

/* Words [o, o + 64) of an array of the type: word i of the result is word
 * o + i of the array. */
struct window {
	const uint8_t *mask;
	uintptr_t period;
	uint64_t lo, hi;   /* period <= 64: words 0..127 of the array */
};

static void window_init(struct window *w, const struct kgc_type *type)
{
	w->mask = type ? type->ptrmask : 0;
	w->period = type ? period_of(type) : 1;
	w->lo = w->hi = ~0ull;
	if (type && w->period <= 64) {
		uint64_t m = map_bits(w->mask, 0, (unsigned)w->period);
		w->lo = w->hi = 0;
		for (unsigned i = 0; i < 128; i += (unsigned)w->period) {
			if (i < 64)
				w->lo |= m << i;
			if (i + w->period > 64)
				w->hi |= i >= 64 ? m << (i - 64) : m >> (64 - i);
		}
	}
}

static uint64_t window_at(const struct window *w, uintptr_t o)
{
	if (!w->mask)
		return ~0ull;
	uintptr_t j = o % w->period;
	if (w->period <= 64)   /* j < 64: bits j..j+63 of lo:hi */
		return j ? w->lo >> j | w->hi << (64 - j) : w->lo;
	uint64_t v = 0;
	for (unsigned got = 0; got < 64;) {
		unsigned take = w->period - j < 64 - got ? (unsigned)(w->period - j) : 64 - got;
		v |= map_bits(w->mask, j, take) << got;
		got += take;
		j += take;
		if (j == w->period)
			j = 0;
	}
	return v;
}

void heapbits_set_object(uintptr_t addr, uintptr_t objwords, uintptr_t reqwords,
                         const struct kgc_type *type)
{
	struct window win;
	window_init(&win, type);
	uintptr_t w0 = (addr - ks_arena.arena_start) >> 3;
	for (uintptr_t o = 0; o < objwords;) {
		uintptr_t w = w0 + o, sh = w & 63;
		uintptr_t n = 64 - sh < objwords - o ? 64 - sh : objwords - o;
		uint64_t bits = 0;
		if (o < reqwords)
			bits = window_at(&win, o) & heapbits_low(reqwords - o < n ? reqwords - o : n);
		uint64_t *p = heapbits_word(w >> 6), m = heapbits_low(n);
		*p = (*p & ~(m << sh)) | (bits << sh);
		o += n;
	}
}

void heapbits_fill_slots(uintptr_t base, uintptr_t nslots, uintptr_t objw, uint64_t obits)
{
	KS_ASSERT(objw >= 1 && objw <= 64 && (objw == 64 || obits >> objw == 0) &&
	          (base & (KS_PAGE_SIZE - 1)) == 0);
	/* The slots' bits repeat every objw words: rep holds words 0..127 of
	 * that, and pointer word j (words 64j..64j+63) starts at phase
	 * 64j mod objw < 64 of it. */
	unsigned __int128 rep = 0;
	for (unsigned i = 0; i < 128; i += (unsigned)objw)
		rep |= (unsigned __int128)obits << i;
	uintptr_t words = nslots * objw, k = heapbits_chunk(base), phase = 0;
	for (uintptr_t j = 0; j < words; j += 64, k++) {
		uint64_t v = (uint64_t)(rep >> phase);
		if (words - j < 64)
			v &= heapbits_low(words - j);
		*heapbits_word(k) = v;
		phase = (phase + 64) % objw;
	}
}

void heapbits_clear(uintptr_t addr, uintptr_t nwords)
{
	heapbits_set_object(addr, nwords, 0, 0);
}
#endif /* KSPAN_GC */
