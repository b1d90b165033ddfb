/*
 * The heap's address space, laid out as Go 1.10 laid it out.
 *
 * See mm/arena.c for the layout and its costs, mm/malloc.c for the overview.
 */
#ifndef KSPAN_MM_ARENA_H
#define KSPAN_MM_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "mm/mspan.h"

struct ks_arena {
	/* One reservation: [spans][committed][bitmap][arena]. */
	uintptr_t reserve_base;
	size_t reserve_len;

	struct mspan **spans;    /* one entry per arena page */
	uint64_t *committed;     /* one bit per arena page: memory behind it */
	uint8_t *bitmap;         /* heap bitmap; grows down from here (== its end) */

	uintptr_t arena_start;   /* first page of the arena */
	uintptr_t arena_used;    /* end of the part mheap has taken (grows) */
	uintptr_t used_bytes;    /* arena_used - arena_start, read without a lock */
	uintptr_t arena_end;     /* end of the reservation */

	size_t spans_bytes;      /* reserved sizes */
	size_t committed_bytes;
	size_t bitmap_bytes;
	size_t shadow_mapped;    /* arena bytes whose spans + bitmap are committed */
};

extern struct ks_arena ks_arena;

/* What spans[] holds for a page no span has claimed yet: a dead span no CPU
 * owns, so lookups need no NULL test. */
extern struct mspan ks_nospan;

/* Reserve the layout for an arena of arena_bytes and commit the committed-
 * pages bitmap.  Returns 0 or -1. */
int arena_init(size_t arena_bytes);

/* Take npages more pages at arena_used (mheap.grow; heap lock held).
 * Commits the spans and bitmap shadow of the new pages, not the pages.
 * Returns the address of the first new page, or 0 if the arena is full or
 * the shadow could not be committed. */
uintptr_t arena_grow(uintptr_t npages);

/* Page index of p (p in the arena). */
static inline uintptr_t arena_page(uintptr_t p)
{
	return (p - ks_arena.arena_start) >> KS_PAGE_SHIFT;
}

/* The span p lies in, or NULL if p is outside the part of the arena the
 * heap has used.  Go's spanOf: O(1), no lock.  Never NULL inside it: pages
 * no span has claimed map to ks_nospan.  For a free span only its first
 * and last pages are kept up to date (the others may name a span since
 * merged or reused); callers check the state and the range of what they
 * get. */
static inline struct mspan *spanof(uintptr_t p)
{
	uintptr_t off = p - ks_arena.arena_start;
	if (off >= __atomic_load_n(&ks_arena.used_bytes, __ATOMIC_ACQUIRE))
		return NULL;
	return ks_arena.spans[off >> KS_PAGE_SHIFT];
}

static inline void arena_set_spans(uintptr_t first_page, uintptr_t npages,
                                   struct mspan *s)
{
	for (uintptr_t i = 0; i < npages; i++)
		ks_arena.spans[first_page + i] = s;
}

/* Committed-page bits (heap lock held). */
static inline int arena_page_committed(uintptr_t page)
{
	return (ks_arena.committed[page / 64] >> (page % 64)) & 1;
}
/* Count committed pages in [page, page+n). */
uintptr_t arena_count_committed(uintptr_t page, uintptr_t n);

/* Call fn on every span of the used arena, in address order (mm/stats.c;
 * no lock: a snapshot while other CPUs change spans). */
void ks_each_span(void (*fn)(const struct mspan *s, void *arg), void *arg);
/* Commit / decommit pages [page, page+n) and keep the bits; returns the
 * number of pages whose state changed, or -1 (commit: out of memory). */
long arena_commit_pages(uintptr_t page, uintptr_t n);
long arena_decommit_pages(uintptr_t page, uintptr_t n);

#endif
