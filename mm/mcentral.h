/*
 * mcentral: the central lists of one class.  See mm/mcentral.c.
 */
#ifndef KSPAN_MM_MCENTRAL_H
#define KSPAN_MM_MCENTRAL_H

#include <stdint.h>
#include "lib/spinlock.h"
#include "mm/debugheap.h"
#include "mm/mspan.h"

struct kmem_cache;

struct mcentral {
	struct ks_spinlock lock;
	/* The class: what its spans hold (read-only after init). */
	uint32_t elemsize;
	uint16_t nelems;
	uint8_t npages;
	spanclass_t spanclass;   /* kmalloc / collector class, 0 for a cache */
	uint8_t gc;              /* central of collector-managed spans */
	uint8_t dead;            /* an object cache being destroyed: keeps no
	                            reserve of empty spans */
	uint32_t saveoff;        /* a constructed cache's objects: where a free
	                            object keeps its first word while a queue
	                            tag or link is there (0: not kept) */
	uint64_t divmagic;       /* ks_divmagic(elemsize) */
	struct kmem_cache *cache;   /* the object cache (mm/slab.c), or NULL */
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
 * pressure, kspan_scavenge), the object caches' too.  Returns the pages
 * given.  Interrupts any. */
uintptr_t mcentral_release_empty(void);

/* The same for one central. */
uintptr_t mcentral_release_empty_one(struct mcentral *c);

/* A free object's first word becomes tag (a queue tag, an encoded link),
 * and back: tag_save keeps the word a constructed cache's object holds
 * (saveoff), tag_restore puts it back, or KS_FREED_WORD where nothing was
 * kept.  c: the object's central. */
static inline void mcentral_tag_save(const struct mcentral *c, uintptr_t p, uintptr_t tag)
{
	if (c->saveoff)
		*(uintptr_t *)(p + c->saveoff) = *(uintptr_t *)p;
	*(uintptr_t *)p = tag;
}

static inline void mcentral_tag_restore(const struct mcentral *c, uintptr_t p)
{
	*(uintptr_t *)p = c->saveoff ? *(uintptr_t *)(p + c->saveoff) : KS_FREED_WORD;
}

/* One object allocated under the lock, from a span no CPU owns (object
 * caches that check every object, mm/slab.c, and a CPU without a cache):
 * a partial span's, else a reserve span's, else a fresh span's (key: its
 * random order).  NULL when out of memory.  Interrupts off. */
void *mcentral_alloc_object(struct mcentral *c, uint8_t key);

/* Walk the lists and validate every span (mspan_check), the counts and
 * that each span is on the list its state says. */
void mcentral_check(struct mcentral *c);

#endif
