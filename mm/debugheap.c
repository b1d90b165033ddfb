/*
 * The debug heap (build with DEBUG=1, i.e. KSPAN_DEBUG_HEAP): SLUB-debug
 * style checks wrapped around the raw allocator (ks_malloc, ks_free,
 * ks_usable_size, ks_malloc_aligned in mm/malloc.c), and the guard mode
 * (mm/guard.c) for the allocations kspan_guard_sample picks.
 *
 *   Red zone.  Every kmalloc block is 24 bytes bigger than asked:
 *     [ object: size bytes ][ canary 0xCB ... ][ call site ][ size ^ secret ]
 *   The red zone is checked when the object is freed, reallocated or
 *   sized, and when an object next to it in the same span is allocated or
 *   freed (so an overflow is caught near the time it happens): every
 *   canary byte intact, else "heap overflow" with the object, its size,
 *   its call site and the offset written; a trailer that does not decode
 *   to a plausible size means the overflow reached it.  ksize() is the
 *   size asked for.
 *
 *   Poison.  Freed small objects are filled with 0xDB (trailer first), and
 *   so is every object of a fresh span (mm/mspan.c); kmalloc checks that
 *   an object it hands out is still all poison: anything else was written
 *   after it was freed ("use-after-free write").  A block whose trailer is
 *   poison is free: freeing or reallocating it again is a "double free",
 *   sizing it a "use after free".
 *
 *   Guard mode.  When kspan_guard_sample says so, an allocation gets a
 *   slot of the guarded pool instead (no red zone: a guard page), and
 *   realloc always moves such an object, so stale pointers fault.
 *
 * Every report names the function the program called (fn: kfree, free,
 * realloc, ...) and the call site the wrapper recorded (site).
 *
 * Neighbours are read while other CPUs may free or allocate them.  The
 * trailer is the flag: a free writes the poison over the trailer first
 * and then the rest (release fence between), an allocation writes the
 * canaries first and the trailer last; a checker reads the trailer, then
 * the canaries, then the trailer again (acquire fences), and a neighbour
 * whose trailer is poison or changed meanwhile is skipped.
 *
 * These checks cost a pass over every object on allocation and free: for
 * finding bugs, not for production.  Always-on checks (double and invalid
 * frees) are in mm/malloc.c.
 */
#include "mm/debugheap.h"

#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "mm/arena.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/guard.h"
#include "mm/slab.h"

#define POISON_WORD 0xDBDBDBDBDBDBDBDBull

static uint64_t secret = 0x9E3779B97F4A7C15ull;

void ks_debugheap_seed(uint64_t s)
{
	secret = s | 1;
	ks_guard_seed(ks_mix64(s ^ 5));
}

/* ---- the span facts the debug layer needs -------------------------------- */

/* The blocks of the small span holding p: [lo, hi) in steps of size. */
struct blocks {
	const struct mspan *s;
	uintptr_t lo, hi;
	size_t size;
};

#if KSPAN_DEBUG_HEAP
static bool small_blocks(uintptr_t p, struct blocks *b)
{
	const struct mspan *s = spanof(p);
	if (!s || s->state != MSPAN_INUSE || s->spanclass == 0 || s->gc)
		return false;
	b->s = s;
	b->lo = s->base;
	b->size = s->elemsize;
	b->hi = s->base + (uintptr_t)s->nelems * s->elemsize;
	return p >= b->lo && p < b->hi;
}

static bool is_block_start(const struct blocks *b, uintptr_t p)
{
	return (p - b->lo) % b->size == 0;
}
#endif

/* ---- trailers --------------------------------------------------------------- */

static void trailer_read(const uint8_t *p, size_t blk, uint64_t t[2])
{
	const uint64_t *w = (const uint64_t *)(const void *)(p + blk - KS_RZ_TRAILER);
	t[0] = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
	t[1] = __atomic_load_n(&w[1], __ATOMIC_RELAXED);
}

static void trailer_write(uint8_t *p, size_t blk, uint64_t site, uint64_t code)
{
	uint64_t *w = (uint64_t *)(void *)(p + blk - KS_RZ_TRAILER);
	__atomic_store_n(&w[1], code, __ATOMIC_RELAXED);
	__atomic_store_n(&w[0], site, __ATOMIC_RELAXED);
}

static bool trailer_free(const uint64_t t[2])
{
	return t[0] == POISON_WORD && t[1] == POISON_WORD;
}

/* The first canary byte of [size, blk - trailer) that is not intact, or
 * blk if none. */
static size_t first_bad_canary(const uint8_t *p, size_t size, size_t blk)
{
	size_t end = blk - KS_RZ_TRAILER;
	size_t i = size < end ? ks_first_not(p, size, end, KS_CANARY_BYTE) : end;
	return i == end ? blk : i;
}

/* ---- arming and checking a block ------------------------------------------- */

/* A block about to be handed out must still be all poison. */
static void check_poison(const char *fn, const uint8_t *p, size_t blk)
{
	size_t i = ks_first_not(p, 0, blk, KS_POISON_BYTE);
	if (i != blk)
		ks_panic("%s: use-after-free write: object %p (%lu bytes) "
		         "was modified at offset %lu (byte 0x%x) after it was "
		         "freed", fn, (const void *)p, (unsigned long)blk,
		         (unsigned long)i, (unsigned)p[i]);
}

/* Canaries over [size, blk - trailer), then the trailer (last). */
static void set_redzone(uint8_t *p, size_t blk, size_t size, void *site)
{
	if (size < blk - KS_RZ_TRAILER)
		__builtin_memset(p + size, KS_CANARY_BYTE, blk - KS_RZ_TRAILER - size);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	trailer_write(p, blk, (uint64_t)(uintptr_t)site, (uint64_t)size ^ secret);
}

static void check_neighbours(const char *fn, uintptr_t p, const struct blocks *b,
                             bool freeing);

#if KSPAN_DEBUG_HEAP
static void *arm(uint8_t *p, size_t size, void *site, const char *fn)
{
	if (!p)
		return 0;
	size_t blk = ks_usable_size(p, fn);
	struct blocks b;
	bool small = small_blocks((uintptr_t)p, &b);
	if (small)
		check_poison(fn, p, blk);
	set_redzone(p, blk, size, site);
	if (small)
		check_neighbours(fn, (uintptr_t)p, &b, false);
	return p;
}
#endif

__attribute__((noreturn, cold))
static void overflow_at(const char *fn, const uint8_t *p, size_t blk,
                        uint64_t t[2], size_t at)
{
	uint64_t size = t[1] ^ secret;
	if (size > blk - KS_RZ)
		ks_panic("%s(%p): heap overflow: the red zone trailer of this "
		         "%lu-byte block is overwritten", fn, (const void *)p,
		         (unsigned long)blk);
	ks_panic("%s(%p): heap overflow: object of %lu bytes allocated at %p "
	         "was written past its end at offset %lu", fn, (const void *)p,
	         (unsigned long)size, (void *)(uintptr_t)t[0], (unsigned long)at);
}

/* p's block is free: say so as the caller's bug. */
__attribute__((noreturn, cold))
static void already_free(const char *fn, uintptr_t p, const struct blocks *b,
                         bool freeing)
{
	const struct mspan *s = b->s;
	ks_panic("%s(%p): %s (object already free) in span %p [%p-%p) size %lu",
	         fn, (void *)p, freeing ? "double free" : "use after free",
	         (const void *)s, (void *)s->base, (void *)mspan_end(s),
	         (unsigned long)b->size);
}

#if KSPAN_DEBUG_HEAP
/* Returns the size asked for; stops if the red zone was written, or if
 * the block is free (freeing: a double free; else a use after free). */
static size_t check_redzone(const char *fn, const uint8_t *p, size_t *blkp,
                            bool freeing)
{
	struct blocks b;
	if (small_blocks((uintptr_t)p, &b) && is_block_start(&b, (uintptr_t)p)) {
		uint64_t t[2];
		trailer_read(p, b.size, t);
		if (trailer_free(t))
			already_free(fn, (uintptr_t)p, &b, freeing);
	}
	size_t blk = ks_usable_size(p, fn);   /* panics on a bad pointer */
	uint64_t t[2];
	trailer_read(p, blk, t);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint64_t size = t[1] ^ secret;
	if (size > blk - KS_RZ)
		overflow_at(fn, p, blk, t, 0);
	size_t bad = first_bad_canary(p, (size_t)size, blk);
	if (bad != blk)
		overflow_at(fn, p, blk, t, bad);
	*blkp = blk;
	return (size_t)size;
}
#endif

/* Check the red zone of the block q next to p (same span), skipping it if
 * it is free or changes while it is read (another CPU frees or allocates
 * it). */
static void check_neighbour(const char *fn, uintptr_t p, uintptr_t q, size_t blk,
                            bool freeing)
{
	const uint8_t *b = (const uint8_t *)q;
	uint64_t t1[2];
	trailer_read(b, blk, t1);
	if (t1[0] == POISON_WORD || t1[1] == POISON_WORD)
		return;   /* free, or being allocated or freed */
	for (int tries = 0;; tries++) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t size = t1[1] ^ secret;
		size_t bad = size > blk - KS_RZ ? 0 : first_bad_canary(b, (size_t)size, blk);
		if (bad == blk)
			return;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t t2[2];
		trailer_read(b, blk, t2);
		if (t2[0] != t1[0] || t2[1] != t1[1])
			return;   /* freed or allocated again meanwhile */
		if (tries < 2)
			continue;  /* and once more: it may have been both */
		if (size > blk - KS_RZ)
			ks_panic("%s(%p): heap overflow: the red zone trailer of the "
			         "neighbouring %lu-byte block %p is overwritten (found "
			         "when this block was %s)", fn, (void *)p,
			         (unsigned long)blk, (const void *)b,
			         freeing ? "freed" : "allocated");
		ks_panic("%s(%p): heap overflow: the neighbouring object %p of %lu "
		         "bytes allocated at %p was written past its end at offset "
		         "%lu (found when this block was %s)", fn, (void *)p,
		         (const void *)b, (unsigned long)size, (void *)(uintptr_t)t1[0],
		         (unsigned long)bad, freeing ? "freed" : "allocated");
	}
}

/* The blocks on either side of p in its span. */
static void check_neighbours(const char *fn, uintptr_t p, const struct blocks *b,
                             bool freeing)
{
	if (p >= b->lo + b->size)
		check_neighbour(fn, p, p - b->size, b->size, freeing);
	if (p + 2 * b->size <= b->hi)
		check_neighbour(fn, p, p + b->size, b->size, freeing);
}

/* ---- object caches that check their objects (mm/slab.c) ---------------------
 *
 * KSPAN_SLAB_POISON and KSPAN_SLAB_RED_ZONE, in every build: the same block
 * layout, patterns, secret and reports as kmalloc's blocks here. */

static struct blocks span_blocks(const struct mspan *s)
{
	return (struct blocks){ s, s->base, s->base + s->limit, s->elemsize };
}

void ks_rz_carve(uint8_t *p, size_t blk, bool poison, bool redzone)
{
	if (poison)
		__builtin_memset(p, KS_POISON_BYTE, blk);
	else if (redzone)
		trailer_write(p, blk, POISON_WORD, POISON_WORD);
}

void ks_rz_alloc(const char *fn, const struct mspan *s, uint8_t *p, size_t size,
                 void *site, bool poison, bool redzone)
{
	if (poison)
		check_poison(fn, p, s->elemsize);
	if (!redzone)
		return;
	struct blocks b = span_blocks(s);
	set_redzone(p, b.size, size, site);
	check_neighbours(fn, (uintptr_t)p, &b, false);
}

void ks_rz_free(const char *fn, const struct mspan *s, uint8_t *p, bool poison,
                bool redzone)
{
	struct blocks b = span_blocks(s);
	if (redzone) {
		uint64_t t[2];
		trailer_read(p, b.size, t);
		if (trailer_free(t))
			already_free(fn, (uintptr_t)p, &b, true);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t size = t[1] ^ secret;
		if (size > b.size - KS_RZ)
			overflow_at(fn, p, b.size, t, 0);
		size_t bad = first_bad_canary(p, (size_t)size, b.size);
		if (bad != b.size)
			overflow_at(fn, p, b.size, t, bad);
		check_neighbours(fn, (uintptr_t)p, &b, true);
		trailer_write(p, b.size, POISON_WORD, POISON_WORD);
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	if (poison)
		__builtin_memset(p, KS_POISON_BYTE, b.size - (redzone ? KS_RZ_TRAILER : 0));
}

void *ks_rz_site(const uint8_t *p, size_t blk)
{
	uint64_t t[2];
	trailer_read(p, blk, t);
	return t[0] == POISON_WORD ? NULL : (void *)(uintptr_t)t[0];
}

#if KSPAN_DEBUG_HEAP
/* ---- the entry points of the debug layer ------------------------------------- */

void *ks_debug_malloc(size_t size, const char *fn, void *site)
{
	if (size > SIZE_MAX - KS_RZ)
		return 0;
	if (ks_guard_sample_now()) {
		/* Sampled: against a guard page instead of a red zone. */
		void *g = ks_guard_alloc(size, site);
		if (g)
			return g;
	}
	return arm(ks_malloc(size + KS_RZ), size, site, fn);
}

void *ks_debug_malloc_aligned(size_t size, size_t align, const char *fn, void *site)
{
	if (size > SIZE_MAX - KS_RZ || align == 0 || (align & (align - 1)))
		return 0;
	if (ks_guard_sample_now()) {
		void *g = ks_guard_alloc_aligned(size, align, site);
		if (g)
			return g;
	}
	return arm(ks_malloc_aligned(size + KS_RZ, align), size, site, fn);
}

void ks_debug_free(void *ptr, const char *fn, void *site)
{
	if (!ptr)
		return;
	struct kmem_cache *k = ks_slab_cache_of((uintptr_t)ptr);
	if (k) {
		ks_slab_kfree(k, ptr, fn, site);   /* an object cache's */
		return;
	}
	if (ks_guard_owns((uintptr_t)ptr)) {
		ks_guard_free_as((uintptr_t)ptr, fn, site);
		return;
	}
	size_t blk;
	check_redzone(fn, ptr, &blk, true);
	struct blocks b;
	if (small_blocks((uintptr_t)ptr, &b)) {
		check_neighbours(fn, (uintptr_t)ptr, &b, true);
		/* The trailer first: from here on the block reads as free. */
		trailer_write(ptr, blk, POISON_WORD, POISON_WORD);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		__builtin_memset(ptr, KS_POISON_BYTE, blk - KS_RZ_TRAILER);
	}
	ks_free(ptr, fn);
}

/* A kpages_alloc block: pages of its own, no red zone, no site. */
static bool is_kpages(const void *ptr)
{
	const struct mspan *s = spanof((uintptr_t)ptr);
	return s && s->state == MSPAN_INUSE && s->manual;
}

size_t ks_debug_usable_size(const void *ptr, const char *fn)
{
	if (!ptr)
		return 0;
	if (ks_guard_owns((uintptr_t)ptr))
		return ks_guard_size_as((uintptr_t)ptr, fn, false);
	if (is_kpages(ptr))
		return ks_usable_size(ptr, fn);
	size_t blk;
	return check_redzone(fn, ptr, &blk, false);
}

void *ks_debug_realloc(void *ptr, size_t size, const char *fn, void *site)
{
	if (!ptr)
		return ks_debug_malloc(size, fn, site);
	if (size > SIZE_MAX - KS_RZ)
		return 0;
	size_t have, blk = 0;
	bool guarded = ks_guard_owns((uintptr_t)ptr);
	if (guarded)
		have = ks_guard_size_as((uintptr_t)ptr, fn, true);
	else
		have = check_redzone(fn, ptr, &blk, true);
	/* In place when the block still fits and is not more than twice the
	 * size, unless the object is guarded or this one is to be: those
	 * always move, so that the old pointer faults. */
	if (!guarded && size + KS_RZ <= blk && size + KS_RZ > blk / 2 &&
	    !ks_guard_sample_now()) {
		set_redzone(ptr, blk, size, site);
		return ptr;
	}
	void *q = ks_debug_malloc(size, fn, site);
	if (!q)
		return 0;
	__builtin_memcpy(q, ptr, size < have ? size : have);
	ks_debug_free(ptr, fn, site);
	return q;
}

/* Where the object at p was allocated (for reports), or NULL. */
void *kspan_alloc_site(const void *ptr)
{
	if (ks_guard_owns((uintptr_t)ptr))
		return ks_guard_site((uintptr_t)ptr);
	if (is_kpages(ptr))
		return NULL;
	size_t blk = ks_usable_size(ptr, "kspan_alloc_site");
	uint64_t t[2];
	trailer_read(ptr, blk, t);
	return (void *)(uintptr_t)t[0];
}
#else
/* Without the debug heap no call sites are kept. */
void *kspan_alloc_site(const void *ptr)
{
	(void)ptr;
	return NULL;
}
#endif
