/*
 * mcache: the per-CPU cache.  See mm/mcache.c and mm/malloc.c.
 */
#ifndef KSPAN_MM_MCACHE_H
#define KSPAN_MM_MCACHE_H

#include <stdint.h>
#include <kspan/platform.h>
#include "mm/mspan.h"

#define KS_FREEBUF_SIZE 31   /* reusable queued frees per span class */
#define KS_REMOTEBUF_SIZE 15 /* queued frees of spans other CPUs own */

struct ks_freebuf {
	uint32_t n;
	void *obj[KS_FREEBUF_SIZE];
};

struct ks_remotebuf {
	uint32_t n;
	void *obj[KS_REMOTEBUF_SIZE];
};

struct mcache {
	/* The span each span class allocates from (ks_emptyspan if none). */
	struct mspan *alloc[KS_NUM_SPAN_CLASSES];
	/* The same for collector-managed objects (kgc_alloc). */
	struct mspan *gcalloc[KS_NUM_SPAN_CLASSES];

	/* Tiny allocator (Go's): the current 16-byte block and the offset of
	 * its first free byte.  For collector-managed noscan objects only. */
	uintptr_t tiny;
	uintptr_t tinyoffset;

	/* Statistics, this CPU only. */
	uint64_t fast_allocs;   /* served from alloc[] without a lock */
	uint64_t slow_allocs;
	uint64_t fast_frees;    /* freed into a span this CPU owns */
	uint64_t slow_frees;
	uint64_t refills;

	/* Frees of objects in spans this CPU does not own, per span class:
	 * reused first by this CPU's next allocations of the class that miss
	 * the fast path, handed to mcentral when the buffer fills. */
	struct ks_freebuf freebuf[KS_NUM_SPAN_CLASSES];
	/* Frees of objects in spans another CPU owns: never reused here (the
	 * object shares cache lines with what that CPU is allocating: Hoard's
	 * passive false sharing), handed to mcentral in batches. */
	struct ks_remotebuf remotebuf[KS_NUM_SPAN_CLASSES];
} __attribute__((aligned(64)));

extern struct mcache ks_mcaches[KSPAN_MAX_CPUS];
/* Each CPU's cache, or ks_mcache_empty until the CPU first allocates (so
 * start-up touches no per-CPU memory).  The empty cache holds only
 * ks_emptyspan: its fast path always falls through to the slow path, which
 * sets the CPU's cache up. */
extern struct mcache *ks_mcache_of[KSPAN_MAX_CPUS];
extern struct mcache ks_mcache_empty;
/* Per-boot secret for the tag queued objects carry (mm/mcache.c). */
extern uintptr_t ks_queue_secret;
/* A span with no free object and no owner, so the fast path needs no NULL
 * test (Go's emptymspan). */
extern struct mspan ks_emptyspan;

/* secret: the per-boot secret of queue tags (kspan_init, from the seed). */
void mcache_init_all(uint64_t secret);
void mcache_setup(int cpu);

/* This CPU's cache, set up on first use.  Interrupts off. */
static inline struct mcache *mcache_get(int cpu)
{
	struct mcache *c = ks_mcache_of[cpu];
	if (__builtin_expect(c == &ks_mcache_empty, 0)) {
		mcache_setup(cpu);
		c = ks_mcache_of[cpu];
	}
	return c;
}

/* Has this CPU ever had a cache? */
static inline int mcache_in_use(int cpu)
{
	return __atomic_load_n(&ks_mcache_of[cpu], __ATOMIC_ACQUIRE) != &ks_mcache_empty;
}

/* The slow path of allocation: refill alloc[sc] and allocate.  NULL when
 * out of memory.  Interrupts off, c is this CPU's. */
void *mcache_alloc_slow(struct mcache *c, spanclass_t sc, int cpu);

/* Take the next object of a span this CPU owns (allocCache non-zero). */
static inline void *mcache_take(struct mspan *s)
{
	uint64_t m = s->allocCache;
	s->allocCache = m & (m - 1);
	unsigned obj = mspan_cache_obj(s, (unsigned)__builtin_ctzll(m));
	return (void *)(s->groupbase + (uintptr_t)obj * s->elemsize);
}

/* Queue the free of object p of small span s, which this CPU does not own.
 * Stops with a message if p is queued already (a double free).
 * Interrupts off. */
void mcache_free_slow(struct mcache *c, struct mspan *s, uintptr_t p, int cpu);

/* Allocate a collector-managed object of span class sc.  Interrupts off. */
void *mcache_gc_alloc(struct mcache *c, spanclass_t sc, int cpu);

/* Give everything this cache holds back to mcentral.  Interrupts off. */
void mcache_drain(struct mcache *c, int cpu);

/* Give back only the collector's spans and the tiny block (the collector
 * does this for every CPU with the world stopped).  cpu: whose cache. */
void mcache_drain_gc(struct mcache *c, int cpu);

/* Tiny allocation: size < 16 bytes, no pointers, never freed explicitly
 * (collector-managed).  Interrupts off. */
void *mcache_tiny_alloc(struct mcache *c, size_t size, int cpu);

#endif
