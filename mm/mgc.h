/*
 * Collector internals shared by mm/mgc.c (API, trigger, roots, the cycle),
 * mm/mgcalloc.c (allocation), mm/mgcmark.c (mark) and mm/mgcsweep.c
 * (sweep).  With KSPAN_GC=0 only the two hooks the heap calls exist, as
 * no-ops.
 */
#ifndef KSPAN_MM_MGC_H
#define KSPAN_MM_MGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/config.h"
#include "mm/mspan.h"

struct ks_spinlock;
struct mcache;

/* Apply fn to the collector's locks, in lock order (for kspan_lock_all). */
void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *));

/* kspan_drain_cpu's part: give back the collector spans and the tiny
 * block CPU c holds, and finish the sweep (so that every page the
 * collector freed is back in the heap).  Interrupts off. */
void ks_gc_drain_cpu(struct mcache *c);

/* Memory pressure (mm/reclaim.c): a full collection if the collector is
 * set up and none is running; the bytes it freed. */
size_t ks_gc_reclaim(void);

#if KSPAN_GC
#include "mm/mcache.h"

struct kgc_type;

#define GC_TYPE_CACHE 8   /* gc_type_slot: the top 3 bits of a hash */

/* A CPU's collector state, set up on its first kgc_alloc (from the
 * metadata pool). */
struct mcache_gc {
	struct mcache_class cls[KS_NUM_SPAN_CLASSES];
	/* Tiny allocator (Go's): the current 16-byte noscan block and the
	 * offset of its first free byte. */
	uintptr_t tiny;
	uintptr_t tinyoffset;
	/* Pointer maps of recently used types (up to 64 words), repeated
	 * over 64 words, for the fast path; direct-mapped by address. */
	struct {
		const struct kgc_type *type;
		uint64_t bits;
	} types[GC_TYPE_CACHE];
};

/* Each CPU slot's collector state (NULL until its first kgc_alloc, and
 * for slot KSPAN_MAX_CPUS, a host thread without a slot of its own). */
extern struct mcache_gc *gc_of[KSPAN_MAX_CPUS + 1];

static inline unsigned gc_type_slot(const struct kgc_type *t)
{
	return (unsigned)(((uintptr_t)t * 0x9E3779B97F4A7C15ull) >> 61);
}

/* ---- accounting (mm/mgcalloc.c, mm/mgcsweep.c, mm/mgc.c) ---------------- */

/* Objects and bytes the collector holds allocated: every object handed
 * out (counted a word of free bits at a time, when a CPU starts on the
 * word; the drain takes back what it did not use) and not yet swept free.
 * Exact when every CPU's collector cache is drained.  Atomics. */
extern uint64_t gc_inuse_objects, gc_inuse_bytes;
/* Bytes allocated since the last cycle (the trigger). */
extern uint64_t gc_allocated_since;
/* Trigger state (mm/mgc.c). */
extern uint64_t gc_heap_live, gc_next_trigger;

/* kgc_init has run (mm/mgc.c). */
extern bool gc_ready;

/* The collection that allocation triggers (mm/mgc.c): checks the trigger
 * and collects if it is reached.  Interrupts on. */
void gc_maybe_collect(void);

/* Set allocation up (kgc_init): the pool of per-CPU states. */
void gc_alloc_init(void);

/* A new large collector span: onto the collector's list, its pages
 * recorded as the collector's (mm/mgc.c). */
void gc_large_add(struct mspan *s);

/* Give back what CPU c's collector classes hold (world stopped, or c is
 * this CPU with interrupts off). */
void gc_drain_classes(struct mcache *c);

/* ---- roots and mark (mm/mgcmark.c) --------------------------------------- */

#define GC_MAX_ROOTS 256

struct gc_root {
	uintptr_t base;
	uintptr_t len;
};

struct gc_markstats {
	uint64_t scanned_bytes;      /* scanned, up to each last pointer word */
	uint64_t overflows;          /* rescan rounds after an overflow */
	unsigned markers;            /* markers that could take part */
	unsigned working_markers;    /* of those, markers that scanned something */
	unsigned overflowed_markers; /* of those, markers whose queue overflowed */
};

/* Set the mark up (kgc_init): the first work buffers. */
void gc_mark_init(void);

/* Mark everything reachable from roots[0..n) with markers CPUs: this one
 * and helpers 1..markers-1 (world stopped, caches drained, sweep done).
 * Sets markbits in spans. */
void gc_mark(const struct gc_root *roots, unsigned n, unsigned markers,
             struct gc_markstats *st);

/* Helpers.  Before the world-stop hook runs: gc_mark_helpers_open().  Each
 * stopped CPU (host: helper thread) runs gc_mark_helper() until the leader
 * calls gc_mark_helpers_close(); the leader first waits for all of them
 * (gc_mark_wait_helpers(n): then the world is stopped).  Helper i (1..n,
 * by arrival) marks if i < the cycle's markers. */
void gc_mark_helpers_open(void);
void gc_mark_helper(void *arg);
void gc_mark_wait_helpers(unsigned n);
void gc_mark_helpers_close(void);

/* A marker's queue holds at most this many ranges (0: no limit but the
 * buffer pool); tests lower it to force overflows (kgc_set_mark_queue). */
extern unsigned gc_markqueue_limit;
/* Overflows of marker i in the last mark (tests). */
uint64_t gc_mark_overflows_of(unsigned marker);

/* ---- sweep (mm/mgcsweep.c) ----------------------------------------------- */

/* The sweep generation: +2 at the end of every cycle.  A collector span
 * whose sweepgen (mm/mbitmap.h: gcspan_sweepgen) is gc_sweepgen - 2 is not
 * swept yet: its allocated objects without a mark bit are dead. */
extern uint32_t gc_sweepgen;

/* A new collector span (fresh from the heap) a CPU starts allocating from:
 * record its pages as the collector's (kgc_is_live, the rescan) and as
 * swept, its free slots as marked.  Interrupts off, no lock held. */
void gc_span_publish(struct mspan *s);

/* Clear the mark bit of object p of span s, which its owner has just
 * allocated (free slots' mark bits are set). */
void gc_span_unmark(struct mspan *s, uintptr_t p);

/* End of a cycle (world stopped): every small collector span becomes
 * unswept (off mcentral's lists, onto the sweep's own).  Of the objects
 * and bytes allocated in them at the start of the mark, *live_* are the
 * marked ones; the others are owed to the sweep. */
void gc_sweep_begin(uint64_t objects, uint64_t bytes, uint64_t *live_objects,
                    uint64_t *live_bytes);

/* Sweep unswept spans of span class sc until its mcentral has a partial
 * span or none is left (before a CPU takes a fresh span).  Interrupts off,
 * no lock held. */
void gc_sweep_for_alloc(spanclass_t sc);

/* Sweep spans of any class as the allocation since the last cycle asks
 * (done before the next trigger). */
void gc_sweep_assist(void);

/* Sweep up to max spans (0: all); returns the spans left unswept. */
size_t gc_sweep(size_t max);

/* What the sweep owes: unswept spans, dead objects and bytes in them. */
void gc_sweep_pending(uint64_t *spans, uint64_t *objects, uint64_t *bytes);

/* Is object idx of small collector span s (of class c, whose lock is
 * held) live: allocated, and marked if s is unswept? */
bool gc_span_obj_live(const struct mspan *s, uintptr_t idx);
#endif

#endif
