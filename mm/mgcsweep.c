/*
 * The collector's sweep, lazy (Go's sweep-on-allocate; see mm/mgc.c for
 * the cycle).
 *
 * At the end of a cycle (world stopped) every small collector span leaves
 * its mcentral's lists for this file's unswept list of its class, and the
 * sweep generation moves on, so every span is "unswept": its allocated
 * objects without a mark bit are dead, but still allocated in its free
 * bits.  Nothing else happens in the pause.  Then spans are swept:
 *
 *   - on demand: before a CPU takes a fresh span of a class from the heap,
 *     it sweeps unswept spans of that class until one has free objects
 *     (gc_sweep_for_alloc), so the class's memory is reused first;
 *   - in proportion to allocation: each refill sweeps spans of any class
 *     while the sweep is behind a schedule that finishes it by half of the
 *     allocation the next cycle allows (gc_sweep_assist);
 *   - on request: kgc_sweep() (a background pass, a test), kspan_drain_cpu,
 *     and the next cycle, which finishes what is left before it marks.
 *
 * Sweeping a span (under its class's mcentral lock, which kgc_is_live also
 * takes, so it sees a span before or after, never during): allocated
 * objects without a mark bit become free (Go's "the mark bits become the
 * alloc bits", a few word operations per 64 objects), mark bits clear, the
 * span's sweepgen catches up; a span whose objects are all free goes back
 * to the heap (its pages stop being the collector's first), the others go
 * to the mcentral's partial or full list.  Each unswept span is taken off
 * the list once, so it is swept once: an object freed by a cycle is handed
 * out once.
 *
 * Accounting: the mark counts what lives; the dead of a cycle (allocated
 * at its start less marked) are owed to the sweep until swept (kgc_stats
 * unswept_*), and gc_inuse_* drop as spans are swept, so the figures are
 * exact at any time.
 *
 * Mark bits sit at the same (key-permuted) positions as free bits, and a
 * free slot's mark bit is set (by the sweep and when a fresh span is
 * published; allocation clears an object's bit, mm/mgcalloc.c): so the
 * mark finds a slot free or marked with one load, and never marks a free
 * slot a stale pointer points to.
 */
#include "lib/config.h"
#if KSPAN_GC
#include "mm/mgc.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mcentral.h"
#include "mm/mheap.h"
#include "mm/spanlist.h"

uint32_t gc_sweepgen = 2;

/* Unswept spans of each class, under the class's mcentral lock. */
static struct mspan *unswept[KS_NUM_SPAN_CLASSES];
/* Classes with unswept spans (bit set under the lock; read without). */
static uint64_t unswept_mask[(KS_NUM_SPAN_CLASSES + 63) / 64];
/* Atomics: spans left, what they owe, spans at the end of the cycle. */
static uint64_t unswept_spans, owed_objects, owed_bytes, sweep_total;
/* Set while gc_sweep_begin hands the cycle's spans to the sweep: a
 * sweeper outside the stopped world (kgc_sweep on a thread of its own, a
 * thread's exit drain) that swept one of them before the counts were
 * stored would have its decrement overwritten.  Checked under the class
 * lock, so a sweeper either finished before the class was handed over or
 * waits until the counts are out. */
static bool sweep_frozen;

static uintptr_t page_of(uintptr_t addr)
{
	return arena_page(addr);
}

/* x with bit i moved to bit i ^ key (key < 64): a swap of blocks for each
 * bit of the key. */
static uint64_t permute_xor(uint64_t x, unsigned key)
{
	static const uint64_t m[6] = {
		0x5555555555555555ull, 0x3333333333333333ull, 0x0F0F0F0F0F0F0F0Full,
		0x00FF00FF00FF00FFull, 0x0000FFFF0000FFFFull, 0x00000000FFFFFFFFull,
	};
	for (unsigned j = 0; j < 6; j++)
		if (key & (1u << j))
			x = ((x & m[j]) << (1u << j)) | ((x >> (1u << j)) & m[j]);
	return x;
}

/* The free-bit positions of word w that stand for objects. */
static uint64_t valid_bits(const struct mspan *s, unsigned w)
{
	if (w + 1 < s->nwords)
		return ~0ull;
	return permute_xor(heapbits_low(s->nelems - w * 64u), s->key);
}

void gc_span_publish(struct mspan *s)
{
	for (unsigned w = 0; w < KS_FREE_WORDS; w++)
		__atomic_store_n(&s->markbits[w], w < s->nwords ?
		                 mspan_word(s, w) | ~valid_bits(s, w) : ~0ull, __ATOMIC_RELAXED);
	uintptr_t p = page_of(s->base);
	__atomic_store_n(gcspan_sweepgen(p), __atomic_load_n(&gc_sweepgen, __ATOMIC_ACQUIRE),
	                 __ATOMIC_RELAXED);
	for (uintptr_t i = 0; i < s->npages; i++)
		__atomic_store_n(gcpage_state(p + i), GCPAGE_SMALL | s->spanclass,
		                 __ATOMIC_RELEASE);
}

void gc_span_unmark(struct mspan *s, uintptr_t p)
{
	bool exact;
	uintptr_t pos = mspan_bitpos(s, mspan_index(s, p - s->base, &exact));
	uint64_t *w = &s->markbits[pos / 64];
	__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) & ~(1ull << (pos % 64)),
	                 __ATOMIC_RELAXED);
}

static void unpublish(struct mspan *s)
{
	uintptr_t p = page_of(s->base);
	for (uintptr_t i = 0; i < s->npages; i++)
		__atomic_store_n(gcpage_state(p + i), 0, __ATOMIC_RELEASE);
}

/* Sweep s (off every list, its class's lock held): returns true if all
 * its objects are free now (then it is the caller's to give back). */
static bool sweep_span(struct mcentral *c, struct mspan *s)
{
	KS_ASSERT(s->gc && s->owner == KS_NO_OWNER && s->list == MSPAN_ON_NONE);
	uint64_t freed = 0;
	for (unsigned w = 0; w < s->nwords; w++) {
		uint64_t mark = __atomic_load_n(&s->markbits[w], __ATOMIC_RELAXED);
		uint64_t free = mspan_word(s, w), valid = valid_bits(s, w);
		uint64_t dead = ~free & valid & ~mark;
		if (dead)
			mspan_set_word(s, w, free | dead);
		freed += ks_popcount64(dead);
		/* Free slots read as marked; the live start the next cycle
		 * unmarked. */
		__atomic_store_n(&s->markbits[w], free | dead | ~valid, __ATOMIC_RELAXED);
	}
	mspan_count_free(s);
	__atomic_store_n(gcspan_sweepgen(page_of(s->base)),
	                 __atomic_load_n(&gc_sweepgen, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
	__atomic_fetch_sub(&gc_inuse_objects, freed, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&gc_inuse_bytes, freed * s->elemsize, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&owed_objects, freed, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&owed_bytes, freed * s->elemsize, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&unswept_spans, 1, __ATOMIC_RELEASE);
	if (s->nfree == s->nelems) {
		unpublish(s);
		c->nspans--;
		return true;
	}
	uint8_t id = s->nfree ? MSPAN_ON_PARTIAL : MSPAN_ON_FULL;
	spanlist_push(id == MSPAN_ON_PARTIAL ? &c->partial : &c->full, s);
	s->list = id;
	return false;
}

static void mask_clear(spanclass_t sc)
{
	__atomic_fetch_and(&unswept_mask[sc / 64], ~(1ull << (sc % 64)), __ATOMIC_RELAXED);
}

/* Sweep unswept spans of class sc while want(c) says so, at most max (0:
 * no bound); returns the spans swept. */
static unsigned sweep_class(spanclass_t sc, unsigned max, bool until_partial)
{
	struct mcentral *c = &ks_gccentral[sc];
	struct mcentral_dead dead = { .n = 0 };
	unsigned n = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	if (__atomic_load_n(&sweep_frozen, __ATOMIC_ACQUIRE)) {
		ks_spin_unlock_irqrestore(&c->lock, st);
		return 0;
	}
	while (unswept[sc] && (!max || n < max) && !(until_partial && c->partial)) {
		struct mspan *s = unswept[sc];
		spanlist_remove(&unswept[sc], s);
		n++;
		if (sweep_span(c, s))
			mcentral_dead_push(c, &st, &dead, s);
	}
	if (!unswept[sc])
		mask_clear(sc);
	ks_spin_unlock_irqrestore(&c->lock, st);
	mcentral_dead_free(&dead);
	return n;
}

void gc_sweep_begin(uint64_t objects, uint64_t bytes, uint64_t *live_objects,
                    uint64_t *live_bytes)
{
	KS_ASSERT(!__atomic_load_n(&unswept_spans, __ATOMIC_RELAXED));
	__atomic_store_n(&sweep_frozen, true, __ATOMIC_SEQ_CST);
	__atomic_store_n(&gc_sweepgen, gc_sweepgen + 2, __ATOMIC_RELEASE);
	uint64_t total = 0, lobjs = 0, lbytes = 0;
	for (unsigned sc = 2; sc < KS_NUM_SPAN_CLASSES; sc++) {
		struct mcentral *c = &ks_gccentral[sc];
		ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
		struct mspan **lists[2] = { &c->partial, &c->full };
		for (int l = 0; l < 2; l++)
			while (*lists[l]) {
				struct mspan *s = *lists[l];
				spanlist_remove(lists[l], s);
				s->list = MSPAN_ON_NONE;
				spanlist_push(&unswept[sc], s);
				total++;
				uint64_t live = 0;
				for (unsigned w = 0; w < s->nwords; w++)
					live += ks_popcount64(s->markbits[w] & ~mspan_word(s, w) &
					                      valid_bits(s, w));
				lobjs += live;
				lbytes += live * s->elemsize;
			}
		if (unswept[sc])
			__atomic_fetch_or(&unswept_mask[sc / 64], 1ull << (sc % 64), __ATOMIC_RELAXED);
		ks_spin_unlock_irqrestore(&c->lock, st);
	}
	KS_CHECK(lobjs <= objects && lbytes <= bytes, "kgc_collect: the mark found %lu "
	         "small objects (%lu bytes) live of %lu allocated (%lu bytes)",
	         (unsigned long)lobjs, (unsigned long)lbytes, (unsigned long)objects,
	         (unsigned long)bytes);
	*live_objects = lobjs;
	*live_bytes = lbytes;
	__atomic_store_n(&owed_objects, objects - lobjs, __ATOMIC_RELAXED);
	__atomic_store_n(&owed_bytes, bytes - lbytes, __ATOMIC_RELAXED);
	__atomic_store_n(&sweep_total, total, __ATOMIC_RELAXED);
	__atomic_store_n(&unswept_spans, total, __ATOMIC_RELEASE);
	__atomic_store_n(&sweep_frozen, false, __ATOMIC_RELEASE);
}

void gc_sweep_for_alloc(spanclass_t sc)
{
	if (__atomic_load_n(&unswept_mask[sc / 64], __ATOMIC_RELAXED) & (1ull << (sc % 64)))
		sweep_class(sc, 0, true);
}

/* Sweep one span of any class; false if none is left. */
static bool sweep_one(void)
{
	for (unsigned i = 0; i < sizeof(unswept_mask) / sizeof(unswept_mask[0]); i++) {
		uint64_t m;
		while ((m = __atomic_load_n(&unswept_mask[i], __ATOMIC_RELAXED)) != 0) {
			spanclass_t sc = (spanclass_t)(i * 64 + (unsigned)__builtin_ctzll(m));
			if (sweep_class(sc, 1, false))
				return true;
		}
	}
	return false;
}

void gc_sweep_assist(void)
{
	for (;;) {
		uint64_t left = __atomic_load_n(&unswept_spans, __ATOMIC_RELAXED);
		if (!left)
			return;
		uint64_t total = __atomic_load_n(&sweep_total, __ATOMIC_RELAXED);
		uint64_t done = total > left ? total - left : 0;
		uint64_t since = __atomic_load_n(&gc_allocated_since, __ATOMIC_RELAXED);
		uint64_t live = __atomic_load_n(&gc_heap_live, __ATOMIC_RELAXED);
		uint64_t goal = __atomic_load_n(&gc_next_trigger, __ATOMIC_RELAXED);
		uint64_t runway = goal > live ? goal - live : 1;
		/* Done by half the runway: done / total >= 2 * since / runway. */
		if ((unsigned __int128)done * runway >= (unsigned __int128)total * since * 2 ||
		    !sweep_one())
			return;
	}
}

size_t gc_sweep(size_t max)
{
	for (size_t n = 0; !max || n < max; n++)
		if (!sweep_one())
			break;
	size_t left = (size_t)__atomic_load_n(&unswept_spans, __ATOMIC_ACQUIRE);
	KS_ASSERT(left || !__atomic_load_n(&owed_objects, __ATOMIC_RELAXED));
	return left;
}

void gc_sweep_pending(uint64_t *spans, uint64_t *objects, uint64_t *bytes)
{
	*spans = __atomic_load_n(&unswept_spans, __ATOMIC_RELAXED);
	*objects = __atomic_load_n(&owed_objects, __ATOMIC_RELAXED);
	*bytes = __atomic_load_n(&owed_bytes, __ATOMIC_RELAXED);
}

bool gc_span_obj_live(const struct mspan *s, uintptr_t idx)
{
	uintptr_t pos = mspan_bitpos(s, idx);
	uint64_t bit = 1ull << (pos % 64);
	if (mspan_word(s, (unsigned)(pos / 64)) & bit)
		return false;
	uint64_t sg = __atomic_load_n(gcspan_sweepgen(page_of(s->base)), __ATOMIC_ACQUIRE);
	if (sg + 2 == __atomic_load_n(&gc_sweepgen, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&s->markbits[pos / 64], __ATOMIC_RELAXED) & bit;
	return true;
}
#endif
