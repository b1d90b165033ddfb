/*
 * mcache: per-CPU caches of spans (Go's mcache; tcmalloc's thread cache
 * made per CPU, as a kernel wants).
 *
 * See mm/malloc.c for the overview.
 *
 * Each CPU has one mcache.  alloc[sc] is the span this CPU allocates objects
 * of span class sc from; the CPU owns that span (mspan.owner), so taking an
 * object is a bit scan of allocCache and a store: no lock, no atomic, with
 * interrupts disabled on this CPU for those few instructions (that is what
 * makes the cache safe against interrupt handlers that allocate).  Freeing
 * an object of an owned span is a bit set in the same way.  Everything else
 * goes through here, on the slow paths:
 *   - the owned span ran out: fold in remote frees, move to the next word
 *     with free objects, or give the span back to mcentral and take another;
 *   - an object of a span this CPU does not own is freed: queue it.  If
 *     no CPU owns its span, in freebuf[sc] (tcmalloc's per-thread free
 *     list, as an array): the CPU's next allocations of the class that
 *     miss allocCache take queued objects back first, without a lock (they
 *     are still "allocated" in their span's bits, so nothing else can hand
 *     them out).  If another CPU owns the span, in remotebuf[sc], never
 *     reused here: that object's cache lines belong with the other CPU.
 *     A full buffer goes to mcentral in one lock.  A pointer queued twice is a
 *     double free: the push checks the buffer, and the flush finds one that
 *     was queued after an earlier copy reached its span.
 *
 * Bounded: a cache holds at most one span per span class plus
 * KS_FREEBUF_SIZE queued frees per class; mcache_drain gives it all back.
 */
#include "mm/mcache.h"
#include "mm/arena.h"
#include "lib/check.h"
#include "mm/debugheap.h"
#include "mm/mcentral.h"

struct mcache ks_mcaches[KSPAN_MAX_CPUS];
struct mspan ks_emptyspan;

struct mcache *ks_mcache_of[KSPAN_MAX_CPUS];
uintptr_t ks_queue_secret;
struct mcache ks_mcache_empty;

static void mcache_reset(struct mcache *c)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++) {
		c->alloc[sc] = &ks_emptyspan;
		c->gcalloc[sc] = &ks_emptyspan;
		c->freebuf[sc].n = 0;
		c->remotebuf[sc].n = 0;
	}
	c->tiny = c->tinyoffset = 0;
}

void mcache_init_all(uint64_t secret)
{
	ks_emptyspan.state = MSPAN_DEAD;
	ks_emptyspan.owner = -2;   /* never a CPU, never KS_NO_OWNER */
	ks_emptyspan.allocCache = 0;
	mcache_reset(&ks_mcache_empty);
	ks_queue_secret = (uintptr_t)secret | 1;
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++)
		ks_mcache_of[cpu] = &ks_mcache_empty;
}

void mcache_setup(int cpu)
{
	struct mcache *c = &ks_mcaches[cpu];
	mcache_reset(c);
	__atomic_store_n(&ks_mcache_of[cpu], c, __ATOMIC_RELEASE);
}

/* Refill *slot (a span of central's class that owner owns) and take an
 * object: steps 3-4 of the allocation path. */
static void *refill(struct mcache *c, struct mspan **slot,
                    struct mcentral *central, int owner)
{
	struct mspan *s = *slot;
	if (s != &ks_emptyspan) {
		KS_ASSERT(s->owner == owner && s->allocCache == 0);
		mspan_merge_remote(s);
		if (s->allocCache || mspan_load_word(s))
			return mcache_take(s);
		*slot = &ks_emptyspan;
		mcentral_uncache_span(central, s);
	}
	s = mcentral_cache_span(central, owner);
	if (!s)
		return NULL;
	c->refills++;
	*slot = s;
	return mcache_take(s);
}

void *mcache_alloc_slow(struct mcache *c, spanclass_t sc, int cpu)
{
	struct ks_freebuf *fb = &c->freebuf[sc];
	if (fb->n) {
		c->fast_allocs++;   /* no lock: counts as a cache hit */
		void *p = fb->obj[--fb->n];
		*(uintptr_t *)p = KS_FREED_WORD;   /* drop the queue tag */
		return p;
	}
	c->slow_allocs++;
	return refill(c, &c->alloc[sc], &ks_mcentral[sc], cpu);
}

void *mcache_gc_alloc(struct mcache *c, spanclass_t sc, int cpu)
{
	struct mspan *s = c->gcalloc[sc];
	if (s->allocCache)
		return mcache_take(s);
	return refill(c, &c->gcalloc[sc], &ks_gccentral[sc], cpu + KS_OWNER_GC);
}

/* Hand n queued objects of class sc to mcentral (one lock). */
static void flush_objs(struct mcache *c, spanclass_t sc, int cpu,
                       void **obj, uint32_t *n)
{
	if (*n == 0)
		return;
	/* Drop the queue tags (the debug heap checks freed objects' poison). */
	for (uint32_t i = 0; i < *n; i++)
		*(uintptr_t *)obj[i] = KS_FREED_WORD;
	/* Counted as lock-free when queued; these reach a lock after all. */
	c->fast_frees -= *n;
	c->slow_frees += *n;
	mcentral_free_objects(&ks_mcentral[sc], obj, *n, cpu);
	*n = 0;
}

static void flush(struct mcache *c, spanclass_t sc, int cpu)
{
	flush_objs(c, sc, cpu, c->freebuf[sc].obj, &c->freebuf[sc].n);
	flush_objs(c, sc, cpu, c->remotebuf[sc].obj, &c->remotebuf[sc].n);
}

static void check_not_queued(void *const *obj, uint32_t n, struct mspan *s,
                             uintptr_t p)
{
	for (uint32_t i = 0; i < n; i++)
		KS_CHECK(obj[i] != (void *)p, "kfree(%p): double free (object "
		         "already freed on this CPU) in span %p [%p-%p) size %u",
		         (void *)p, (void *)s, (void *)s->base,
		         (void *)mspan_end(s), (unsigned)s->elemsize);
}

void mcache_free_slow(struct mcache *c, struct mspan *s, uintptr_t p, int cpu)
{
	spanclass_t sc = s->spanclass;
	struct ks_freebuf *fb = &c->freebuf[sc];
	struct ks_remotebuf *rb = &c->remotebuf[sc];
	/* A queued object's first word holds a tag made from its address and
	 * a per-boot secret: only an object that carries it can be queued
	 * already, so the buffers are searched just then (user data that
	 * happens to match costs a search, nothing more). */
	uintptr_t tag = p ^ ks_queue_secret;
	if (ks_unlikely(*(uintptr_t *)p == tag)) {
		check_not_queued(fb->obj, fb->n, s, p);
		check_not_queued(rb->obj, rb->n, s, p);
	}
	*(uintptr_t *)p = tag;
	if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) != KS_NO_OWNER) {
		if (rb->n == KS_REMOTEBUF_SIZE)
			flush_objs(c, sc, cpu, rb->obj, &rb->n);
		rb->obj[rb->n++] = (void *)p;
	} else {
		if (fb->n == KS_FREEBUF_SIZE)
			flush_objs(c, sc, cpu, fb->obj, &fb->n);
		fb->obj[fb->n++] = (void *)p;
	}
	c->fast_frees++;    /* no lock on this path either, until a flush */
}

void mcache_drain_gc(struct mcache *c, int cpu)
{
	(void)cpu;
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++) {
		struct mspan *s = c->gcalloc[sc];
		if (s != &ks_emptyspan) {
			c->gcalloc[sc] = &ks_emptyspan;
			mcentral_uncache_span(&ks_gccentral[sc], s);
		}
	}
	c->tiny = c->tinyoffset = 0;
}

void mcache_drain(struct mcache *c, int cpu)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++) {
		flush(c, (spanclass_t)sc, cpu);
		struct mspan *s = c->alloc[sc];
		if (s != &ks_emptyspan) {
			c->alloc[sc] = &ks_emptyspan;
			mcentral_uncache_span(&ks_mcentral[sc], s);
		}
	}
	mcache_drain_gc(c, cpu);
}

void *mcache_tiny_alloc(struct mcache *c, size_t size, int cpu)
{
	/* Align as the size needs (Go: 8, 4 or 2 by the low bits). */
	uintptr_t off = c->tinyoffset;
	if ((size & 7) == 0)
		off = (off + 7) & ~(uintptr_t)7;
	else if ((size & 3) == 0)
		off = (off + 3) & ~(uintptr_t)3;
	else if ((size & 1) == 0)
		off = (off + 1) & ~(uintptr_t)1;
	if (c->tiny && off + size <= KS_TINY_SIZE) {
		c->tinyoffset = off + size;
		c->fast_allocs++;
		return (void *)(c->tiny + off);
	}
	/* Tiny blocks are 16-byte noscan objects of the collector's spans. */
	void *block = mcache_gc_alloc(c, ks_make_spanclass(KS_TINY_SIZE_CLASS, true), cpu);
	if (!block)
		return NULL;
	c->fast_allocs++;
	/* Keep whichever block has more room left (Go does the same). */
	if (!c->tiny || size < c->tinyoffset) {
		c->tiny = (uintptr_t)block;
		c->tinyoffset = size;
	}
	return block;
}
