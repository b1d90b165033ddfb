/*
 * mheap: the page heap.  See mm/mheap.c and mm/malloc.c.
 */
#ifndef KSPAN_MM_MHEAP_H
#define KSPAN_MM_MHEAP_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/fixalloc.h"
#include "mm/mspan.h"
#include "mm/mtreap.h"
#include "lib/spinlock.h"

#define KS_MAX_MHEAP_LIST 128          /* exact free lists for 1..127 pages */
#define KS_HEAP_GROW_PAGES 128         /* grow the arena 1 MiB at a time */
#define MHEAP_SHRINK_KEEP 8            /* shrinking: keep 1/8 of the limit */

struct mheap {
	struct ks_spinlock lock;
	struct mspan *free[KS_MAX_MHEAP_LIST];  /* free spans of exactly i pages */
	uint64_t freemask[KS_MAX_MHEAP_LIST / 64]; /* bit i: free[i] non-empty */
	struct mtreap freelarge;               /* free spans of >= 128 pages */
	struct fixalloc spanalloc;             /* struct mspan storage */

	uintptr_t pages_free;           /* pages in free spans */
	uintptr_t pages_free_committed; /* of those, with memory behind them */
	uintptr_t pages_inuse;          /* pages in in-use spans */
	uintptr_t scav_threshold;       /* pages_free_committed limit */
	uintptr_t pages_freed_run;      /* pages freed since a span was last
	                                   allocated (mheap.c: shrinking) */
	uint64_t pages_scavenged_total; /* pages ever decommitted */
	uint64_t large_inuse;           /* large objects and kpages blocks */
	uint64_t large_pages;
};

extern struct mheap ks_mheap;

/* Set the heap up over ks_arena (arena_init first).  scav_bytes: free
 * committed memory kept before scavenging gives it back. */
int mheap_init(size_t scav_bytes);

/* Allocate npages contiguous pages, the first aligned to align_pages pages
 * (a power of two, 1 for none).  Returns an in-use span with every page
 * committed and every spans entry pointing at it, spanclass 0; or NULL if
 * out of memory (the heap is unchanged).  needzero says whether any page
 * had memory behind it before (if not, the span reads as zero).  Takes the
 * heap lock. */
struct mspan *mheap_alloc(uintptr_t npages, uintptr_t align_pages);

/* Grow in-use span s to npages pages in place, from the free span right
 * after it (or the arena not yet used).  The new pages are committed but
 * not zeroed.  false (and s unchanged) if they are not free. */
bool mheap_extend(struct mspan *s, uintptr_t npages);

/* Return an in-use span's pages.  Takes the heap lock.  Coalesces with free
 * neighbours; may scavenge. */
void mheap_free(struct mspan *s);

/* Decommit free pages until at most keep_pages free pages stay committed.
 * Returns the number of pages decommitted.  Takes the heap lock. */
uintptr_t mheap_scavenge(uintptr_t keep_pages);
/* Decommit want free committed pages, or all there are if fewer (the
 * largest free spans first, each from its end), for a platform that needs
 * commit budget back.  Returns the number decommitted.  Takes the heap
 * lock. */
uintptr_t mheap_scavenge_pages(uintptr_t want);

/* Largest run of free pages (including the arena not yet grown into). */
uintptr_t mheap_largest_free(void);

/* Free pages, counting the arena not yet grown into. */
uintptr_t mheap_free_pages_total(void);

/* Validate the free structures, the spans array and the counters. */
void mheap_check(void);

#endif
