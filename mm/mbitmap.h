/*
 * The heap bitmap, as Go 1.10 kept it: 2 bits for every 8-byte word of the
 * arena, stored in bytes indexed backwards from ks_arena.bitmap (which is
 * the bitmap's end).  Word w = (addr - arena_start) / 8 is described by the
 * byte at bitmap - w/4 - 1, bits (w % 4) (pointer bit) and (w % 4) + 4
 * (scan bit).  One byte thus describes 4 words: its low nibble the pointer
 * bits, its high nibble the scan bits.
 *
 *   pointer bit  the word holds a pointer the collector must follow
 *   scan bit     in an object's first word: the object has pointers and
 *                must be scanned; in later words: "more words to scan"
 *                (clear after the last pointer word, so scanning stops)
 *
 * Noscan spans never have bits set.  The collector (mm/mgc*.c) writes the
 * bits when it allocates an object from its type's pointer map and reads
 * them when it marks.  Plain kmalloc objects are never scanned.
 *
 * Only the part of the bitmap that covers arena_used is committed.  Bits of
 * an object are written by the CPU that allocated it before the object is
 * published, and read by the collector with the world stopped: no lock.
 */
#ifndef KSPAN_MM_MBITMAP_H
#define KSPAN_MM_MBITMAP_H

#include <stdbool.h>
#include <stdint.h>
#include "mm/arena.h"

#define KS_BIT_POINTER 0x01u
#define KS_BIT_SCAN    0x10u

struct heapbits {
	uint8_t *byte;   /* bitmap byte holding the word's bits */
	unsigned shift;  /* 0..3: which word of the byte */
};

static inline struct heapbits heapbits_for(uintptr_t addr)
{
	uintptr_t w = (addr - ks_arena.arena_start) / 8;
	struct heapbits h = { ks_arena.bitmap - w / 4 - 1, (unsigned)(w & 3) };
	return h;
}

static inline bool heapbits_is_pointer(struct heapbits h)
{
	return (*h.byte >> h.shift) & KS_BIT_POINTER;
}

static inline bool heapbits_is_scan(struct heapbits h)
{
	return (*h.byte >> h.shift) & KS_BIT_SCAN;
}

/* The next word's bits (addr + 8). */
static inline struct heapbits heapbits_next(struct heapbits h)
{
	if (h.shift < 3) {
		h.shift++;
	} else {
		h.shift = 0;
		h.byte--;
	}
	return h;
}

/* Write the bits of the nwords words at addr: word i is a pointer iff bit i
 * of ptrmask is set (ptrmask == NULL: every word is a pointer); scan bits
 * are set from the first word up to the last pointer word. */
void heapbits_set_object(uintptr_t addr, uintptr_t nwords,
                         const uint8_t *ptrmask);

/* Clear the bits of nwords words from addr. */
void heapbits_clear(uintptr_t addr, uintptr_t nwords);

#endif
