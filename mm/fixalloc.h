/*
 * fixalloc: a free-list allocator for fixed-size metadata (struct mspan),
 * kept off the heap so that growing the heap never calls the heap (Go's
 * mfixalloc).  Memory comes from its own reservation, committed in
 * FIXALLOC_CHUNK steps.  Not locked: the owner (mheap) holds its lock.
 */
#ifndef KSPAN_MM_FIXALLOC_H
#define KSPAN_MM_FIXALLOC_H

#include <stddef.h>
#include <stdint.h>

#define FIXALLOC_CHUNK ((size_t)64 << 10)

struct fixalloc {
	size_t size;          /* object size (>= sizeof(void *)) */
	void *list;           /* freed objects */
	uintptr_t chunk;      /* bump pointer in the current chunk */
	uintptr_t chunk_end;
	uintptr_t next;       /* next uncommitted byte of the reservation */
	uintptr_t end;        /* end of the reservation */
	size_t inuse;         /* objects handed out */
	size_t committed;     /* bytes committed */
};

/* Reserve room for max objects of size bytes.  Returns 0 or -1. */
int fixalloc_init(struct fixalloc *f, size_t size, size_t max);
/* A zeroed object, or NULL when memory ran out. */
void *fixalloc_alloc(struct fixalloc *f);
void fixalloc_free(struct fixalloc *f, void *p);

#endif
