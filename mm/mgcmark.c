/*
 * The collector's mark phase (see mm/mgc.c for the cycle).
 *
 * Marking starts from the root ranges (every aligned word a possible
 * pointer) and follows pointers through the heap bitmap: an object's words
 * whose pointer bit is set, up to the last one (the scan bit stops there).
 * A word is a pointer to an object if it falls anywhere inside an allocated
 * collector object (interior pointers count), found in O(1) through spans[]
 * and the span's division magic.  Objects of noscan spans are marked but
 * never scanned; kmalloc objects are neither.
 *
 * No recursion: reached objects go on an explicit mark stack.  When it is
 * full the object is marked but not pushed and an overflow is recorded;
 * once the stack drains, every marked object of the heap is scanned again
 * (marking is idempotent), until a pass ends without overflow.  So a
 * million-long list needs no deeper stack than a short one.
 *
 * Runs on one CPU with the world stopped: no locks.
 */
#include "lib/config.h"
#if KSPAN_GC
#include "mm/mgc.h"

#include "mm/arena.h"
#include "lib/check.h"
#include "mm/mbitmap.h"
#include "mm/mcentral.h"

#define MARKSTACK_MAX 4096

struct markentry {
	uintptr_t base;
	uintptr_t nwords;
};

static struct markentry markstack[MARKSTACK_MAX];
static unsigned marktop;
static bool overflowed;
unsigned gc_markstack_limit = MARKSTACK_MAX;

static void push(uintptr_t base, uintptr_t nwords)
{
	if (marktop >= gc_markstack_limit || marktop >= MARKSTACK_MAX) {
		overflowed = true;
		return;
	}
	markstack[marktop].base = base;
	markstack[marktop].nwords = nwords;
	marktop++;
}

/* If v points into an allocated collector object, mark it (and queue it
 * for scanning unless it is noscan). */
static void mark_value(uintptr_t v)
{
	struct mspan *s = spanof(v);
	if (!s || s->state != MSPAN_INUSE || !s->gc || v < s->base || v >= mspan_end(s))
		return;
	if (!s->central) {
		if (s->markbits[0] & 1)
			return;
		s->markbits[0] |= 1;
		if (!s->noscan)
			push(s->base, (s->npages << KS_PAGE_SHIFT) / 8);
		return;
	}
	if (v - s->base >= s->limit)
		return;   /* tail waste after the last object */
	bool exact;
	uint32_t idx = mspan_index(s, v - s->base, &exact);
	uint32_t pos = mspan_bitpos(s, idx), w = pos / 64;
	uint64_t bit = 1ull << (pos % 64);
	if ((s->markbits[w] & bit) || (s->freebits[w] & bit))
		return;   /* marked already, or a free slot */
	s->markbits[w] |= bit;
	if (!ks_spanclass_noscan(s->spanclass))
		push(s->base + (uintptr_t)idx * s->elemsize, s->elemsize / 8);
}

static void scan_object(uintptr_t base, uintptr_t nwords, struct gc_markstats *st)
{
	struct heapbits h = heapbits_for(base);
	uintptr_t i;
	for (i = 0; i < nwords && heapbits_is_scan(h); i++) {
		if (heapbits_is_pointer(h))
			mark_value(((const uintptr_t *)base)[i]);
		h = heapbits_next(h);
	}
	st->marked_bytes += i * 8;
}

static void drain(struct gc_markstats *st)
{
	while (marktop > 0) {
		marktop--;
		scan_object(markstack[marktop].base, markstack[marktop].nwords, st);
	}
}

/* After an overflow: scan every marked scan object again. */
static void rescan_marked(struct gc_markstats *st)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++) {
		if (ks_spanclass_noscan((spanclass_t)sc))
			continue;
		struct mcentral *c = &ks_gccentral[sc];
		struct mspan *lists[2] = { c->partial, c->full };
		for (int l = 0; l < 2; l++)
			for (struct mspan *s = lists[l]; s; s = s->next)
				for (uint32_t idx = 0; idx < s->nelems; idx++)
					if (s->markbits[mspan_bitpos(s, idx) / 64] >>
					    (mspan_bitpos(s, idx) % 64) & 1) {
						scan_object(s->base + (uintptr_t)idx * s->elemsize,
						            s->elemsize / 8, st);
						drain(st);
					}
	}
	/* Large objects: walk the arena's spans. */
	uintptr_t p = ks_arena.arena_start;
	while (p < ks_arena.arena_used) {
		struct mspan *s = ks_arena.spans[arena_page(p)];
		if (s->state == MSPAN_INUSE && s->gc && !s->central &&
		    !s->noscan && (s->markbits[0] & 1)) {
			scan_object(s->base, (s->npages << KS_PAGE_SHIFT) / 8, st);
			drain(st);
		}
		p = mspan_end(s);
	}
}

void gc_mark(const struct gc_root *roots, unsigned n, struct gc_markstats *st)
{
	marktop = 0;
	overflowed = false;
	for (unsigned r = 0; r < n; r++) {
		const uintptr_t *w = (const uintptr_t *)((roots[r].base + 7) & ~(uintptr_t)7);
		const uintptr_t *end = (const uintptr_t *)((roots[r].base + roots[r].len) & ~(uintptr_t)7);
		for (; w < end; w++) {
			mark_value(*w);
			drain(st);
		}
	}
	while (overflowed) {
		overflowed = false;
		st->overflows++;
		rescan_marked(st);
	}
}
#endif /* KSPAN_GC */
