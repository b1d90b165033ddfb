/*
 * Collector internals shared by mm/mgc.c (API, trigger, roots, cycle,
 * per-CPU allocation), mm/mgcmark.c (mark) and mm/mgcsweep.c (sweep).
 * With KSPAN_GC=0 only the two hooks the heap calls exist, as no-ops.
 */
#ifndef KSPAN_MM_MGC_H
#define KSPAN_MM_MGC_H

#include <stddef.h>
#include <stdint.h>
#include "lib/config.h"
#include "mm/mspan.h"

struct ks_spinlock;
struct mcache;

/* Apply fn to the collector's locks, in lock order (for kspan_lock_all). */
void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *));

/* Give back the collector spans and the tiny block CPU c holds (its own
 * drain, or the collector's with the world stopped).  Interrupts off. */
void ks_gc_drain_cpu(struct mcache *c);

/* Memory pressure (mm/reclaim.c): a full collection if the collector is
 * set up and none is running; the bytes it freed. */
size_t ks_gc_reclaim(void);

#if KSPAN_GC
#include "mm/mcache.h"

/* A CPU's collector classes (set up on its first kgc_alloc). */
struct mcache_gc {
	struct mcache_class cls[KS_NUM_SPAN_CLASSES];
	/* Tiny allocator (Go's): the current 16-byte noscan block and the
	 * offset of its first free byte. */
	uintptr_t tiny;
	uintptr_t tinyoffset;
};

struct gc_root {
	uintptr_t base;
	uintptr_t len;
};

struct gc_markstats {
	uint64_t marked_bytes;   /* bytes of objects scanned */
	uint64_t overflows;      /* mark stack overflows */
};

/* Mark everything reachable from roots[0..n) (world stopped, caches
 * drained).  Sets markbits in spans. */
void gc_mark(const struct gc_root *roots, unsigned n, struct gc_markstats *st);

/* Capacity of the mark stack in objects (tests lower it to force the
 * overflow path). */
extern unsigned gc_markstack_limit;

/* The free bits of word w that stand for objects (the last word may be
 * partial; bits are permuted by the span's key). */
uint64_t mspan_valid_bits(const struct mspan *s, unsigned w);

/* Sweep every span of a collector mcentral (world stopped, caches
 * drained): unmarked allocated objects become free, mark bits clear,
 * all-free spans go back to the heap.  Adds objects and bytes freed and
 * live. */
struct mcentral;
void mcentral_sweep(struct mcentral *c, uint64_t *freed_objs,
                    uint64_t *freed_bytes, uint64_t *live_objs,
                    uint64_t *live_bytes);
#endif

#endif
