/*
 * mheap: the page heap (Go's mheap, tcmalloc's PageHeap).
 *
 * See mm/malloc.c for the overview.
 *
 * The heap hands out spans: runs of contiguous 8 KiB pages of the arena.
 * Free spans are kept in free[n] (exact lists for 1..127 pages, with a
 * bitmask of the non-empty ones) and in freelarge, a treap for 128 pages
 * and more (as Go 1.10).  Allocation is best fit: the smallest free span
 * that holds the request, found in O(1) for small requests (a bit scan over
 * freemask) and O(log n) in the treap; the rest of the span is split off
 * and stays free.  When nothing fits, the heap grows into the arena by at
 * least 1 MiB (arena_grow).
 *
 * Invariants (checked by mheap_check):
 *   - every page in [arena_start, arena_used) belongs to exactly one span,
 *     free or in use;
 *   - spans[] maps every page of an in-use span to it, and the first and
 *     last page of a free span to it (interior pages of a free span hold
 *     stale entries: readers check the span's state and range);
 *   - no two free spans are adjacent: mheap_free coalesces with both
 *     neighbours, found in O(1) through spans[];
 *   - pages_free, pages_free_committed and pages_inuse match the spans;
 *     nscav of a free span counts its decommitted pages exactly (the
 *     arena's committed bits are the truth).
 *
 * Memory: a free span's pages may be committed or not.  Allocation commits
 * the pages it hands out (the platform gives zeroed memory for pages
 * committed afresh).  Freeing leaves pages committed; when the committed
 * free pages exceed scav_threshold (or a quarter of the pages in use, if
 * more), the scavenger decommits free pages, largest spans first, down to
 * half of it, giving the memory back to the platform (the frame map, in
 * the kernel).  A heap that has freed more than that limit with no span
 * allocated since is shrinking, and keeps an eighth of it
 * (MHEAP_SHRINK_KEEP): a program that frees everything gives back all but
 * a few MiB, while one that frees and allocates in turn (large blocks
 * cycling) keeps what it will reuse.
 *
 * Lock: ks_mheap.lock, taken with interrupts off.  Lock order: mcentral
 * locks before the heap lock; the heap lock before the platform's own (the
 * frame map's, in the kernel).  Nothing here logs or calls the allocator.
 */
#include "mm/mheap.h"
#include "mm/arena.h"
#include "mm/spanlist.h"
#include "lib/check.h"

struct mheap ks_mheap;

int mheap_init(size_t scav_bytes)
{
	struct mheap *h = &ks_mheap;
	ks_spin_init(&h->lock, "mheap", KS_RANK_HEAP);
	uintptr_t arena_pages = (ks_arena.arena_end - ks_arena.arena_start) >> KS_PAGE_SHIFT;
	/* At most one span per page, plus the split remainders in flight. */
	if (fixalloc_init(&h->spanalloc, sizeof(struct mspan), arena_pages + 64) != 0)
		return -1;
	h->scav_threshold = scav_bytes >> KS_PAGE_SHIFT;
	return 0;
}

/* ---- free structures ------------------------------------------------ */

/* Add a free span to the free structures and the counters. */
static void free_insert(struct mheap *h, struct mspan *s)
{
	KS_ASSERT(s->state == MSPAN_FREE);
	if (s->npages < KS_MAX_MHEAP_LIST) {
		spanlist_push(&h->free[s->npages], s);
		h->freemask[s->npages / 64] |= 1ull << (s->npages % 64);
		s->list = MSPAN_ON_HEAP_FREE;
	} else {
		mtreap_insert(&h->freelarge, s);
		s->list = MSPAN_ON_HEAP_TREAP;
	}
	h->pages_free += s->npages;
	h->pages_free_committed += s->npages - s->nscav;
}

static void free_remove(struct mheap *h, struct mspan *s)
{
	if (s->list == MSPAN_ON_HEAP_FREE) {
		spanlist_remove(&h->free[s->npages], s);
		if (!h->free[s->npages])
			h->freemask[s->npages / 64] &= ~(1ull << (s->npages % 64));
	} else {
		KS_ASSERT(s->list == MSPAN_ON_HEAP_TREAP);
		mtreap_remove(&h->freelarge, s);
	}
	s->list = MSPAN_ON_NONE;
	h->pages_free -= s->npages;
	h->pages_free_committed -= s->npages - s->nscav;
}

/* Best fit: the smallest free span of at least npages pages. */
static struct mspan *free_find(struct mheap *h, uintptr_t npages)
{
	if (npages < KS_MAX_MHEAP_LIST) {
		for (unsigned w = (unsigned)(npages / 64); w < KS_MAX_MHEAP_LIST / 64; w++) {
			uint64_t m = h->freemask[w];
			if (w == npages / 64)
				m &= ~0ull << (npages % 64);
			if (m)
				return h->free[w * 64 + (unsigned)__builtin_ctzll(m)];
		}
	}
	return mtreap_best_fit(&h->freelarge, npages);
}

static void set_span_bounds(struct mspan *s)
{
	uintptr_t first = arena_page(s->base);
	ks_arena.spans[first] = s;
	ks_arena.spans[first + s->npages - 1] = s;
}

/* Merge free neighbours into s (s not yet inserted). */
static void coalesce(struct mheap *h, struct mspan *s)
{
	if (s->base > ks_arena.arena_start) {
		struct mspan *p = ks_arena.spans[arena_page(s->base) - 1];
		if (p && p->state == MSPAN_FREE && mspan_end(p) == s->base) {
			free_remove(h, p);
			s->base = p->base;
			s->npages += p->npages;
			s->nscav += p->nscav;
			p->state = MSPAN_DEAD;
			fixalloc_free(&h->spanalloc, p);
		}
	}
	uintptr_t end = mspan_end(s);
	if (end < ks_arena.arena_used) {
		struct mspan *n = ks_arena.spans[arena_page(end)];
		if (n && n->state == MSPAN_FREE && n->base == end) {
			free_remove(h, n);
			s->npages += n->npages;
			s->nscav += n->nscav;
			n->state = MSPAN_DEAD;
			fixalloc_free(&h->spanalloc, n);
		}
	}
	set_span_bounds(s);
}

/* Grow the arena by at least npages; the new pages become a free span
 * (coalesced with a free span that ends where the arena did). */
static bool mheap_grow(struct mheap *h, uintptr_t npages)
{
	if (npages < KS_HEAP_GROW_PAGES)
		npages = KS_HEAP_GROW_PAGES;
	uintptr_t left = (ks_arena.arena_end - ks_arena.arena_used) >> KS_PAGE_SHIFT;
	if (npages > left)
		npages = left;   /* the last bit of the arena may still fit */
	if (npages == 0)
		return false;
	struct mspan *s = fixalloc_alloc(&h->spanalloc);
	if (!s)
		return false;
	uintptr_t base = arena_grow(npages);
	if (!base) {
		fixalloc_free(&h->spanalloc, s);
		return false;
	}
	s->base = base;
	s->npages = npages;
	s->nscav = npages - arena_count_committed(arena_page(base), npages);
	s->state = MSPAN_FREE;
	coalesce(h, s);
	free_insert(h, s);
	return true;
}

/* Make [base, base + npages pages) a free span of its own, using the
 * struct t, with nscav of its pages decommitted (worked out by the caller
 * from what it knows: counting the arena's bits of a big remainder on
 * every split would cost a pass over them). */
static void make_free_piece(struct mheap *h, struct mspan *t, uintptr_t base,
                            uintptr_t npages, uintptr_t nscav)
{
	KS_ASSERT(nscav == npages - arena_count_committed(arena_page(base), npages));
	t->base = base;
	t->npages = npages;
	t->nscav = nscav;
	t->state = MSPAN_FREE;
	set_span_bounds(t);
	free_insert(h, t);
}

/* Turn the free span s (out of the free structures) into an in-use span. */
static void mark_inuse(struct mheap *h, struct mspan *s)
{
	s->state = MSPAN_INUSE;
	s->central = NULL;
	s->spanclass = 0;
	s->manual = 0;
	s->gc = 0;
	s->noscan = 0;
#if KSPAN_GC
	s->markbits[0] = 0;
#endif
	s->owner = KS_NO_OWNER;
	s->nscav = 0;
	s->list = MSPAN_ON_NONE;
	s->next = s->prev = NULL;
	arena_set_spans(arena_page(s->base), s->npages, s);
	h->pages_inuse += s->npages;
	h->pages_freed_run = 0;
}

static struct mspan *alloc_locked(struct mheap *h, uintptr_t npages,
                                  uintptr_t align_pages)
{
	/* Over-ask by align_pages - 1 so that an aligned run fits. */
	uintptr_t want = npages + align_pages - 1;
	struct mspan *s = free_find(h, want);
	if (!s) {
		if (!mheap_grow(h, want))
			return NULL;
		s = free_find(h, want);
		if (!s)
			return NULL;
	}
	free_remove(h, s);

	/* Everything that can fail comes first, so that failure puts s back
	 * exactly as it was: the structs for the pieces before and after the
	 * run, and the memory behind the run. */
	uintptr_t mask = (align_pages << KS_PAGE_SHIFT) - 1;
	uintptr_t start = (s->base + mask) & ~mask;
	uintptr_t head = (start - s->base) >> KS_PAGE_SHIFT;
	uintptr_t tail = s->npages - head - npages;
	struct mspan *th = head ? fixalloc_alloc(&h->spanalloc) : NULL;
	struct mspan *tt = tail ? fixalloc_alloc(&h->spanalloc) : NULL;
	uintptr_t warm = arena_count_committed(arena_page(start), npages);
	uintptr_t head_scav = head ? head - arena_count_committed(arena_page(s->base), head) : 0;
	uintptr_t tail_scav = s->nscav - head_scav - (npages - warm);
	if ((head && !th) || (tail && !tt) ||
	    arena_commit_pages(arena_page(start), npages) < 0) {
		if (th)
			fixalloc_free(&h->spanalloc, th);
		if (tt)
			fixalloc_free(&h->spanalloc, tt);
		/* A failed commit leaves the bits true to what is committed. */
		s->nscav = s->npages - arena_count_committed(arena_page(s->base), s->npages);
		free_insert(h, s);
		return NULL;
	}
	if (head)
		make_free_piece(h, th, s->base, head, head_scav);
	if (tail)
		make_free_piece(h, tt, start + (npages << KS_PAGE_SHIFT), tail, tail_scav);
	s->base = start;
	s->npages = npages;
	mark_inuse(h, s);
	s->needzero = warm != 0;   /* freshly committed pages read as zero */
	return s;
}

struct mspan *mheap_alloc(uintptr_t npages, uintptr_t align_pages)
{
	struct mheap *h = &ks_mheap;
	if (npages == 0 || align_pages == 0 || (align_pages & (align_pages - 1)) ||
	    npages > ((ks_arena.arena_end - ks_arena.arena_start) >> KS_PAGE_SHIFT) ||
	    align_pages > ((ks_arena.arena_end - ks_arena.arena_start) >> KS_PAGE_SHIFT))
		return NULL;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	struct mspan *s = alloc_locked(h, npages, align_pages);
	ks_spin_unlock_irqrestore(&h->lock, st);
	return s;
}

bool mheap_extend(struct mspan *s, uintptr_t npages)
{
	struct mheap *h = &ks_mheap;
	uintptr_t extra = npages - s->npages;
	if (npages <= s->npages)
		return npages == s->npages;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	uintptr_t end = mspan_end(s);
	if (end == ks_arena.arena_used)
		mheap_grow(h, extra);   /* the arena's end: grow into it */
	struct mspan *n = end < ks_arena.arena_used ? ks_arena.spans[arena_page(end)] : NULL;
	uintptr_t n_cold_front = 0;   /* decommitted pages among n's first extra */
	if (n && n->state == MSPAN_FREE && n->base == end && n->npages >= extra)
		n_cold_front = extra - arena_count_committed(arena_page(end), extra);
	if (!n || n->state != MSPAN_FREE || n->base != end || n->npages < extra ||
	    arena_commit_pages(arena_page(end), extra) < 0) {
		if (n && n->state == MSPAN_FREE && n->base == end) {
			/* A failed commit may have committed some runs of n
			 * (arena_commit_pages): n stays in the free
			 * structures, so the counter follows its nscav. */
			uintptr_t nscav = n->npages -
			                  arena_count_committed(arena_page(end), n->npages);
			h->pages_free_committed += n->nscav - nscav;
			n->nscav = nscav;
		}
		ks_spin_unlock_irqrestore(&h->lock, st);
		return false;
	}
	/* The commit above made the first extra pages committed. */
	uintptr_t rest_scav = n->nscav - n_cold_front;
	free_remove(h, n);
	if (n->npages > extra) {
		make_free_piece(h, n, end + (extra << KS_PAGE_SHIFT), n->npages - extra,
		                rest_scav);
	} else {
		n->state = MSPAN_DEAD;
		fixalloc_free(&h->spanalloc, n);
	}
	arena_set_spans(arena_page(end), extra, s);
	s->npages = npages;
	h->pages_inuse += extra;
	h->pages_freed_run = 0;
	ks_spin_unlock_irqrestore(&h->lock, st);
	return true;
}

/* ---- scavenging ----------------------------------------------------- */

/* Decommit committed pages of free span s, from its end backwards (its
 * head is what the next allocation takes), until pages_free_committed is
 * down to keep.  Heap lock held. */
static void scavenge_span(struct mheap *h, struct mspan *s, uintptr_t keep)
{
	uintptr_t first = arena_page(s->base), from = first + s->npages, found = 0;
	uintptr_t want = h->pages_free_committed - keep;
	while (from > first && found < want) {
		from--;
		found += (uintptr_t)arena_page_committed(from);
	}
	long n = arena_decommit_pages(from, first + s->npages - from);
	if (n > 0) {
		s->nscav += (uintptr_t)n;
		h->pages_free_committed -= (uintptr_t)n;
		h->pages_scavenged_total += (uint64_t)n;
	}
}

static void scavenge_treap(struct mheap *h, struct mspan *n, uintptr_t keep)
{
	/* Reverse in-order: largest spans first.  Depth is O(log n). */
	if (!n || h->pages_free_committed <= keep)
		return;
	scavenge_treap(h, n->tright, keep);
	if (h->pages_free_committed > keep && n->nscav < n->npages)
		scavenge_span(h, n, keep);
	scavenge_treap(h, n->tleft, keep);
}

static uintptr_t scavenge_locked(struct mheap *h, uintptr_t keep)
{
	uintptr_t before = h->pages_free_committed;
	scavenge_treap(h, h->freelarge.root, keep);
	for (uintptr_t i = KS_MAX_MHEAP_LIST - 1; i > 0 && h->pages_free_committed > keep; i--)
		for (struct mspan *s = h->free[i]; s && h->pages_free_committed > keep; s = s->next)
			if (s->nscav < s->npages)
				scavenge_span(h, s, keep);
	return before - h->pages_free_committed;
}

uintptr_t mheap_scavenge(uintptr_t keep_pages)
{
	struct mheap *h = &ks_mheap;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	uintptr_t n = scavenge_locked(h, keep_pages);
	ks_spin_unlock_irqrestore(&h->lock, st);
	return n;
}

uintptr_t mheap_scavenge_pages(uintptr_t want)
{
	struct mheap *h = &ks_mheap;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	uintptr_t fc = h->pages_free_committed;
	uintptr_t n = scavenge_locked(h, fc > want ? fc - want : 0);
	ks_spin_unlock_irqrestore(&h->lock, st);
	return n;
}

/* ---- free ------------------------------------------------------------ */

void mheap_free(struct mspan *s)
{
	struct mheap *h = &ks_mheap;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	KS_CHECK(s->state == MSPAN_INUSE, "mheap_free: span %p [%p] is not in use "
	         "(state %u)", (void *)s, (void *)s->base, (unsigned)s->state);
	uintptr_t freed = s->npages;   /* s may be merged away below */
	h->pages_inuse -= freed;
	s->state = MSPAN_FREE;
	s->central = NULL;
	s->spanclass = 0;
	s->manual = 0;
	s->gc = 0;
	s->owner = KS_NO_OWNER;
	s->list = MSPAN_ON_NONE;
	s->nscav = s->npages - arena_count_committed(arena_page(s->base), s->npages);
	coalesce(h, s);
	free_insert(h, s);
	/* Keep at least the threshold, or a quarter of the heap in use if that
	 * is more, so a busy heap does not decommit what it will reuse at once;
	 * beyond it, give back down to half (hysteresis).  But a heap that had
	 * freed more than that since it last allocated a span is shrinking
	 * (a program that frees everything): it keeps an eighth.  (One large
	 * free is not a run: a block of any size freed and allocated again
	 * in turn keeps the limit's half warm.) */
	uintptr_t limit = h->scav_threshold;
	if (h->pages_inuse / 4 > limit)
		limit = h->pages_inuse / 4;
	if (h->pages_freed_run > limit)
		limit /= MHEAP_SHRINK_KEEP;
	h->pages_freed_run += freed;
	if (limit && h->pages_free_committed > limit)
		scavenge_locked(h, limit / 2);
	ks_spin_unlock_irqrestore(&h->lock, st);
}

/* ---- queries and checks ---------------------------------------------- */

uintptr_t mheap_largest_free(void)
{
	struct mheap *h = &ks_mheap;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	uintptr_t best = 0;
	struct mspan *m = mtreap_max(&h->freelarge);
	if (m)
		best = m->npages;
	for (unsigned i = KS_MAX_MHEAP_LIST - 1; i > 0 && !best; i--)
		if (h->free[i])
			best = i;
	/* The ungrown arena continues a free span that ends at arena_used. */
	uintptr_t tail = (ks_arena.arena_end - ks_arena.arena_used) >> KS_PAGE_SHIFT;
	if (ks_arena.arena_used > ks_arena.arena_start) {
		struct mspan *last = ks_arena.spans[arena_page(ks_arena.arena_used) - 1];
		if (last && last->state == MSPAN_FREE)
			tail += last->npages;
	}
	ks_spin_unlock_irqrestore(&h->lock, st);
	return tail > best ? tail : best;
}

uintptr_t mheap_free_pages_total(void)
{
	return ks_mheap.pages_free +
	       ((ks_arena.arena_end - ks_arena.arena_used) >> KS_PAGE_SHIFT);
}

void mheap_check(void)
{
	struct mheap *h = &ks_mheap;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	uintptr_t free_pages = 0, free_committed = 0, inuse = 0;
	bool prev_free = false;
	uintptr_t p = ks_arena.arena_start;
	while (p < ks_arena.arena_used) {
		struct mspan *s = ks_arena.spans[arena_page(p)];
		KS_CHECK(s && s->base == p, "mheap_check: page %p starts no span "
		         "(spans entry %p)", (void *)p, (void *)s);
		KS_CHECK(mspan_end(s) <= ks_arena.arena_used, "mheap_check: span "
		         "%p [%p] runs past arena_used", (void *)s, (void *)s->base);
		KS_CHECK(ks_arena.spans[arena_page(mspan_end(s)) - 1] == s,
		         "mheap_check: last page of span %p [%p] maps elsewhere",
		         (void *)s, (void *)s->base);
		uintptr_t committed = arena_count_committed(arena_page(p), s->npages);
		if (s->state == MSPAN_FREE) {
			KS_CHECK(!prev_free, "mheap_check: free span %p [%p] follows "
			         "a free span (not coalesced)", (void *)s, (void *)p);
			KS_CHECK(s->nscav == s->npages - committed, "mheap_check: "
			         "free span %p [%p]: nscav %lu but %lu pages "
			         "decommitted", (void *)s, (void *)p,
			         (unsigned long)s->nscav,
			         (unsigned long)(s->npages - committed));
			KS_CHECK(s->list == (s->npages < KS_MAX_MHEAP_LIST
			                     ? MSPAN_ON_HEAP_FREE : MSPAN_ON_HEAP_TREAP),
			         "mheap_check: free span %p [%p] of %lu pages is on "
			         "list %u", (void *)s, (void *)p,
			         (unsigned long)s->npages, (unsigned)s->list);
			free_pages += s->npages;
			free_committed += committed;
			prev_free = true;
		} else {
			KS_CHECK(s->state == MSPAN_INUSE, "mheap_check: span %p [%p] "
			         "has state %u", (void *)s, (void *)p,
			         (unsigned)s->state);
			KS_CHECK(committed == s->npages, "mheap_check: in-use span "
			         "%p [%p] has %lu of %lu pages committed", (void *)s,
			         (void *)p, (unsigned long)committed,
			         (unsigned long)s->npages);
			for (uintptr_t i = 0; i < s->npages; i++)
				KS_CHECK(ks_arena.spans[arena_page(p) + i] == s,
				         "mheap_check: page %lu of in-use span %p [%p] "
				         "maps elsewhere", (unsigned long)i,
				         (void *)s, (void *)p);
			inuse += s->npages;
			prev_free = false;
		}
		p = mspan_end(s);
	}
	/* Every free span is on the list its size says, and only once. */
	uintptr_t listed = 0;
	for (unsigned i = 1; i < KS_MAX_MHEAP_LIST; i++) {
		KS_CHECK(!!h->free[i] == !!(h->freemask[i / 64] & (1ull << (i % 64))),
		         "mheap_check: freemask bit %u disagrees with free[%u]", i, i);
		for (struct mspan *s = h->free[i]; s; s = s->next) {
			KS_CHECK(s->npages == i && s->state == MSPAN_FREE,
			         "mheap_check: span %p [%p] on free[%u] has %lu pages, "
			         "state %u", (void *)s, (void *)s->base, i,
			         (unsigned long)s->npages, (unsigned)s->state);
			listed += s->npages;
		}
	}
	uintptr_t nodes = mtreap_check(&h->freelarge);
	(void)nodes;
	KS_CHECK(free_pages == h->pages_free && free_committed == h->pages_free_committed &&
	         inuse == h->pages_inuse,
	         "mheap_check: counters free %lu/%lu committed %lu/%lu inuse %lu/%lu",
	         (unsigned long)free_pages, (unsigned long)h->pages_free,
	         (unsigned long)free_committed, (unsigned long)h->pages_free_committed,
	         (unsigned long)inuse, (unsigned long)h->pages_inuse);
	KS_CHECK(listed <= free_pages, "mheap_check: lists hold %lu pages, spans "
	         "say %lu free", (unsigned long)listed, (unsigned long)free_pages);
	fixalloc_check(&h->spanalloc);
	ks_spin_unlock_irqrestore(&h->lock, st);
}
