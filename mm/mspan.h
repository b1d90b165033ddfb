/*
 * mspan: a run of contiguous heap pages, and the objects carved from it.
 *
 * See mm/malloc.c for the overview.
 *
 * A span is in one of three states:
 *   MSPAN_FREE    in the page heap's free structures (mheap.c); the spans
 *                 array maps its first and last page to it.
 *   MSPAN_INUSE   handed out; every page maps to it.  spanclass != 0: small
 *                 objects of one size class; spanclass == 0: one large
 *                 object (or a kpages_alloc block when manual is set).
 *   MSPAN_DEAD    its struct is back in the fixalloc (recycled).
 *
 * Objects of a small span are tracked by free bits, one per object (1 =
 * free), 64 to a word.  The word the owning CPU is allocating from is held
 * in allocCache (Go's name; here it holds the free bits themselves, not a
 * shifted complement) and freebits[curword] reads 0 while it is there; so
 * every free object has exactly one set bit in exactly one place, which is
 * what makes double frees detectable.  nfree counts the set bits of
 * freebits while the span is not cached; the owning CPU does not keep it up
 * to date (that would cost the fast paths an instruction each) and
 * recounts it when it gives the span back.  nremote counts the bits parked
 * in remotebits (see below).
 *
 * Ownership: a span cached by a CPU's mcache (owner = that CPU) has its
 * allocCache, curword and freebits changed only by that CPU, with
 * interrupts off, and no lock.  A span not cached (owner = KS_NO_OWNER) is
 * changed only under its mcentral's lock.  A CPU that frees an object of a
 * span another CPU owns sets the object's bit in remotebits with an atomic
 * OR (under the mcentral lock, so the owner cannot uncache in between); the
 * owner folds remotebits into freebits when it runs out of free objects,
 * and mcentral does it when the span is uncached.
 */
#ifndef KSPAN_MM_MSPAN_H
#define KSPAN_MM_MSPAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "lib/config.h"
#include "mm/sizeclass.h"

#define KS_PAGE_SHIFT 13
#define KS_PAGE_SIZE  ((uintptr_t)1 << KS_PAGE_SHIFT)

#define KS_NUM_SPAN_CLASSES (KS_NUM_SIZE_CLASSES << 1)
#define KS_FREE_WORDS       ((KS_MAX_OBJS_PER_SPAN + 63) / 64)
#define KS_NO_OWNER         (-1)
/* Added to a CPU's id in mspan.owner for collector-managed spans, so that
 * kfree's fast path (owner == this CPU) never takes a collected object. */
#define KS_OWNER_GC         0x100

/* spanclass = sizeclass << 1 | noscan (Go 1.10). */
typedef uint8_t spanclass_t;

static inline spanclass_t ks_make_spanclass(unsigned sizeclass, bool noscan)
{
	return (spanclass_t)(sizeclass << 1 | (noscan ? 1u : 0u));
}
static inline unsigned ks_spanclass_sizeclass(spanclass_t sc) { return sc >> 1; }
static inline bool ks_spanclass_noscan(spanclass_t sc) { return sc & 1; }

enum mspan_state {
	MSPAN_DEAD = 0,
	MSPAN_FREE,
	MSPAN_INUSE,
};

/* Which list a span is on (checked by validators). */
enum mspan_list_id {
	MSPAN_ON_NONE = 0,
	MSPAN_ON_HEAP_FREE,     /* mheap.free[npages] */
	MSPAN_ON_HEAP_TREAP,    /* mheap.freelarge */
	MSPAN_ON_NONEMPTY,      /* mcentral.nonempty: has free objects */
	MSPAN_ON_EMPTY,         /* mcentral.empty: full, or cached by a CPU */
};

struct mspan {
	struct mspan *next;         /* list links (lists are circular-free */
	struct mspan *prev;         /*   doubly linked, NULL-terminated) */

	uintptr_t base;             /* address of the first page */
	uintptr_t npages;           /* pages in the span */
	uint8_t state;              /* enum mspan_state */
	uint8_t list;               /* enum mspan_list_id */
	spanclass_t spanclass;      /* 0 for large objects and free spans */
	uint8_t manual;             /* kpages_alloc block, not a kmalloc object */
	uint8_t gc;                 /* objects are collector-managed (mm/mgc.c) */
	uint8_t noscan;             /* gc large object without pointers */
	uint8_t needzero;           /* in-use: some page was in use before and
	                               may hold old data (else all read zero) */

	/* ---- free spans (mheap) ------------------------------------------ */
	uintptr_t nscav;            /* pages of it that are decommitted */
	struct mspan *tleft;        /* treap links (freelarge only) */
	struct mspan *tright;
	struct mspan *tparent;
	uint32_t tprio;

	/* ---- small-object spans ----------------------------------------- */
	uint32_t elemsize;          /* object size */
	uint32_t divmul;            /* off / elemsize == (off * divmul) >> 32 */
	uint16_t nelems;            /* objects in the span */
	uint16_t nwords;            /* words of freebits in use */
	uint16_t curword;           /* word held in allocCache */
	uint8_t rot;                /* random rotation of allocCache: object
	                               order within a word starts at a random
	                               object */
	int16_t owner;              /* CPU slot caching it, or KS_NO_OWNER */
	uint32_t nfree;             /* free objects in freebits (not cached) */
	uint32_t nremote;           /* bits waiting in remotebits (atomic) */
	uint64_t allocCache;        /* free bits of word curword, rotated right
	                               by rot (KSPAN_RANDOMIZE) */
	uintptr_t groupbase;        /* address of object curword * 64 */
	uint64_t freebits[KS_FREE_WORDS];
	uint64_t remotebits[KS_FREE_WORDS];
	uint64_t markbits[KS_FREE_WORDS];   /* collector: reached this cycle */

	/* ---- collector-managed large objects ------------------------------ */
	struct mspan *gcnext;       /* list of gc large spans (mm/mgc.c) */
	struct mspan *gcprev;
};

/* Randomised object order (KSPAN_RANDOMIZE, on by default): allocCache
 * holds the current word's free bits rotated right by a random amount, so
 * objects come out in an order that starts at a random object of the
 * word, and the word itself is picked at random.  Real bit b of the word
 * sits at position (b - rot) mod 64 of allocCache. */

static inline unsigned mspan_rot(const struct mspan *s)
{
	return KSPAN_RANDOMIZE ? s->rot : 0;
}

static inline uint64_t ks_rotr64(uint64_t x, unsigned r)
{
	return (x >> (r & 63)) | (x << ((64 - r) & 63));
}

static inline uint64_t ks_rotl64(uint64_t x, unsigned r)
{
	return (x << (r & 63)) | (x >> ((64 - r) & 63));
}

/* The allocCache bit of object bit b of the current word. */
static inline uint64_t mspan_cache_bit(const struct mspan *s, unsigned b)
{
	return 1ull << ((b - mspan_rot(s)) & 63);
}

/* The object (bit of the current word) at allocCache position pos. */
static inline unsigned mspan_cache_obj(const struct mspan *s, unsigned pos)
{
	return (pos + mspan_rot(s)) & 63;
}

/* The address range a span covers. */
static inline uintptr_t mspan_end(const struct mspan *s)
{
	return s->base + (s->npages << KS_PAGE_SHIFT);
}

/* Object index of p in small span s, and whether p is an object's start. */
static inline uint32_t mspan_obj_index(const struct mspan *s, uintptr_t p)
{
	return (uint32_t)(((uint64_t)(p - s->base) * s->divmul) >> 32);
}

/* Set a fresh span up for objects of spanclass sc: all objects free. */
void mspan_init_small(struct mspan *s, spanclass_t sc);

/* Is object idx free?  Looks in every place a free bit can be (owner's
 * allocCache, freebits, remotebits).  For validators and the collector;
 * racy unless the caller owns the span or holds its mcentral lock. */
bool mspan_obj_is_free(const struct mspan *s, uint32_t idx);

/* Owner-side: fold remotebits into freebits.  Stops with a message if a
 * remotely freed object was already free (a double free). */
void mspan_merge_remote(struct mspan *s);

/* Owner-side: free object idx (at address p, for the message): set its
 * free bit, stopping with a message if it is already set. */
void mspan_free_owned(struct mspan *s, uint32_t idx, uintptr_t p);

/* Owner-side: put allocCache back into freebits (the span is leaving the
 * cache, or moving to another word). */
void mspan_release_word(struct mspan *s);

/* Recount nfree from freebits. */
void mspan_count_free(struct mspan *s);

/* Seed the object-order random numbers (kspan_init). */
void mspan_seed_order(uint64_t seed);

/* Owner-side: load a word with free objects into allocCache (the first
 * one, or a random one with KSPAN_RANDOMIZE).
 * Returns false if the span has no free object in freebits. */
bool mspan_load_word(struct mspan *s);

/* Validate a span's fields and counts; stops with a message if wrong. */
void mspan_check(const struct mspan *s);

#endif
