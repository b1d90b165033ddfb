/*
 * mcache: the per-CPU cache.  See mm/mcache.c and mm/malloc.c.
 */
#ifndef KSPAN_MM_MCACHE_H
#define KSPAN_MM_MCACHE_H

#include <stdint.h>
#include <kspan/platform.h>
#include <kspan/slab.h>
#include "lib/bits.h"
#include "lib/check.h"
#include "lib/config.h"
#include "mm/mspan.h"

/* Spans a CPU owns per class, the current included (mcache_class.ownmax):
 * enough for KS_OWN_OBJECTS objects, but no more than KS_OWN_BYTES of
 * spans, and at least KS_OWN_MIN and at most KS_OWN_MAX of them.  So 8
 * spans of a class of 128 B or less, 16 of the 256 B, 512 B and 1 KiB
 * classes (spans of 32 objects, mm/sizeclass.h), 8 of the 32 KiB class;
 * KS_OWN_MAX only for object caches of small spans. */
#define KS_OWN_MAX     64
#define KS_OWN_MIN     8
#define KS_OWN_OBJECTS 512
#define KS_OWN_BYTES   ((uintptr_t)512 << 10)
#define KS_EMPTY_KEEP 2   /* of those, all-free ones kept when cur is replaced */
#define KS_SCAN_MAX  8    /* owned spans looked at for a new cur (more only
                             while all of those are full) */
#define KS_QUEUE_MAX 16   /* frees into spans no CPU owns, queued per class */
/* The fast path's classes: the kmalloc size classes, then one per object
 * cache slot (mm/slab.c: cache i is class KS_NUM_SIZE_CLASSES + i). */
#define KS_NUM_FRONT_CLASSES (KS_NUM_SIZE_CLASSES + KSPAN_SLAB_MAX_CACHES)

struct mcentral;
struct ks_rbatch;

/* One class of one CPU (a kmalloc size class, a collector class or an
 * object cache).  The fast path reads the first four fields only (the collector's,
 * gckey too). */
struct mcache_class {
	uint64_t *word;          /* free bits it allocates from: a word of cur,
	                            or ks_zero_word (always empty) */
	uintptr_t base;          /* address of that word's object 0 */
	uintptr_t size;          /* object size (a full word: imul reads it) */
	uint32_t key;            /* cur's random key (KSPAN_RANDOMIZE) */
	uint32_t pad0;
	uintptr_t gckey;         /* collector scan classes: the key (a type
	                            and a request size) whose objects have the
	                            bits every free slot of cur has, or 0
	                            (mm/mgcalloc.c) */

	struct mspan *cur;       /* the owned span allocated from, or NULL */
	struct mspan *partial;   /* the other owned spans (mm/spanlist.h) */
	struct mcentral *central;
	uint64_t *refill;        /* when word is cur's allocation cache: the
	                            free bits of its word, which the fast
	                            path moves into the cache when it is empty
	                            (frees since); else ks_zero_word */
	int32_t owner;           /* what owned spans' owner says: the CPU, plus
	                            KS_OWNER_GC for collector classes */
	uint16_t npartial;
	uint16_t nqueued;        /* queue[0..nqueued) */
	uint8_t active;          /* allocated from since the last drain: frees
	                            into unowned spans may take them over */
	uint8_t pad;
	uint16_t ownmax;         /* the bound on owned spans (KS_OWN_BYTES) */
	struct mspan *scan;      /* the partial span the next look for a cur
	                            starts at (NULL: the head) */
	void *queue[KS_QUEUE_MAX];   /* frees of objects in spans no CPU owns:
	                                reused by this class's next allocations,
	                                handed to mcentral when it fills */
	uint64_t refills;        /* spans taken from mcentral */
	uint64_t nslow;          /* allocations of the slow path */
	uint64_t nfast;          /* objects the words loaded gave the fast
	                            path (slow paths count them) */
};

/* What the allocation fast path reads of a CPU's cache: one class pointer
 * per size.  ks_mcache_of[cpu] points at this part of the CPU's cache, or
 * at ks_front_empty (no cache yet: every class misses) or ks_front_flush
 * (another CPU asked for a flush: the next allocation serves it). */
struct mcache_front {
	struct mcache_class *bysize[KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1];
	struct mcache_class *bycls[KS_NUM_FRONT_CLASSES];
};

struct mcache {
	struct mcache_front front;         /* first: see ks_mcache_of */
	int cpu;
	uint64_t rng;                      /* word picks and span keys */
	struct mcache_class cls[KS_NUM_SIZE_CLASSES];   /* kmalloc (noscan) */

	/* Remote frees (mm/mremote.c). */
	struct ks_rbatch *out[KSPAN_MAX_CPUS];   /* being filled, per owner */
	struct ks_rbatch *inbox;                 /* sent to this CPU (atomic) */
	struct ks_rbatch *spare;                 /* empty batches kept here */
	unsigned nspare;
	struct ks_rbatch *returned;              /* this CPU's batches, given
	                                            back empty by their
	                                            receivers (atomic) */

	/* Counters, slow paths only (read on demand: kspan_cpu_stats). */
	uint64_t slow_allocs;      /* allocations that missed the fast path */
	uint64_t locked_frees;     /* frees that reached an mcentral lock */
	uint64_t queued_frees;     /* frees queued for an unowned span */
	uint64_t remote_frees;     /* frees sent to another CPU */
	uint64_t remote_batches;   /* batches sent */
	uint64_t received_frees;   /* frees other CPUs sent here, folded in */
	uint64_t adoptions;        /* unowned spans taken over on a free */
	uint64_t flushes;          /* flush requests served */
#if KSPAN_GC
	struct mcache_gc *gc;      /* collector classes, set up on first use */
#endif
} __attribute__((aligned(64)));

/* Each CPU's cache front, for the allocation fast path (see struct
 * mcache_front).  Written by the CPU itself, and by another CPU only to
 * swap in ks_front_flush.  Entry KSPAN_MAX_CPUS is always ks_front_empty:
 * the slot of a host thread that has none of its own. */
extern struct mcache_front *ks_mcache_of[KSPAN_MAX_CPUS + 1];
extern struct mcache_front ks_front_empty, ks_front_flush;
/* The class every absent entry of a front points at: nothing in it. */
extern struct mcache_class ks_class_empty;
/* Each CPU's cache, NULL until it first allocates. */
extern struct mcache *ks_mcache_real[KSPAN_MAX_CPUS];
/* The word an empty class allocates from: always 0. */
extern uint64_t ks_zero_word;
/* Per-boot secret for the tag queued objects carry (mm/mcache.c). */
extern uintptr_t ks_queue_secret;

/* secret: the per-boot secret of queue tags (kspan_init, from the seed). */
void mcache_init_all(uint64_t secret);

/* This CPU's cache, set up (and a pending flush request served) on the
 * way.  NULL if no memory was left for it.  Interrupts off. */
struct mcache *mcache_get(int cpu);

/* Has this CPU ever had a cache? */
static inline bool mcache_in_use(int cpu)
{
	return __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE) != NULL;
}

/* The fast paths' guard and CPU slot.  By default (libkspan.a) the guard
 * is ks_plat_irq_save (interrupts and preemption off) and the slot
 * ks_plat_cpu_id.  With KSPAN_OWN_SLOTS (kspan's kernel and host builds,
 * lib/config.h) there is nothing to guard against, and the slot is
 * ks_plat_own_slot: the caller's own (a host thread's, a kernel CPU's
 * outside interrupt handlers), or KSPAN_MAX_CPUS: that slot's cache is
 * always empty and owns no span, so a caller without an own slot always
 * falls to the slow paths, which take the real guard and the slot
 * ks_plat_cpu_id gives it (a shared one on the host, the CPU's interrupt
 * slot in the kernel).  An interrupt that arrives inside a fast path thus
 * never touches the interrupted slot's cache. */
static inline ks_irqstate_t mcache_fast_enter(void)
{
	return KSPAN_OWN_SLOTS ? 0 : ks_plat_irq_save();
}

static inline unsigned mcache_fast_slot(void)
{
#if KSPAN_OWN_SLOTS
	return ks_plat_own_slot();
#else
	return ks_plat_cpu_id();
#endif
}

static inline void mcache_fast_exit(ks_irqstate_t st)
{
	if (!KSPAN_OWN_SLOTS)
		ks_plat_irq_restore(st);
	(void)st;
}

/* Set class pc up over central, its spans to be owned by owner (the CPU,
 * plus KS_OWNER_GC for collector classes). */
void mcache_class_init(struct mcache_class *pc, struct mcentral *central, int owner);

/* The fast path of allocation: an object of pc's class in *out, or false
 * when the word it allocates from is empty, and so are the free bits it
 * refills from (then mcache_alloc_slow).  The store of the word is its
 * only write, after a refill's store of the free bits.  Interrupts off,
 * pc this CPU's. */
static inline __attribute__((always_inline)) bool
mcache_pop(struct mcache_class *pc, void **out)
{
	uint64_t *wp = pc->word;
	uint64_t m = __atomic_load_n(wp, __ATOMIC_RELAXED);
	if (ks_unlikely(m == 0)) {
		/* The allocation cache ran dry: take the frees into its word
		 * since (mm/mspan.h), here rather than in the slow path. */
		uint64_t *rp = pc->refill;
		m = __atomic_load_n(rp, __ATOMIC_RELAXED);
		if (ks_likely(m == 0))
			return false;
		__atomic_store_n(rp, 0, __ATOMIC_RELAXED);
		pc->nfast += ks_popcount64(m);
	}
	__atomic_store_n(wp, m & (m - 1), __ATOMIC_RELAXED);
	uintptr_t b = ks_lowest_bit(m);
	if (KSPAN_RANDOMIZE)
		b ^= pc->key;
	*out = (void *)(pc->base + b * pc->size);
	return true;
}

/* mcache_pop, or NULL. */
static inline void *mcache_take(struct mcache_class *pc)
{
	void *p;
	return mcache_pop(pc, &p) ? p : NULL;
}

/* The slow path of allocation: fold in remote frees, move to another word
 * or span, reuse a queued free, or take a span from mcentral; then take an
 * object.  NULL when out of memory.  Interrupts off, c this CPU's. */
void *mcache_alloc_slow(struct mcache *c, struct mcache_class *pc);

/* Free object p (index idx) of small span s, which this CPU's fast path
 * did not take (another CPU or none owns s, or the bit was set: a double
 * free).  pc: this CPU's class of s.  Interrupts off. */
void mcache_free_slow(struct mcache *c, struct mcache_class *pc,
                      struct mspan *s, uintptr_t p, uint32_t idx, const char *fn);

/* Give back everything class pc holds (queue, owned spans).  Interrupts
 * off. */
void mcache_class_drain(struct mcache *c, struct mcache_class *pc);

/* The class pc of another CPU, of an object cache being destroyed
 * (mm/slab.c), which that CPU no longer uses (no allocation, no free):
 * give its owned spans back to mcentral (spans), or its queued frees
 * (queue; after every CPU gave its spans back, so no CPU owns theirs).
 * The class is left empty; nothing of its CPU's cache is touched. */
void mcache_class_reclaim_spans(struct mcache_class *pc);
void mcache_class_reclaim_queue(struct mcache_class *pc);

/* Give everything this cache holds back: queued frees, remote batches
 * (sent), frees sent here (folded in), every owned span.  park: the CPU
 * stops (a host thread exits, kspan_drain_cpu): from now on batches for it
 * are freed by their senders (mm/mremote.c), so it leaves nothing behind;
 * its next slow path takes batches again.  Interrupts off, c this CPU's. */
void mcache_drain(struct mcache *c, bool park);

/* Ask every other CPU with a cache to give back what it holds: each does
 * at its next allocation (ks_front_flush). */
void mcache_request_flush(int self);

/* This CPU's class of small span s: its kmalloc class, its object
 * cache's class here (mm/slab.c), or NULL (a collector span, a cache this
 * CPU has no class of). */
struct mcache_class *mcache_class_other(struct mcache *c, const struct mspan *s);
static inline struct mcache_class *mcache_class_of(struct mcache *c, const struct mspan *s)
{
	if (ks_likely(s->spanclass && !s->gc))
		return &c->cls[ks_spanclass_sizeclass(s->spanclass)];
	return mcache_class_other(c, s);
}

#endif
