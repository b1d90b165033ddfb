/*
 * mcentral: the central lists of one class.  See mm/mcentral.c.
 */
#ifndef KSPAN_MM_MCENTRAL_H
#define KSPAN_MM_MCENTRAL_H

#include <stdint.h>
#include "lib/spinlock.h"
#include "mm/mspan.h"

struct mcentral {
	struct ks_spinlock lock;
	/* The class: what its spans hold (read-only after init). */
	uint32_t elemsize;
	uint16_t nelems;
	uint8_t npages;
	spanclass_t spanclass;   /* kmalloc / collector class, 0 for a cache */
	uint8_t gc;              /* central of collector-managed spans */
	uint64_t divmagic;       /* ks_divmagic(elemsize) */
	/* Spans no CPU owns (lock held). */
	struct mspan *partial;   /* some objects free */
	struct mspan *full;      /* no object free */
	struct mspan *empty;     /* every object free: a reserve of at most
	                            KS_CENTRAL_EMPTY spans (kmalloc classes), so
	                            that a class that empties and refills its
	                            spans does not take them from the heap and
	                            give them back every time */
	uint32_t nempty;
	uint64_t nspans;         /* spans of this class, owned ones too */
	uint64_t nrefills;       /* spans handed to CPUs */
	uint64_t nadopted;       /* of those, taken over by a CPU freeing into them */
} __attribute__((aligned(64)));

#define KS_CENTRAL_EMPTY 2

extern struct mcentral ks_mcentral[KS_NUM_SPAN_CLASSES];   /* kmalloc */
#if KSPAN_GC
extern struct mcentral ks_gccentral[KS_NUM_SPAN_CLASSES];  /* collector */
#endif

void mcentral_init(void);

/* Set c up for objects of size bytes in spans of npages pages. */
void mcentral_init_class(struct mcentral *c, const char *lockname,
                         uint32_t size, uint8_t npages, spanclass_t sc, bool gc);

/* Hand a span with free objects to CPU owner (a CPU id, plus KS_OWNER_GC
 * for collector spans): one from the partial list, or a fresh one from the
 * heap (key: its random order).  NULL when out of memory.  Interrupts
 * off. */
struct mspan *mcentral_cache_span(struct mcentral *c, int owner, uint8_t key);

/* Let CPU owner take over unowned span s (it is freeing into it).
 * Returns false if s is owned by now.  Interrupts off. */
bool mcentral_adopt(struct mcentral *c, struct mspan *s, int owner);

/* The owning CPU gives span s back (it is full, over the CPU's bound, or
 * the CPU drains): filed by its free objects, or returned to the heap if
 * they are all free.  Interrupts off. */
void mcentral_uncache_span(struct mcentral *c, struct mspan *s);

/* Free n objects of this class, each checked to be an object's start, on
 * behalf of CPU cpu.  Objects of unowned spans (and spans cpu owns) are
 * freed here; those of spans another CPU owns are handed back in *fwd
 * (*nfwd of them, at most n) for the caller to send to their owner.
 * Detects double frees.  Interrupts off. */
void mcentral_free_objects(struct mcentral *c, void *const *objs, unsigned n,
                           int cpu, void **fwd, unsigned *nfwd);

/* Spans whose objects are all free, on their way back to the heap:
 * gathered under a central's lock, given to mheap_free with it dropped
 * (mcentral_free_objects, the collector's sweep). */
struct mcentral_dead {
	struct mspan *s[16];
	unsigned n;
};

/* Queue s (c's lock held, *st its saved state); a full batch is freed
 * first, the lock dropped meanwhile. */
void mcentral_dead_push(struct mcentral *c, ks_irqstate_t *st, struct mcentral_dead *d,
                        struct mspan *s);

/* Free the queued spans (no central lock held). */
void mcentral_dead_free(struct mcentral_dead *d);

/* Give every central's reserve of empty spans back to the heap (memory
 * pressure, kspan_scavenge).  Returns the pages given.  Interrupts any. */
uintptr_t mcentral_release_empty(void);

/* Walk the lists and validate every span (mspan_check), the counts and
 * that each span is on the list its state says. */
void mcentral_check(struct mcentral *c);

#endif
