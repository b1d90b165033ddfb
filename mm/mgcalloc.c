/*
 * Allocation of collected objects: kgc_alloc and kgc_alloc_noscan (see
 * mm/mgc.c for the collector as a whole).
 *
 * Fast path (objects up to 512 bytes), as short as kmalloc's and on the
 * same per-CPU caches (mm/mcache.h): with the fast-path guard, take the
 * lowest free bit of the class's word (and clear the object's mark bit,
 * which is set while the slot is free: a flip), zero the requested
 * words.  It writes no pointer bits: those of a free slot stay as its
 * last object left them (the sweep does not touch them), so a span whose
 * free slots all have the same bits (gcuniform, gcbits) needs none
 * written for an object with those bits.  A fresh span gets them for all
 * its slots at once (heapbits_fill_slots: a periodic pattern, a store a
 * pointer word) from its first object.  The class keeps the key (type
 * and request size) known to have cur's bits, gckey; an object of
 * another key has its bits worked out (the first bytes of the type's
 * map, or for an array the map repeated over 64 words from a small
 * per-CPU cache of types) and compared (settle): equal, its key becomes
 * gckey; else its bits are written (one or two masked stores) and cur's
 * slots are uniform no longer, until the span goes back to the heap.  So
 * the pointer-map cost of a program that fills a class with one type is
 * a few stores a span.  A type longer than 64 words stored more than
 * once, or a larger object, takes the slow path, which writes the bits a
 * chunk (64 words) at a time.  No lock, no atomic.  Debug builds check
 * the skipped bits on every allocation.
 *
 * The fast paths keep the interrupt guard (ks_plat_irq_save) even where
 * kmalloc's need none (KSPAN_OWN_SLOTS): a collection stops the other
 * CPUs with an interrupt and drains their collector caches (mm/mgc.c), so
 * it must never stop a CPU between the load and the store of a class
 * word.  kmalloc's caches are drained only by their own CPU, outside
 * interrupts.  The guard is a flags save and cli in a kernel, a
 * thread-local compare on the host; the slot stays the caller's own, so
 * an interrupt handler (no own slot) takes the slow path and its CPU's
 * interrupt slot.
 *
 * Slow path, when the word is empty: check the trigger (mm/mgc.c), sweep
 * this class before taking a fresh span (mm/mgcsweep.c), let the mcache
 * move to another word or span, record a fresh span's pages as the
 * collector's, and count the word the fast path will take from as
 * allocated (objects and bytes, for the statistics and the trigger): the
 * fast path never counts.  Then sweep a little more if the sweep is behind.
 *
 * Large objects (over 32 KiB) are spans of their own (mheap), zeroed only
 * if their pages were used before.  Go's tiny allocator packs noscan
 * objects under 16 bytes into 16-byte blocks.
 *
 * Out of memory: collect, finish the sweep, try once more.
 */
#include "lib/config.h"
#if KSPAN_GC
#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mgc.h"
#include "mm/mheap.h"
#include "mm/reclaim.h"

#define FAST_MAX 512   /* bytes: 64 words, one pointer-bit word */

struct mcache_gc *gc_of[KSPAN_MAX_CPUS + 1];
uint64_t gc_inuse_objects, gc_inuse_bytes, gc_allocated_since;
static struct fixalloc gcclass_pool;   /* struct mcache_gc, one per CPU */

/* The byte offset in struct mcache_gc of the class of an object of r
 * words (1..64, the fast path's), scan and noscan: one load instead of
 * the class number times the size of a class. */
static uint16_t class_off[2][FAST_MAX / 8 + 1];

void gc_alloc_init(void)
{
	for (unsigned noscan = 0; noscan < 2; noscan++)
		for (uintptr_t r = 1; r <= FAST_MAX / 8; r++)
			class_off[noscan][r] = (uint16_t)__builtin_offsetof(struct mcache_gc,
				cls[(unsigned)ks_size_to_class8[r] << 1 | noscan]);
	_Static_assert(__builtin_offsetof(struct mcache_gc, cls[KS_NUM_SPAN_CLASSES]) <= 65535,
	               "class offsets must fit 16 bits");
	KS_CHECK(meta_pool_init(&gcclass_pool, sizeof(struct mcache_gc), KSPAN_MAX_CPUS) == 0,
	         "kgc_init: no address space for the per-CPU collector caches");
}

/* Zero n words: stores for up to 16 (a memset call or rep stos costs more
 * there), memset beyond (the fast paths call zero_long for those). */
static inline void zero_words(void *p, uintptr_t n)
{
	uint64_t *q = p;
	switch (n) {
	case 16: q[15] = 0; /* fall through */
	case 15: q[14] = 0; /* fall through */
	case 14: q[13] = 0; /* fall through */
	case 13: q[12] = 0; /* fall through */
	case 12: q[11] = 0; /* fall through */
	case 11: q[10] = 0; /* fall through */
	case 10: q[9] = 0; /* fall through */
	case 9: q[8] = 0; /* fall through */
	case 8: q[7] = 0; /* fall through */
	case 7: q[6] = 0; /* fall through */
	case 6: q[5] = 0; /* fall through */
	case 5: q[4] = 0; /* fall through */
	case 4: q[3] = 0; /* fall through */
	case 3: q[2] = 0; /* fall through */
	case 2: q[1] = 0; /* fall through */
	case 1: q[0] = 0;
		return;
	default:
		__builtin_memset(p, 0, n * 8);
	}
}

/* Where a tiny object of size bytes goes in a block whose first free byte
 * is off: aligned as its size needs (Go: 8, 4 or 2 by the low bits). */
static inline uintptr_t tiny_align(uintptr_t off, size_t size)
{
	return (size & 7) == 0 ? (off + 7) & ~(uintptr_t)7
	     : (size & 3) == 0 ? (off + 3) & ~(uintptr_t)3
	     : (size & 1) == 0 ? (off + 1) & ~(uintptr_t)1 : off;
}

/* mcache_take (mm/mcache.h: the lowest free bit of the class's word), and
 * the object's mark bit cleared: in collector spans a free slot's mark bit
 * is set (mm/mgcsweep.c), so the mark needs no look at the free bits; an
 * allocated object starts unmarked.  The mark bits follow the free bits
 * in struct mspan, word for word. */
_Static_assert(__builtin_offsetof(struct mspan, markbits) ==
               __builtin_offsetof(struct mspan, freebits) + 8 * KS_FREE_WORDS,
               "mark bits must follow the free bits");

static inline __attribute__((always_inline)) bool
gc_pop(struct mcache_class *pc, uintptr_t *out)
{
	uint64_t *wp = pc->word;
	uint64_t m = __atomic_load_n(wp, __ATOMIC_RELAXED);
	if (__builtin_expect(m == 0, 0))
		return false;
	uint64_t rest = m & (m - 1), *mark = wp + KS_FREE_WORDS;
	__atomic_store_n(wp, rest, __ATOMIC_RELAXED);
	/* The slot was free, so its mark bit is set: flip it to clear it. */
	KS_ASSERT(__atomic_load_n(mark, __ATOMIC_RELAXED) & (m ^ rest));
	__atomic_store_n(mark, __atomic_load_n(mark, __ATOMIC_RELAXED) ^ (m ^ rest),
	                 __ATOMIC_RELAXED);
	unsigned b = (unsigned)__builtin_ctzll(m);
	if (KSPAN_RANDOMIZE)
		b ^= pc->key;
	*out = pc->base + (uintptr_t)b * pc->size;
	return true;
}

static inline void *gc_take(struct mcache_class *pc)
{
	uintptr_t p;
	return gc_pop(pc, &p) ? (void *)p : NULL;
}

/* The first r (1..64) bits of a pointer map at least r words long: only
 * the bytes that hold them are read. */
static inline uint64_t map_prefix(const uint8_t *mask, uintptr_t r)
{
	uint64_t v = mask[0];
	for (uintptr_t i = 1; i < (r + 7) / 8; i++)
		v |= (uint64_t)mask[i] << (8 * i);
	return v;
}

/* The key of an object of r words (1..64) of type (NULL: untyped): two
 * objects with one key have the same pointer bits.  Type pointers are
 * canonical addresses, so the shift loses nothing (their top bits are
 * copies of bit 47, or 56). */
static inline uintptr_t gc_key(const struct kgc_type *type, uintptr_t r)
{
	return (uintptr_t)type << 7 | r;
}

/* ---- the per-CPU state ---------------------------------------------------- */

/* CPU c's collector state, set up on first use; NULL without memory. */
static struct mcache_gc *gc_classes(struct mcache *c)
{
	struct mcache_gc *g = c->gc;
	if (ks_likely(g))
		return g;
	g = meta_alloc(&gcclass_pool);
	if (!g)
		return NULL;
	for (unsigned sc = 2; sc < KS_NUM_SPAN_CLASSES; sc++)
		mcache_class_init(&g->cls[sc], &ks_gccentral[sc], c->cpu + KS_OWNER_GC);
	g->tiny = g->tinyoffset = 0;
	for (unsigned i = 0; i < GC_TYPE_CACHE; i++)
		g->types[i].type = 0;
	c->gc = g;
	__atomic_store_n(&gc_of[c->cpu], g, __ATOMIC_RELEASE);
	return g;
}

void gc_drain_classes(struct mcache *c)
{
	struct mcache_gc *g = c->gc;
	if (!g)
		return;
	for (unsigned sc = 2; sc < KS_NUM_SPAN_CLASSES; sc++) {
		struct mcache_class *pc = &g->cls[sc];
		if (!pc->cur)
			continue;
		/* The objects counted but not taken. */
		uint64_t left = ks_popcount64(__atomic_load_n(pc->word, __ATOMIC_RELAXED));
		__atomic_fetch_sub(&gc_inuse_objects, left, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&gc_inuse_bytes, left * pc->size, __ATOMIC_RELAXED);
		mcache_class_drain(c, pc);
	}
	g->tiny = g->tinyoffset = 0;
}

/* The repeated pointer map of type (NULL: every word), cached; false if
 * the type is longer than 64 words. */
static bool type_bits(struct mcache_gc *g, const struct kgc_type *type, uint64_t *bits)
{
	if (!type) {
		*bits = ~0ull;
		return true;
	}
	unsigned t = gc_type_slot(type);
	if (g->types[t].type == type) {
		*bits = g->types[t].bits;
		return true;
	}
	if (!heapbits_pattern64(type, bits))
		return false;
	g->types[t].type = type;
	g->types[t].bits = *bits;
	return true;
}

/* ---- the slow path ---------------------------------------------------------- */

/* The pointer bits of an object of r <= 64 words (size bytes) of type
 * (NULL: every word a pointer), or false for a type longer than 64 words
 * stored more than once (then heapbits_set_object). */
static bool obj_bits(struct mcache_gc *g, const struct kgc_type *type, size_t size,
                     uintptr_t r, uint64_t *out)
{
	uint64_t bits = ~0ull;
	if (type && type->size >= size)
		bits = map_prefix(type->ptrmask, r);   /* one instance */
	else if (type && !type_bits(g, type, &bits))
		return false;
	*out = bits & heapbits_low(r);
	return true;
}

/* Class pc's object p (just taken, of key with pointer bits bits) gets
 * its bits: none written if cur's free slots all have them (gcuniform),
 * and then key becomes the one the fast path writes no bits for; else
 * p's are written, and cur's free slots may have several objects' bits
 * from now on. */
static void settle(struct mcache_class *pc, uintptr_t p, uintptr_t key, uint64_t bits)
{
	struct mspan *s = pc->cur;
	if (pc->gckey == key)
		return;
	if (s->gcuniform && s->gcbits == bits) {
		pc->gckey = key;
		return;
	}
	heapbits_write_small(p, pc->size >> 3, bits);
	s->gcuniform = 0;
	pc->gckey = 0;
}

/* An object of class sc from CPU c's cache, refilling it; key and bits:
 * the object's (key 0 for noscan classes and objects longer than 64
 * words).  A fresh span is published to the collector and, given a key,
 * has every slot's pointer bits written for it (heapbits_fill_slots): the
 * fast path then writes none while the key stays the same.  Interrupts
 * off. */
static void *take(struct mcache *c, struct mcache_gc *g, spanclass_t sc,
                  uintptr_t key, uint64_t bits)
{
	struct mcache_class *pc = &g->cls[sc];
	void *p = gc_take(pc);
	if (p)
		return p;
	gc_sweep_for_alloc(sc);
	struct mspan *old = pc->cur;
	p = mcache_alloc_slow(c, pc);
	if (!p)
		return NULL;
	struct mspan *s = pc->cur;
	if (s != old) {
		if (!__atomic_load_n(gcpage_state(arena_page(s->base)), __ATOMIC_RELAXED)) {
			gc_span_publish(s);
			s->gcuniform = key != 0;
			s->gcbits = bits;
			if (key)
				heapbits_fill_slots(s->base, s->nelems, s->elemsize / 8, bits);
		}
		pc->gckey = 0;   /* settle finds out */
	}
	gc_span_unmark(s, (uintptr_t)p);   /* mcache_alloc_slow took it */
	uint64_t n = 1 + ks_popcount64(__atomic_load_n(pc->word, __ATOMIC_RELAXED));
	__atomic_fetch_add(&gc_inuse_objects, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&gc_inuse_bytes, n * pc->size, __ATOMIC_RELAXED);
	__atomic_fetch_add(&gc_allocated_since, n * pc->size, __ATOMIC_RELAXED);
	gc_sweep_assist();
	return p;
}

static void *small_slow(size_t size, const struct kgc_type *type, bool noscan)
{
	spanclass_t sc = ks_make_spanclass(ks_size_to_class(size), noscan);
	ks_irqstate_t st = ks_plat_irq_save();
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	struct mcache_gc *g = c ? gc_classes(c) : NULL;
	void *p = NULL;
	if (g) {
		struct mcache_class *pc = &g->cls[sc];
		uintptr_t r = (size + 7) / 8, objw = pc->size / 8, key = 0;
		uint64_t bits = 0;
		if (!noscan && objw <= 64 && obj_bits(g, type, size, r, &bits))
			key = gc_key(type, r);
		p = take(c, g, sc, key, bits);
		if (p && !noscan) {
			if (key)
				settle(pc, (uintptr_t)p, key, bits);
			else
				heapbits_set_object((uintptr_t)p, objw, r, type);
		}
		if (p)
			__builtin_memset(p, 0, r * 8);
	}
	ks_plat_irq_restore(st);
	return p;
}

static void *large(size_t size, const struct kgc_type *type, bool noscan)
{
	uintptr_t npages = (size + KS_PAGE_SIZE - 1) >> KS_PAGE_SHIFT;
	struct mspan *s = mheap_alloc(npages, 1);
	if (!s)
		return NULL;
	s->gc = 1;
	s->noscan = noscan;
	s->markbits[0] = 0;
	if (!noscan)
		heapbits_set_object(s->base, npages << (KS_PAGE_SHIFT - 3), (size + 7) / 8, type);
	if (s->needzero)
		__builtin_memset((void *)s->base, 0, size);
	uint64_t bytes = npages << KS_PAGE_SHIFT;
	__atomic_fetch_add(&gc_inuse_objects, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&gc_inuse_bytes, bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&gc_allocated_since, bytes, __ATOMIC_RELAXED);
	gc_large_add(s);
	return (void *)s->base;
}

/* Go's tiny allocator: size < 16 bytes, no pointers, packed into 16-byte
 * noscan blocks (zeroed whole when taken, so the pieces need no zeroing;
 * never freed explicitly).  Interrupts off. */
static void *tiny_from(struct mcache *c, struct mcache_gc *g, size_t size)
{
	uintptr_t off = tiny_align(g->tinyoffset, size);
	if (g->tiny && off + size <= KS_TINY_SIZE) {
		g->tinyoffset = off + size;
		return (void *)(g->tiny + off);
	}
	void *block = take(c, g, ks_make_spanclass(KS_TINY_SIZE_CLASS, true), 0, 0);
	if (!block)
		return NULL;
	zero_words(block, KS_TINY_SIZE / 8);
	/* Keep whichever block has more room left (Go does the same). */
	if (!g->tiny || size < g->tinyoffset) {
		g->tiny = (uintptr_t)block;
		g->tinyoffset = size;
	}
	return block;
}

static void *tiny_slow(size_t size)
{
	ks_irqstate_t st = ks_plat_irq_save();
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	struct mcache_gc *g = c ? gc_classes(c) : NULL;
	void *p = g ? tiny_from(c, g, size) : NULL;
	ks_plat_irq_restore(st);
	return p;
}

__attribute__((noinline))
static void *gc_alloc_slow(size_t size, const struct kgc_type *type, bool noscan)
{
	KS_CHECK(gc_ready, "%s: kgc_init has not been called",
	         noscan ? "kgc_alloc_noscan" : "kgc_alloc");
	KS_CHECK(!type || type->size > 0, "kgc_alloc(%lu): type %s has size 0",
	         (unsigned long)size, type && type->name ? type->name : "?");
	if (size == 0)
		size = 1;
	if (size > (size_t)1 << 46)
		return NULL;
	for (unsigned attempt = 0;; attempt++) {
		gc_maybe_collect();
		void *p = noscan && size < KS_TINY_SIZE ? tiny_slow(size)
		        : size <= KS_MAX_SMALL_SIZE ? small_slow(size, type, noscan)
		        : large(size, type, noscan);
		if (p)
			return p;
		/* Out of memory: collect, sweep everything, and take back
		 * what the caches hold (mm/reclaim.c, without a second
		 * cycle), then try again; a second failure scavenges every
		 * free page before the last try. */
		if (attempt == 0) {
			kgc_collect();
			gc_sweep(0);
		}
		if (!ks_reclaim_after_gc(size, attempt) && attempt > 0)
			return NULL;
	}
}

/* ---- the fast paths --------------------------------------------------------- */

/* The guard (see the top of the file).  The fast paths take it only for
 * a caller with a slot of its own (below KSPAN_MAX_CPUS): for those it
 * never takes its own slow path (the host's shared slot), so the fast
 * paths call nothing and keep no registers. */
static inline ks_irqstate_t gc_fast_enter(void)
{
	return ks_plat_irq_save();
}

static inline void gc_fast_exit(ks_irqstate_t st)
{
	ks_plat_irq_restore(st);
}

/* The fast path's object p of class pc, whose slot has the bits of
 * cur's gckey: a debug build checks them (and so the fill, the sweep and
 * settle keeping what gckey promises). */
static void check_uniform(struct mcache_gc *g, const struct mcache_class *pc, uintptr_t p,
                          const struct kgc_type *type, size_t size)
{
	uintptr_t r = (size + 7) / 8, objw = pc->size / 8;
	uint64_t want;
	KS_CHECK(obj_bits(g, type, size, r, &want) && heapbits_read_small(p, objw) == want,
	         "kgc_alloc(%lu, %s): object %p of a span typed alike has pointer bits "
	         "%lx, its type gives %lx", (unsigned long)size,
	         type && type->name ? type->name : "untyped", (void *)p,
	         (unsigned long)heapbits_read_small(p, objw), (unsigned long)want);
}

/* The fast path when cur's gckey is not the object's key: settle the
 * bits.  Tail-called, so the fast path keeps no registers. */
__attribute__((noinline))
static void *alloc_mixed(struct mcache_gc *g, struct mcache_class *pc, size_t size,
                         const struct kgc_type *type, ks_irqstate_t st)
{
	uintptr_t r = (size + 7) >> 3;
	uint64_t bits;
	uintptr_t p = 0;
	if (obj_bits(g, type, size, r, &bits) && gc_pop(pc, &p)) {
		settle(pc, p, gc_key(type, r), bits);
		zero_words((void *)p, r);
	}
	gc_fast_exit(st);
	return p ? (void *)p : gc_alloc_slow(size, type, false);
}

/* Zero the r > 16 words of the fast path's object p, end the guard st,
 * return p (a tail call of the fast paths: they keep no registers). */
__attribute__((noinline))
static void *zero_long(uintptr_t p, uintptr_t r, ks_irqstate_t st)
{
	__builtin_memset((void *)p, 0, r * 8);
	gc_fast_exit(st);
	return (void *)p;
}

static inline struct mcache_class *fast_class(struct mcache_gc *g, bool noscan, uintptr_t r)
{
	return (struct mcache_class *)((uintptr_t)g + class_off[noscan][r]);
}

void *kgc_alloc(size_t size, const struct kgc_type *type)
{
	if (ks_likely(size - 1 < FAST_MAX)) {
		uintptr_t r = (size + 7) >> 3, p;
		unsigned slot = mcache_fast_slot();
		if (ks_unlikely(slot >= KSPAN_MAX_CPUS))
			goto slow;   /* no slot of its own: no fast path, no guard */
		ks_irqstate_t st = gc_fast_enter();
		struct mcache_gc *g = gc_of[slot];
		if (ks_likely(g)) {
			struct mcache_class *pc = fast_class(g, false, r);
			if (ks_unlikely(pc->gckey != gc_key(type, r)))
				return alloc_mixed(g, pc, size, type, st);
			if (ks_likely(gc_pop(pc, &p))) {
				if (KSPAN_DEBUG)
					check_uniform(g, pc, p, type, size);
				if (ks_unlikely(r > 16))
					return zero_long(p, r, st);
				zero_words((void *)p, r);
				gc_fast_exit(st);
				return (void *)p;
			}
		}
		gc_fast_exit(st);
	}
slow:
	return gc_alloc_slow(size, type, false);
}

void *kgc_alloc_noscan(size_t size)
{
	if (ks_likely(size - 1 < FAST_MAX)) {
		uintptr_t r = (size + 7) >> 3, p;
		unsigned slot = mcache_fast_slot();
		if (ks_unlikely(slot >= KSPAN_MAX_CPUS))
			goto slow;   /* no slot of its own: no fast path, no guard */
		ks_irqstate_t st = gc_fast_enter();
		struct mcache_gc *g = gc_of[slot];
		if (ks_likely(g)) {
			if (size >= KS_TINY_SIZE) {
				if (ks_likely(gc_pop(fast_class(g, true, r), &p))) {
					if (ks_unlikely(r > 16))
						return zero_long(p, r, st);
					zero_words((void *)p, r);
					gc_fast_exit(st);
					return (void *)p;
				}
			} else {
				uintptr_t off = tiny_align(g->tinyoffset, size);
				if (g->tiny && off + size <= KS_TINY_SIZE) {
					g->tinyoffset = off + size;
					gc_fast_exit(st);
					return (void *)(g->tiny + off);
				}
				if (ks_likely(gc_pop(&g->cls[ks_make_spanclass(KS_TINY_SIZE_CLASS, true)], &p))) {
					zero_words((void *)p, KS_TINY_SIZE / 8);
					/* Keep whichever block has more room left. */
					if (!g->tiny || size < g->tinyoffset) {
						g->tiny = p;
						g->tinyoffset = size;
					}
					gc_fast_exit(st);
					return (void *)p;
				}
			}
		}
		gc_fast_exit(st);
	}
slow:
	return gc_alloc_slow(size, 0, true);
}
#endif /* KSPAN_GC */
