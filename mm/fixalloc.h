/*
 * fixalloc: an allocator for fixed-size metadata (struct mspan, per-CPU
 * caches, remote-free batches), kept off the heap so that growing the heap
 * never calls the heap (Go's mfixalloc).  Not locked: the owner (mheap,
 * mm/meta.c) holds its lock.
 *
 * Memory comes from its own reservation, in chunks of at least
 * FIXALLOC_CHUNK bytes (whole 4 KiB pages holding a header and at least
 * one object).  Unlike Go's, it gives memory back: the span structs of a
 * heap that has shrunk (one for every span it once had) are
 * decommitted a chunk at a time as the chunks empty.
 *
 *   chunk header   (struct fixchunk, at the chunk's start) its free list,
 *                  the objects in use, how many were ever carved, its list
 *   partial        chunks with a free object, committed; allocation takes
 *                  from the head, a full chunk that gets a free joins at
 *                  the tail, so the chunks at the head fill up first and
 *                  the others can empty
 *   empty          one committed chunk with nothing in use, kept, so that
 *                  a program that allocates and frees one object at a chunk
 *                  boundary does not commit and decommit each time
 *   released       chunks with nothing in use, decommitted but for the
 *                  first page (it holds the header and the list link);
 *                  reused before a never-used chunk
 *
 * Invariants: every chunk below next is on exactly one of partial, empty
 * and released, or full (no free object, on no list); inuse is the sum of
 * the chunks' inuse; committed is the bytes of the chunks that are
 * committed plus one page for each released chunk.
 */
#ifndef KSPAN_MM_FIXALLOC_H
#define KSPAN_MM_FIXALLOC_H

#include <stddef.h>
#include <stdint.h>

#define FIXALLOC_CHUNK ((size_t)64 << 10)

struct fixchunk;

struct fixalloc {
	size_t size;          /* object size (a multiple of 16) */
	size_t chunk;         /* chunk bytes */
	uint32_t per;         /* objects per chunk */
	uintptr_t base;       /* the reservation: chunks from base */
	uintptr_t next;       /* the first never-used chunk */
	uintptr_t end;        /* end of the reservation */
	struct fixchunk *partial;
	struct fixchunk *partial_tail;
	struct fixchunk *empty;
	struct fixchunk *released;
	size_t inuse;         /* objects handed out */
	size_t committed;     /* bytes committed */
};

/* Reserve room for max objects of size bytes.  Returns 0 or -1. */
int fixalloc_init(struct fixalloc *f, size_t size, size_t max);
/* A zeroed object, or NULL when memory ran out. */
void *fixalloc_alloc(struct fixalloc *f);
/* Give p back; an emptied chunk is kept (one) or decommitted. */
void fixalloc_free(struct fixalloc *f, void *p);
/* Check the invariants above; stops with a message if one fails. */
void fixalloc_check(const struct fixalloc *f);

#endif
