/*
 * mcentral: the central free lists, one per span class.  See mm/mcentral.c.
 */
#ifndef KSPAN_MM_MCENTRAL_H
#define KSPAN_MM_MCENTRAL_H

#include <stdint.h>
#include "mm/mspan.h"
#include "lib/spinlock.h"

struct mcentral {
	struct ks_spinlock lock;
	spanclass_t spanclass;
	uint8_t gc;              /* central of collector-managed spans */
	struct mspan *nonempty;  /* not cached, some objects free */
	struct mspan *empty;     /* cached by a CPU, or no object free */
	uint64_t nspans;         /* spans of this class */
	uint64_t nrefills;       /* spans handed to caches */
} __attribute__((aligned(64)));

extern struct mcentral ks_mcentral[KS_NUM_SPAN_CLASSES];   /* kmalloc */
extern struct mcentral ks_gccentral[KS_NUM_SPAN_CLASSES];  /* collector */

void mcentral_init(void);

/* Hand a span with free objects to a CPU's cache: the span is owned by
 * owner (the CPU's id, plus KS_OWNER_GC for collector spans) and its first
 * free word is loaded.  Grows from the heap if needed.
 * NULL when out of memory.  Interrupts off. */
struct mspan *mcentral_cache_span(struct mcentral *c, int owner);

/* The owning CPU gives span s back (it ran out of objects, or the cache is
 * being drained).  Interrupts off. */
void mcentral_uncache_span(struct mcentral *c, struct mspan *s);

/* Free n small objects of this class that the calling CPU (cpu) does not
 * own the spans of.  Each object was checked to be an object's start.
 * Detects double frees.  Interrupts off. */
void mcentral_free_objects(struct mcentral *c, void *const *objs, unsigned n,
                           int cpu);

/* Walk the lists and validate every span (mspan_check), the counts and
 * that each span is on the list its state says. */
void mcentral_check(struct mcentral *c);

/* Objects in use and spans of this class (approximate while CPUs run). */
void mcentral_count(struct mcentral *c, uint64_t *inuse, uint64_t *spans);

#endif
