/*
 * mcache: the per-CPU caches (Go's mcache, tcmalloc's per-CPU caches,
 * mimalloc's per-thread pages, made per CPU as a kernel wants).
 *
 * See mm/malloc.c for the overview.
 *
 * Each CPU has one mcache, set up on its first allocation from the
 * metadata pool (mm/meta.h), so the library's static data does not grow
 * with the number of CPU slots.  For each class the CPU owns a bounded set
 * of spans (ownmax: room for KS_OWN_OBJECTS objects in at most
 * KS_OWN_BYTES, 8 to 64 spans: 8 of the classes up to 128 B, 64 of the
 * 1 KiB class): cur, the one it allocates from, and the partial spans it
 * took over.  (With 8 for every class, alloc-test's 5000 live objects a
 * thread spread over more spans than that in the large classes, and a
 * sixth of its frees went to spans the CPU did not own.)  Allocation
 * takes the lowest set bit of cur's allocation cache (a word of its free
 * bits lent to the cache, mm/mspan.h), with no lock and no atomic,
 * interrupts off on this CPU for those few instructions (what makes
 * kmalloc safe in interrupt handlers).  A free into any span the CPU owns
 * sets a free bit the same way (mm/malloc.c).  The two touch different
 * words, so that a free and the next allocation do not wait for each
 * other: with one shared word, a malloc+free loop ran at the latency of
 * its chain through that word (two thirds of its time).  The cache's
 * word takes back its frees when the cache runs dry (in the fast path,
 * mcache_pop), and the cache takes only a word with mspan_cache_min free
 * objects or more; from a sparser word the class allocates straight from
 * the free bits, which every free refills (a nearly full span would
 * otherwise cost a slow path every few allocations).  Everything else is
 * a slow path here:
 *
 *   - the word ran out: fold in the frees other CPUs sent (mm/mremote.c),
 *     reuse a queued free, move to another word of cur; cur is full: it
 *     joins the other owned spans while the bound leaves room (else it
 *     leaves the CPU, to mcentral's full list), the owned span with the
 *     most free objects among the next KS_SCAN_MAX (round robin, more
 *     while those are full) becomes cur (all-free ones beyond
 *     KS_EMPTY_KEEP among them go back to mcentral), or mcentral gives a
 *     span;
 *   - a free into a span no CPU owns: if the CPU allocates from the class
 *     and owns fewer than ownmax spans of it, it takes the span over
 *     (adopt: one lock), so its next frees into it are a bit set; else the
 *     object is queued (tcmalloc's per-CPU free list, as an array) for the
 *     class's next allocations, and a full queue goes to mcentral under
 *     one lock;
 *   - a free into a span another CPU owns: batched for that CPU
 *     (mm/mremote.c), one atomic per batch.
 *
 * A span leaves a CPU when it is full and the bound is reached, when it is
 * all free beyond KS_EMPTY_KEEP, when the CPU drains (thread exit,
 * kspan_drain_cpu, a flush request, memory pressure), never otherwise; the
 * set stays bounded because spans enter only through cache (one at a time,
 * when cur left, and only while there is room) and adopt (under the
 * bound).
 *
 * Double frees: a free into an owned span finds its bit set (the owner
 * reports it).  A queued or batched object's first word holds the per-boot
 * secret (its tag): only an object that carries it can be queued already,
 * so the queues are searched just then (user data that happens to match
 * costs a search, nothing more).  The owner's own free of a tagged object
 * is a double free (its other free is on its way: without the check it
 * would land after the object was reused); one queued on another CPU for
 * an unowned span is found when mcentral sets its bit.
 *
 * Flush requests (memory pressure, mm/malloc.c): another CPU swaps this
 * CPU's ks_mcache_of entry to ks_front_flush, whose classes are all empty,
 * so this CPU's next allocation takes the slow path, which drains the
 * cache and puts the real front back.  The fast path pays nothing for it.
 */
#include "mm/mcache.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/debugheap.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mremote.h"
#include "mm/slab.h"
#include "mm/spanlist.h"

uint64_t ks_zero_word;
uintptr_t ks_queue_secret;
/* What an absent class allocates from: nothing.  Static, like the fronts
 * and the table below, so that an allocation before kspan_init finds an
 * empty cache (and its slow path says no). */
struct mcache_class ks_class_empty = { .word = &ks_zero_word, .refill = &ks_zero_word };
#define ALL_EMPTY(n) { [0 ... (n) - 1] = &ks_class_empty }
struct mcache_front ks_front_empty = {
	.bysize = ALL_EMPTY(KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1),
	.bycls = ALL_EMPTY(KS_NUM_FRONT_CLASSES),
};
struct mcache_front ks_front_flush = {
	.bysize = ALL_EMPTY(KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1),
	.bycls = ALL_EMPTY(KS_NUM_FRONT_CLASSES),
};
struct mcache_front *ks_mcache_of[KSPAN_MAX_CPUS + 1] = {
	[0 ... KSPAN_MAX_CPUS] = &ks_front_empty,
};
struct mcache *ks_mcache_real[KSPAN_MAX_CPUS];
static struct fixalloc mcache_pool;

void mcache_init_all(uint64_t secret)
{
	ks_queue_secret = (uintptr_t)secret | 1;
	KS_CHECK(meta_pool_init(&mcache_pool, sizeof(struct mcache), KSPAN_MAX_CPUS) == 0,
	         "kspan_init: no address space for the per-CPU caches");
}

void mcache_class_init(struct mcache_class *pc, struct mcentral *central, int owner)
{
	pc->owner = owner;
	pc->word = &ks_zero_word;
	pc->refill = &ks_zero_word;
	pc->base = 0;
	pc->size = central->elemsize;
	pc->key = 0;
	pc->gckey = 0;
	pc->cur = NULL;
	pc->partial = NULL;
	pc->central = central;
	pc->npartial = 0;
	uintptr_t n = KS_OWN_BYTES / ((uintptr_t)central->npages * KS_PAGE_SIZE);
	if (central->nelems && KS_OWN_OBJECTS / central->nelems < n)
		n = KS_OWN_OBJECTS / central->nelems;
	pc->ownmax = (uint16_t)(n < KS_OWN_MIN ? KS_OWN_MIN : n > KS_OWN_MAX ? KS_OWN_MAX : n);
	pc->scan = NULL;
	pc->nqueued = 0;
	pc->active = 0;
	pc->refills = pc->nslow = pc->nfast = 0;
}

static struct mcache *setup(int cpu)
{
	struct mcache *c = meta_alloc(&mcache_pool);
	if (!c)
		return NULL;
	c->cpu = cpu;
	c->rng = ks_mix64(ks_queue_secret ^ (uint64_t)cpu);
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		mcache_class_init(&c->cls[cls], &ks_mcentral[ks_make_spanclass(cls, true)], cpu);
		c->front.bycls[cls] = &c->cls[cls];
	}
	c->front.bycls[0] = &ks_class_empty;
	for (unsigned i = KS_NUM_SIZE_CLASSES; i < KS_NUM_FRONT_CLASSES; i++)
		c->front.bycls[i] = &ks_class_empty;   /* object caches: on first use */
	for (unsigned i = 0; i < sizeof(c->front.bysize) / sizeof(c->front.bysize[0]); i++)
		c->front.bysize[i] = &c->cls[ks_size_to_class((size_t)i * KS_SMALL_SIZE_DIV)];
	__atomic_store_n(&ks_mcache_real[cpu], c, __ATOMIC_RELEASE);
	__atomic_store_n(&ks_mcache_of[cpu], &c->front, __ATOMIC_RELEASE);
	return c;
}

struct mcache *mcache_get(int cpu)
{
	struct mcache *c = ks_mcache_real[cpu];
	if (ks_unlikely(!c))
		return setup(cpu);
	if (ks_unlikely(remote_parked(c)))
		remote_unpark(c);
	struct mcache_front *f = __atomic_load_n(&ks_mcache_of[cpu], __ATOMIC_ACQUIRE);
	if (ks_unlikely(f == &ks_front_flush)) {
		/* Put the front back first: a request that comes while we
		 * drain swaps it again and is served next time. */
		__atomic_store_n(&ks_mcache_of[cpu], &c->front, __ATOMIC_RELEASE);
		mcache_drain(c, false);
		c->flushes++;
	}
	return c;
}

void mcache_request_flush(int self)
{
	for (int cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
		struct mcache *c = __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE);
		if (!c || cpu == self)
			continue;
		struct mcache_front *want = &c->front;
		__atomic_compare_exchange_n(&ks_mcache_of[cpu], &want, &ks_front_flush,
		                            false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
}

static uint64_t next_rand(struct mcache *c)
{
	c->rng += 0x9E3779B97F4A7C15ull;
	return ks_mix64(c->rng);
}

/* ---- the spans a class owns -------------------------------------------- */

static unsigned owned(const struct mcache_class *pc)
{
	return pc->npartial + (pc->cur != NULL);
}

/* Point the fast path at a word of cur with free objects; false if cur
 * has none. */
static bool load_word(struct mcache *c, struct mcache_class *pc)
{
	struct mspan *s = pc->cur;
	/* A kmalloc or object-cache class allocates from cur's allocation
	 * cache (mm/mspan.h), which takes the word, if the word has
	 * mspan_cache_min free objects; else, and for a collector class (its
	 * mark bits follow the word, mm/mgcalloc.c), from the word itself. */
	bool cache = !s->gc;
	unsigned want = cache ? mspan_cache_min(s) : 1;
	if (cache)
		mspan_cache_return(s);
	/* The word just used again if the frees since refilled it (its
	 * objects are the warm ones), else another. */
	unsigned n = ks_popcount64(mspan_word(s, s->curword));
	if (!cache || n < want) {
		if (!mspan_pick_word(s, next_rand(c), want)) {
			pc->word = pc->refill = &ks_zero_word;
			return false;
		}
		n = ks_popcount64(mspan_word(s, s->curword));
	}
	if (cache && n >= want) {
		mspan_cache_take(s, s->curword);
		pc->word = &s->cachebits[s->curword];
		pc->refill = &s->freebits[s->curword];
	} else {
		pc->word = &s->freebits[s->curword];
		pc->refill = &ks_zero_word;
	}
	pc->base = s->base + (uintptr_t)s->curword * 64 * s->elemsize;
	pc->key = s->key;
	/* All but the one this slow path takes go to the fast path. */
	pc->nfast += n - 1;
	return true;
}

static void clear_cur(struct mcache_class *pc)
{
	/* What the word still had never went to the fast path. */
	pc->nfast -= ks_popcount64(__atomic_load_n(pc->word, __ATOMIC_RELAXED));
	if (!pc->cur->gc)
		mspan_cache_return(pc->cur);
	pc->cur = NULL;
	pc->word = pc->refill = &ks_zero_word;
}

static void unlink_partial(struct mcache_class *pc, struct mspan *s)
{
	KS_ASSERT(pc->scan != s);
	spanlist_remove(&pc->partial, s);
	pc->npartial--;
}

/* The owned span with the most free objects of the next KS_SCAN_MAX
 * (round robin from pc->scan, so each look starts where the last one
 * stopped: the spans that have waited longest for frees), unlinked; more
 * are looked at while all of those are full, and NULL means every owned
 * span is.  All-free spans beyond KS_EMPTY_KEEP among those looked at go
 * back (memory the class does not need now).  A full look at every owned
 * span on every change of cur had cost alloc-test a fifth of its time
 * with 64 spans owned. */
static struct mspan *take_partial(struct mcache_class *pc)
{
	struct mspan *best = NULL, *s = pc->scan ? pc->scan : pc->partial;
	uint32_t bestfree = 0;
	unsigned nempty = 0, seen = 0, left = pc->npartial;
	bool wrapped = !pc->scan;
	pc->scan = NULL;
	while (left > 0) {
		if (!s) {
			if (wrapped)
				break;
			s = pc->partial;
			wrapped = true;
			continue;
		}
		if (best && seen >= KS_SCAN_MAX)
			break;
		struct mspan *next = s->next;
		left--;
		seen++;
		uint32_t n = s->nfree;   /* exact: s is owned, not cur */
		KS_ASSERT(n == mspan_count_bits(s));
		if (n == s->nelems && ++nempty > KS_EMPTY_KEEP) {
			unlink_partial(pc, s);
			mcentral_uncache_span(pc->central, s);
		} else if (n > bestfree) {
			best = s;
			bestfree = n;
		}
		s = next;
	}
	if (best)
		unlink_partial(pc, best);
	/* The first span not looked at; s is one looked at when every span
	 * was (the start again): then the next look starts at the head. */
	pc->scan = left > 0 ? s : NULL;
	return best;
}

void *mcache_alloc_slow(struct mcache *c, struct mcache_class *pc)
{
	c->slow_allocs++;
	pc->nslow++;
	pc->active = 1;
	if (__atomic_load_n(&c->inbox, __ATOMIC_RELAXED))
		remote_receive(c);
	/* The word may have objects again (an interrupt, a free since). */
	void *p = mcache_take(pc);
	if (p)
		return p;
	if (pc->nqueued) {
		p = pc->queue[--pc->nqueued];
		mcentral_tag_restore(pc->central, (uintptr_t)p);   /* drop the queue tag */
		return p;
	}
	if (pc->cur) {
		if (load_word(c, pc))
			return mcache_take(pc);
		/* Full: it stays with the others while the bound leaves room
		 * for a new cur (frees into it stay a bit set), else it
		 * leaves the CPU. */
		struct mspan *s = pc->cur;
		clear_cur(pc);
		s->nfree = 0;   /* no word has a free bit: exact again */
		if (pc->npartial + 2 <= pc->ownmax) {
			spanlist_push(&pc->partial, s);
			pc->npartial++;
		} else {
			mcentral_uncache_span(pc->central, s);
		}
	}
	struct mspan *s = take_partial(pc);
	if (!s) {
		s = mcentral_cache_span(pc->central, pc->owner, (uint8_t)next_rand(c));
		if (!s)
			return NULL;
		pc->refills++;
	}
	pc->cur = s;
	s->list = MSPAN_ON_CPU;
	if (!load_word(c, pc))
		return NULL;    /* cannot happen: cached spans have free objects */
	return mcache_take(pc);
}

/* ---- frees this CPU's fast path did not take ----------------------------- */

static void check_not_queued(struct mcache *c, struct mcache_class *pc,
                             struct mspan *s, uintptr_t p, const char *fn)
{
	bool found = false;
	if (pc)
		for (unsigned i = 0; i < pc->nqueued && !found; i++)
			found = pc->queue[i] == (void *)p;
	for (int o = 0; o < KSPAN_MAX_CPUS && !found; o++)
		if (c->out[o])
			for (uint32_t i = 0; i < c->out[o]->n && !found; i++)
				found = c->out[o]->obj[i] == (void *)p;
	KS_CHECK(!found, "%s(%p): double free (object already freed on this CPU) "
	         "in span %p [%p-%p) size %u", fn, (void *)p, (void *)s,
	         (void *)s->base, (void *)mspan_end(s), (unsigned)s->elemsize);
}

/* Empty the class's queue into objs, the objects' tags dropped; returns
 * how many. */
static unsigned take_queue(struct mcache_class *pc, void **objs)
{
	unsigned n = pc->nqueued;
	for (unsigned i = 0; i < n; i++) {
		objs[i] = pc->queue[i];
		mcentral_tag_restore(pc->central, (uintptr_t)objs[i]);
	}
	pc->nqueued = 0;
	return n;
}

/* Hand the class's queue to mcentral (one lock); objects whose spans
 * another CPU owns by now go to that CPU. */
static void flush_queue(struct mcache *c, struct mcache_class *pc)
{
	void *objs[KS_QUEUE_MAX], *fwd[KS_QUEUE_MAX];
	unsigned n = take_queue(pc, objs);
	if (n == 0)
		return;
	c->locked_frees += n;
	unsigned nfwd;
	mcentral_free_objects(pc->central, objs, n, c->cpu, fwd, &nfwd);
	for (unsigned i = 0; i < nfwd; i++) {
		uintptr_t p = (uintptr_t)fwd[i];
		struct mspan *s = spanof(p);
		bool exact;
		mcache_free_slow(c, pc, s, p, mspan_index(s, p - s->base, &exact), "kfree");
	}
}

/* Queue p, flushing a full queue first.  A flush may queue again: an
 * object it forwards to the CPU that owned its span may find the span
 * given back by then (mcache_free_slow reads the owner again) and come
 * back here, so the queue can be full again when the flush returns. */
static void queue_push(struct mcache *c, struct mcache_class *pc, uintptr_t p)
{
	while (pc->nqueued == KS_QUEUE_MAX)
		flush_queue(c, pc);
	KS_ASSERT(pc->nqueued < KS_QUEUE_MAX);
	mcentral_tag_save(pc->central, p, ks_queue_secret);
	pc->queue[pc->nqueued++] = (void *)p;
	c->queued_frees++;
}

void mcache_free_slow(struct mcache *c, struct mcache_class *pc,
                      struct mspan *s, uintptr_t p, uint32_t idx, const char *fn)
{
	int owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
	bool tagged = *(uintptr_t *)p == ks_queue_secret;
	if (owner == c->cpu) {
		/* Ours: the fast path found the bit set or the object tagged
		 * (queued for this span by some CPU: a double free), or the
		 * span became ours since. */
		KS_CHECK(!tagged, "%s(%p): double free (object already freed, its "
		         "free on its way to this CPU) in span %p [%p-%p) size %u",
		         fn, (void *)p, (void *)s, (void *)s->base,
		         (void *)mspan_end(s), (unsigned)s->elemsize);
		mspan_free_bit(s, idx, p, fn);
		return;
	}
	if (ks_unlikely(tagged))
		check_not_queued(c, pc, s, p, fn);
	if (owner == KS_NO_OWNER) {
		if (pc && pc->active && owned(pc) < pc->ownmax &&
		    mcentral_adopt(pc->central, s, pc->owner)) {
			spanlist_push(&pc->partial, s);
			pc->npartial++;
			c->adoptions++;
			mspan_free_bit(s, idx, p, fn);
			return;
		}
		if (pc) {
			queue_push(c, pc, p);
			return;
		}
		/* A class this CPU has no cache for: straight to mcentral. */
		void *one = (void *)p, *fwd;
		unsigned nfwd;
		c->locked_frees++;
		mcentral_free_objects(s->central, &one, 1, c->cpu, &fwd, &nfwd);
		if (!nfwd)
			return;
		owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
		if (owner == KS_NO_OWNER || owner == c->cpu) {
			mcache_free_slow(c, pc, s, p, idx, fn);
			return;
		}
	}
	remote_free(c, owner, p);
}

struct mcache_class *mcache_class_other(struct mcache *c, const struct mspan *s)
{
	if (s->gc || !s->central->cache)
		return NULL;
	return ks_slab_class_of(c, s->central->cache);
}

/* ---- drain ----------------------------------------------------------------- */

void mcache_class_drain(struct mcache *c, struct mcache_class *pc)
{
	flush_queue(c, pc);
	mcache_class_reclaim_spans(pc);
}

void mcache_class_reclaim_spans(struct mcache_class *pc)
{
	if (pc->cur) {
		struct mspan *s = pc->cur;
		clear_cur(pc);
		mcentral_uncache_span(pc->central, s);
	}
	pc->scan = NULL;
	while (pc->partial) {
		struct mspan *s = pc->partial;
		unlink_partial(pc, s);
		mcentral_uncache_span(pc->central, s);
	}
	pc->active = 0;
}

void mcache_class_reclaim_queue(struct mcache_class *pc)
{
	void *objs[KS_QUEUE_MAX], *fwd[KS_QUEUE_MAX];
	unsigned n = take_queue(pc, objs);
	if (n == 0)
		return;
	unsigned nfwd;
	mcentral_free_objects(pc->central, objs, n, INT32_MIN, fwd, &nfwd);   /* no CPU */
	KS_CHECK(nfwd == 0, "kmem_cache_destroy: a CPU took a span of the cache "
	         "being destroyed (the cache is still in use)");
}

/* Does c still hold anything (queued frees, owned spans, open batches)? */
static bool holds_anything(const struct mcache *c)
{
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++)
		if (c->cls[cls].nqueued || c->cls[cls].cur || c->cls[cls].partial)
			return true;
	for (int o = 0; o < KSPAN_MAX_CPUS; o++)
		if (c->out[o])
			return true;
	return ks_slab_cpu_holds(c);
}

void mcache_drain(struct mcache *c, bool park)
{
	/* Sending a batch to a parked CPU frees it here, which may queue or
	 * forward again: repeat until nothing is left (each round moves
	 * every object to mcentral or to another CPU). */
	do {
		if (park)
			remote_park(c);
		else
			remote_receive(c);
		for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++)
			mcache_class_drain(c, &c->cls[cls]);
		ks_slab_drain_cpu(c);
		remote_send_all(c);
	} while (holds_anything(c));
}
