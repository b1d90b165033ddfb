/*
 * mspan: a run of contiguous heap pages, and the objects carved from it.
 *
 * See mm/malloc.c for the overview.
 *
 * A span is in one of three states:
 *   MSPAN_FREE    in the page heap's free structures (mheap.c); the spans
 *                 array maps its first and last page to it.
 *   MSPAN_INUSE   handed out; every page maps to it.  central != NULL:
 *                 small objects of one class (a kmalloc size class, a
 *                 collector class or an object cache); central == NULL: one
 *                 large object (or a kpages_alloc block when manual is set).
 *   MSPAN_DEAD    its struct is back in the fixalloc (recycled).
 *
 * Objects of a small span are tracked by free bits, one per object (1 =
 * free), 64 to a word, out of band: no free-list pointer ever lives in a
 * free object.  The bits are the state: allocation clears an object's bit,
 * free sets it, and a free that finds its bit set is a double free.  Bits
 * past the last object are 0 and stay 0 (a free past limit is refused
 * before any bit is touched).  nfree counts the set bits, exactly, except
 * in the span a CPU allocates from (its class's cur): every free adds one
 * (the fast path too: one instruction, on the line it already read), but
 * allocation, which pops bits a word at a time, does not subtract.  So
 * nfree of cur is stale; it is exact again when cur fills up (0) or is
 * recounted when it leaves the CPU.  The owner's choice of its next cur
 * reads nfree of the spans it holds instead of counting their bits.
 *
 * Ownership.  owner is the CPU slot whose mcache holds the span (as the
 * span a class allocates from, or one of the class's partial spans), or
 * KS_NO_OWNER.  The owner changes the bits alone, with interrupts off, no
 * lock and no atomic read-modify-write (plain relaxed loads and stores, so
 * that readers elsewhere, the collector's kgc_is_live, see whole words).
 * A span no CPU owns changes only under its mcentral's lock.  Another CPU
 * never writes an owned span's bits: it sends its frees to the owner in
 * batches (mm/mremote.c).  owner is written only under the mcentral lock
 * (cache, adopt, uncache) and read without a lock by the free path: only
 * the CPU itself ever writes its own id there, or clears it.
 *
 * Randomised order (KSPAN_RANDOMIZE): a span gets a random key when it is
 * carved, and object i of a word sits at bit i ^ key of that word, so the
 * objects of a word come out in a scrambled order (the lowest set bit is
 * taken); the word the owner allocates from next is picked at random.
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
/* Free-bit words of a span: enough for the most objects any span holds
 * (the 8-byte class: 1024 per page; object caches are held to it too). */
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
	MSPAN_ON_NONE = 0,      /* in use by a large object, or owned by a CPU */
	MSPAN_ON_HEAP_FREE,     /* mheap.free[npages] */
	MSPAN_ON_HEAP_TREAP,    /* mheap.freelarge */
	MSPAN_ON_PARTIAL,       /* mcentral.partial: no owner, some objects free */
	MSPAN_ON_FULL,          /* mcentral.full: no owner, no object free */
	MSPAN_ON_EMPTY,         /* mcentral.empty: no owner, every object free */
	MSPAN_ON_CPU,           /* a CPU's mcache (cur or partial) */
};

struct mcentral;

struct mspan {
	/* ---- read by the free fast path (one cache line) ----------------- */
	uintptr_t base;             /* address of the first page */
	uint64_t divmagic;          /* ceil(2^64 / elemsize), see mspan_index */
	uintptr_t limit;            /* nelems * elemsize: objects lie below */
	int32_t owner;              /* CPU slot owning it, or KS_NO_OWNER */
	uint32_t elemsize;          /* object size */
	uint16_t nelems;            /* objects in the span */
	uint16_t nwords;            /* words of freebits in use */
	uint8_t key;                /* KSPAN_RANDOMIZE: object i at bit i ^ key */
	uint8_t state;              /* enum mspan_state */
	uint8_t list;               /* enum mspan_list_id */
	spanclass_t spanclass;      /* kmalloc/collector span class, 0 if none */
	uint8_t manual;             /* kpages_alloc block, not a kmalloc object */
	uint8_t gc;                 /* objects are collector-managed (mm/mgc.c) */
	uint8_t noscan;             /* gc large object without pointers */
	uint8_t needzero;           /* in-use: some page was in use before and
	                               may hold old data (else all read zero) */
	uint16_t curword;           /* owner: the word its mcache allocates from */
	uint32_t nfree;             /* free objects (exact unless cur, above) */
	struct mcentral *central;   /* the class's central lists, NULL if large */

	struct mspan *next;         /* list links (mheap's lists, mcentral's, */
	struct mspan *prev;         /*   an owner's partial list) */
	uintptr_t npages;           /* pages in the span */

	/* ---- free spans (mheap) ------------------------------------------ */
	uintptr_t nscav;            /* pages of it that are decommitted */
	struct mspan *tleft;        /* treap links (freelarge only) */
	struct mspan *tright;
	struct mspan *tparent;
	uint32_t tprio;

	/* ---- small-object spans ----------------------------------------- */
	uint64_t freebits[KS_FREE_WORDS];
	/* kmalloc and object-cache spans (Go's allocCache): cachebits[curword]
	 * holds the free objects of that word that the owner's mcache took
	 * for its allocation fast path, disjoint from freebits[curword];
	 * every other word is 0, and all are 0 unless the span is the cur of
	 * a CPU's class.  Collector spans have mark bits there instead (a
	 * collector span has no allocation cache, a kmalloc span no marks). */
#if KSPAN_GC
	union {
		uint64_t markbits[KS_FREE_WORDS];   /* collector: reached this cycle */
		uint64_t cachebits[KS_FREE_WORDS];
	};
	uint64_t gcbits;            /* gcuniform: the pointer bits every free
	                               slot of this scan span has (mm/mgcalloc.c) */
	uint8_t gcuniform;
	struct mspan *gcnext;       /* list of gc large spans (mm/mgc.c) */
	struct mspan *gcprev;
#else
	uint64_t cachebits[KS_FREE_WORDS];
#endif
};

/* The fast paths find a word's allocation cache KS_FREE_WORDS words after
 * its free bits (mm/malloc.h). */
_Static_assert(__builtin_offsetof(struct mspan, cachebits) ==
               __builtin_offsetof(struct mspan, freebits) + 8 * KS_FREE_WORDS,
               "the allocation cache must follow the free bits");

/* The address range a span covers. */
static inline uintptr_t mspan_end(const struct mspan *s)
{
	return s->base + (s->npages << KS_PAGE_SHIFT);
}

/* ceil(2^64 / size) for size >= 2: with it, for every off < 2^32,
 *   off / size == (off * m) >> 64, and
 *   off % size == 0  iff  (off * m) mod 2^64 < m
 * (Lemire, Kaser, Kurz: "Faster remainder by direct computation", 2019),
 * so the free path finds an object's index and checks that the pointer is
 * its start with one multiply. */
static inline uint64_t ks_divmagic(uint32_t size)
{
	return UINT64_MAX / size + 1;
}

/* Index of the object at offset off (< limit) of s; *exact says whether
 * off is that object's start. */
static inline uintptr_t mspan_index(const struct mspan *s, uintptr_t off, bool *exact)
{
	unsigned __int128 prod = (unsigned __int128)off * s->divmagic;
	*exact = (uint64_t)prod < s->divmagic;
	return (uintptr_t)(prod >> 64);
}

/* The bit position of object idx in freebits (its word is idx / 64). */
static inline uintptr_t mspan_bitpos(const struct mspan *s, uintptr_t idx)
{
	return KSPAN_RANDOMIZE ? idx ^ s->key : idx;
}

/* The object at bit position pos. */
static inline uint32_t mspan_posobj(const struct mspan *s, uint32_t pos)
{
	return KSPAN_RANDOMIZE ? pos ^ s->key : pos;
}

/* Relaxed single-word access to the free bits (owner or lock holder
 * writes; any CPU may read a whole word). */
static inline uint64_t mspan_word(const struct mspan *s, unsigned w)
{
	return __atomic_load_n(&s->freebits[w], __ATOMIC_RELAXED);
}
static inline void mspan_set_word(struct mspan *s, unsigned w, uint64_t v)
{
	__atomic_store_n(&s->freebits[w], v, __ATOMIC_RELAXED);
}

/* The free objects of word w: its free bits, and the allocation cache's
 * (mm/mcache.c).  Racy unless the caller owns the span or holds its
 * mcentral lock (a whole-word snapshot of each). */
static inline uint64_t mspan_free_word(const struct mspan *s, unsigned w)
{
	uint64_t f = mspan_word(s, w);
	if (!s->gc)
		f |= __atomic_load_n(&s->cachebits[w], __ATOMIC_RELAXED);
	return f;
}

/* Is the object at bit position pos in the allocation cache (free, taken
 * by the owner's fast path)?  Not for collector spans. */
static inline bool mspan_in_cache(const struct mspan *s, uintptr_t pos)
{
	return (__atomic_load_n(&s->cachebits[pos / 64], __ATOMIC_RELAXED) >> (pos % 64)) & 1;
}

/* Owner: move word w's free objects into the allocation cache (curword
 * becomes w), or the cache's objects back into their word.  The fast
 * path allocates from the cache while frees set free bits: the two touch
 * different words, so a free does not wait for the allocation before it,
 * nor the next allocation for the free (a store-to-load dependency
 * through one word had made malloc+free pairs half as fast). */
static inline void mspan_cache_take(struct mspan *s, unsigned w)
{
	s->curword = (uint16_t)w;
	__atomic_store_n(&s->cachebits[w], mspan_word(s, w), __ATOMIC_RELAXED);
	mspan_set_word(s, w, 0);
}
static inline void mspan_cache_return(struct mspan *s)
{
	unsigned w = s->curword;
	uint64_t c = __atomic_load_n(&s->cachebits[w], __ATOMIC_RELAXED);
	mspan_set_word(s, w, mspan_word(s, w) | c);
	__atomic_store_n(&s->cachebits[w], 0, __ATOMIC_RELAXED);
}

/* Set a fresh span up for objects of c's class: all objects free, owner
 * none; key: its random order (KSPAN_RANDOMIZE). */
void mspan_init_small(struct mspan *s, struct mcentral *c, uint8_t key);

/* Is object idx free (its bit set)?  Racy unless the caller owns the span
 * or holds its mcentral lock: a concurrent free can make it miss. */
bool mspan_obj_is_free(const struct mspan *s, uint32_t idx);

/* Owner or lock holder: set object idx's free bit; stops with a message
 * naming p (fn: the function the program called) if it is already set
 * (a double free). */
void mspan_free_bit(struct mspan *s, uint32_t idx, uintptr_t p, const char *fn);

/* The set free bits; mspan_count_free also sets nfree to it. */
uint32_t mspan_count_bits(const struct mspan *s);
uint32_t mspan_count_free(struct mspan *s);

/* Owner: pick the word to allocate from next (curword): the first, from
 * a random word with KSPAN_RANDOMIZE, with want free objects or more, else
 * the one with the most.  Returns false if no object is free. */
bool mspan_pick_word(struct mspan *s, uint64_t rnd, unsigned want);

/* The free objects a word needs for its owner to allocate from it through
 * the allocation cache; from a word with fewer, the owner allocates from
 * the free bits themselves, which its frees refill at once (otherwise a
 * nearly full span would cost a slow path every few allocations). */
static inline unsigned mspan_cache_min(const struct mspan *s)
{
	return s->nelems >= 32 ? 16 : (s->nelems + 1u) / 2;
}

/* Validate a span's fields and counts; stops with a message if wrong. */
void mspan_check(const struct mspan *s);

#endif
