/*
 * Collector internals shared by mm/mgc.c (API, trigger, roots, cycle),
 * mm/mgcmark.c (mark) and the sweep in mm/mcentral.c / mm/mspan.c.
 */
#ifndef KSPAN_MM_MGC_H
#define KSPAN_MM_MGC_H

#include <stddef.h>
#include <stdint.h>
#include "mm/mspan.h"

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

/* Go's tiny allocator (mm/malloc.c): size < 16 bytes, packed into 16-byte
 * noscan collector blocks. */
void *ks_tiny_alloc(size_t size);

struct ks_spinlock;
/* Apply fn to the collector's locks, in lock order (for kspan_lock_all). */
void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *));

/* Capacity of the mark stack in objects (tests lower it to force the
 * overflow path). */
extern unsigned gc_markstack_limit;

/* Sweep one small collector span: unmarked allocated objects become free,
 * mark bits are cleared.  Adds to *freed and *live (objects).  Caller
 * holds the span's mcentral lock; the span is not cached. */
void mspan_sweep(struct mspan *s, uint64_t *freed, uint64_t *live);

/* Sweep every span of a collector mcentral (returns all-free spans to the
 * heap).  Adds objects and bytes freed and live. */
struct mcentral;
void mcentral_sweep(struct mcentral *c, uint64_t *freed_objs,
                    uint64_t *freed_bytes, uint64_t *live_objs,
                    uint64_t *live_bytes);

#endif
