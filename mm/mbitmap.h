/*
 * The heap bitmap (collector builds only): one pointer bit for every 8-byte
 * word of the arena, and the collector's per-page state, kept in the space
 * mm/arena.c reserves for Go 1.10's 2-bit bitmap (N/32 bytes for an arena
 * of N, indexed backwards from ks_arena.bitmap, committed as the heap grows
 * into the arena).
 *
 * The arena's words go 64 to a chunk (512 bytes: a page has 16 chunks, so
 * no chunk straddles two spans).  Chunk k owns the 16 bytes just below
 * bitmap - 16k, the same bytes the 2-bit layout gave its 64 words, so they
 * are committed exactly when that chunk's page may be used:
 *
 *   pointer word  ((uint64_t *)bitmap)[-2k - 2]   bit i: word 64k + i holds
 *                                                 a pointer to follow
 *   side word     ((uint64_t *)bitmap)[-2k - 1]   collector state: the side
 *                                                 words of a page's first
 *                                                 chunks (gcpage_state,
 *                                                 gcspan_sweepgen)
 *
 * Pointer bits.  The CPU that allocates a scan object writes the bits of
 * all its words (from the type's pointer map, repeated for arrays; every
 * word for type NULL; none past the requested size) before the object is
 * published; only the owner of a span allocates from it and chunks never
 * straddle spans, so no lock and no atomic is needed.  The collector reads
 * them while the world is stopped.  Noscan spans' bits are never read (so
 * never cleared).
 *
 * Side words are atomics (mm/mgc.c, mm/mgcsweep.c read them without the
 * world stopped).
 */
#ifndef KSPAN_MM_MBITMAP_H
#define KSPAN_MM_MBITMAP_H

#include <stdbool.h>
#include <stdint.h>
#include "mm/arena.h"

struct kgc_type;

/* Chunk of the word at addr (an arena address). */
static inline uintptr_t heapbits_chunk(uintptr_t addr)
{
	return (addr - ks_arena.arena_start) >> 9;
}

/* Chunk k's pointer word. */
static inline uint64_t *heapbits_word(uintptr_t k)
{
	return (uint64_t *)ks_arena.bitmap - 2 * k - 2;
}

/* Chunk k's side word. */
static inline uint64_t *heapbits_side(uintptr_t k)
{
	return (uint64_t *)ks_arena.bitmap - 2 * k - 1;
}

/* The low n bits (n in 1..64). */
static inline uint64_t heapbits_low(uintptr_t n)
{
	return ~0ull >> (64 - n);
}

/* Write the pointer bits of the n <= 64 words at addr: bit i of bits for
 * word i (bits has nothing above bit n - 1). */
static inline void heapbits_write_small(uintptr_t addr, uintptr_t n, uint64_t bits)
{
	uintptr_t w = (addr - ks_arena.arena_start) >> 3;
	unsigned sh = (unsigned)(w & 63);
	uint64_t *lo = heapbits_word(w >> 6), m = heapbits_low(n);
	*lo = (*lo & ~(m << sh)) | (bits << sh);
	if (sh + n > 64) {
		uint64_t *hi = lo - 2;   /* chunk w/64 + 1 */
		*hi = (*hi & ~(m >> (64 - sh))) | (bits >> (64 - sh));
	}
}

/* The pointer bits of the n <= 64 words at addr, word i at bit i. */
static inline uint64_t heapbits_read_small(uintptr_t addr, uintptr_t n)
{
	uintptr_t w = (addr - ks_arena.arena_start) >> 3;
	unsigned sh = (unsigned)(w & 63);
	const uint64_t *lo = heapbits_word(w >> 6);
	uint64_t bits = *lo >> sh;
	if (sh + n > 64)
		bits |= lo[-2] << (64 - sh);
	return bits & heapbits_low(n);
}

/* A type's pointer map for objects of up to 64 words: bit i = word i of an
 * array of the type (the map repeated every period words).  Returns false
 * if the type is longer than 64 words (then heapbits_set_object). */
bool heapbits_pattern64(const struct kgc_type *type, uint64_t *out);

/* Write the bits of an object of objwords words at addr whose first
 * reqwords words are typed by type (NULL: every one a pointer), the rest
 * not pointers.  Any length. */
void heapbits_set_object(uintptr_t addr, uintptr_t objwords, uintptr_t reqwords,
                         const struct kgc_type *type);

/* Write the bits of nslots objects of objw <= 64 words from base (a page
 * address), each with the bits obits (nothing at or above bit objw): a
 * small span's every slot typed alike, a pointer word at a time. */
void heapbits_fill_slots(uintptr_t base, uintptr_t nslots, uintptr_t objw, uint64_t obits);

/* Clear the bits of nwords words from addr. */
void heapbits_clear(uintptr_t addr, uintptr_t nwords);

/* ---- the collector's per-page state (side words) ------------------------- */

/* Page p's state: 0 (not a collector span), GCPAGE_LARGE, or GCPAGE_SMALL
 * | span class. */
#define GCPAGE_SMALL 0x100u
#define GCPAGE_LARGE 0x200u

static inline uint64_t *gcpage_state(uintptr_t page)
{
	return heapbits_side(page * 16);
}

/* The sweep generation of the span whose first page is page. */
static inline uint64_t *gcspan_sweepgen(uintptr_t page)
{
	return heapbits_side(page * 16 + 1);
}

#endif
