/*
 * fixalloc: see mm/fixalloc.h for the chunks and their lists.
 */
#include "mm/fixalloc.h"
#include "mm/commit.h"
#include "lib/check.h"
#include <kspan/platform.h>

#define FIX_PAGE ((size_t)4096)

enum { CHUNK_PARTIAL = 1, CHUNK_FULL, CHUNK_EMPTY, CHUNK_RELEASED };

struct fixchunk {
	struct fixchunk *next, *prev;   /* partial (both), released (next) */
	void *free;                     /* freed objects of this chunk */
	uint32_t inuse;                 /* objects handed out */
	uint32_t carved;                /* objects ever carved, in order */
	uint32_t state;
	uint32_t stale;                 /* committed again: the first page
	                                   keeps old contents */
};

/* Objects start a cache line into the chunk, so an object whose size is a
 * multiple of 64 is aligned to 64 (struct mcache asks for it). */
#define HDR ((size_t)64)
_Static_assert(sizeof(struct fixchunk) <= HDR, "the chunk header must fit its line");

int fixalloc_init(struct fixalloc *f, size_t size, size_t max)
{
	size = (size + 15) & ~(size_t)15;
	size_t chunk = (HDR + size + FIX_PAGE - 1) & ~(FIX_PAGE - 1);
	if (chunk < FIXALLOC_CHUNK)
		chunk = FIXALLOC_CHUNK;
	if (size > FIXALLOC_CHUNK)
		return -1;   /* metadata is small; a larger object is a bug */
	size_t per = (chunk - HDR) / size;
	/* Whole chunks of whole objects, and one more. */
	size_t bytes = ((max + per - 1) / per + 1) * chunk;
	void *base = ks_plat_reserve(bytes, FIX_PAGE);
	if (!base)
		return -1;
	*f = (struct fixalloc){
		.size = size, .chunk = chunk, .per = (uint32_t)per,
		.base = (uintptr_t)base, .next = (uintptr_t)base,
		.end = (uintptr_t)base + bytes,
	};
	return 0;
}

/* The chunk of object p; stops if p is not an object's start. */
static struct fixchunk *chunk_of(const struct fixalloc *f, const void *p)
{
	uintptr_t off = (uintptr_t)p - f->base, in = off % f->chunk;
	KS_CHECK((uintptr_t)p >= f->base && (uintptr_t)p < f->next && in >= HDR &&
	         (in - HDR) % f->size == 0 && (in - HDR) / f->size < f->per,
	         "fixalloc_free: %p is not an object of this pool", p);
	return (struct fixchunk *)(f->base + (off - in));
}

/* ---- the partial list ------------------------------------------------ */

static void partial_push_head(struct fixalloc *f, struct fixchunk *c)
{
	c->state = CHUNK_PARTIAL;
	c->prev = NULL;
	c->next = f->partial;
	if (f->partial)
		f->partial->prev = c;
	else
		f->partial_tail = c;
	f->partial = c;
}

static void partial_push_tail(struct fixalloc *f, struct fixchunk *c)
{
	c->state = CHUNK_PARTIAL;
	c->next = NULL;
	c->prev = f->partial_tail;
	if (f->partial_tail)
		f->partial_tail->next = c;
	else
		f->partial = c;
	f->partial_tail = c;
}

static void partial_remove(struct fixalloc *f, struct fixchunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		f->partial = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		f->partial_tail = c->prev;
	c->next = c->prev = NULL;
}

/* ---- chunks to allocate from ------------------------------------------ */

/* A chunk with room: the kept empty one (its free list intact), a
 * released one committed again, or a never-used one (both carved afresh).
 * NULL when memory ran out. */
static struct fixchunk *chunk_get(struct fixalloc *f)
{
	struct fixchunk *c = f->empty;
	if (c) {
		f->empty = NULL;
		return c;
	}
	c = f->released;
	if (c) {
		if (ks_commit((uint8_t *)c + FIX_PAGE, f->chunk - FIX_PAGE) != 0)
			return NULL;
		f->released = c->next;
		f->committed += f->chunk - FIX_PAGE;
		c->free = NULL;   /* the links were in the pages given back */
		c->carved = 0;
		c->stale = 1;
		return c;
	}
	if (f->next + f->chunk > f->end || ks_commit((void *)f->next, f->chunk) != 0)
		return NULL;
	c = (struct fixchunk *)f->next;   /* a fresh commit reads as zero */
	f->next += f->chunk;
	f->committed += f->chunk;
	return c;
}

void *fixalloc_alloc(struct fixalloc *f)
{
	struct fixchunk *c = f->partial;
	if (!c) {
		c = chunk_get(f);
		if (!c)
			return NULL;
		partial_push_head(f, c);
	}
	uint8_t *p = c->free;
	if (p) {
		c->free = *(void **)p;
		__builtin_memset(p, 0, f->size);
	} else {
		/* Carved memory reads as zero, but for the first page of a
		 * chunk committed again. */
		p = (uint8_t *)c + HDR + (size_t)c->carved++ * f->size;
		if (c->stale && p < (uint8_t *)c + FIX_PAGE)
			__builtin_memset(p, 0, f->size);
	}
	if (++c->inuse == f->per) {
		partial_remove(f, c);
		c->state = CHUNK_FULL;
	}
	f->inuse++;
	return p;
}

void fixalloc_free(struct fixalloc *f, void *p)
{
	struct fixchunk *c = chunk_of(f, p);
	KS_CHECK(c->state == CHUNK_PARTIAL || c->state == CHUNK_FULL,
	         "fixalloc_free: %p is in a chunk with nothing in use", p);
	KS_ASSERT(f->inuse > 0 && c->inuse > 0);
	*(void **)p = c->free;
	c->free = p;
	f->inuse--;
	if (c->state == CHUNK_FULL) {
		c->inuse--;
		if (c->inuse) {
			partial_push_tail(f, c);
			return;
		}
	} else if (--c->inuse) {
		return;
	} else {
		partial_remove(f, c);
	}
	/* Nothing in use: keep one empty chunk, give the others back. */
	if (!f->empty) {
		c->state = CHUNK_EMPTY;
		f->empty = c;
		return;
	}
	ks_plat_decommit((uint8_t *)c + FIX_PAGE, f->chunk - FIX_PAGE);
	f->committed -= f->chunk - FIX_PAGE;
	c->state = CHUNK_RELEASED;
	c->next = f->released;
	f->released = c;
}

void fixalloc_check(const struct fixalloc *f)
{
	size_t inuse = 0, committed = 0, listed = 0;
	const struct fixchunk *prev = NULL;
	for (const struct fixchunk *c = f->partial; c; prev = c, c = c->next) {
		KS_CHECK(c->state == CHUNK_PARTIAL && c->prev == prev && c->inuse < f->per &&
		         c->inuse > 0 && c->carved <= f->per,
		         "fixalloc: partial chunk %p is inconsistent", (const void *)c);
		inuse += c->inuse;
		listed++;
	}
	KS_CHECK(f->partial_tail == prev, "fixalloc: partial list tail %p, not %p",
	         (const void *)f->partial_tail, (const void *)prev);
	if (f->empty) {
		KS_CHECK(f->empty->state == CHUNK_EMPTY && f->empty->inuse == 0,
		         "fixalloc: kept chunk %p is not empty", (const void *)f->empty);
		listed++;
	}
	size_t released = 0;
	for (const struct fixchunk *c = f->released; c; c = c->next) {
		KS_CHECK(c->state == CHUNK_RELEASED, "fixalloc: released chunk %p has state %u",
		         (const void *)c, c->state);
		released++;
	}
	size_t chunks = (f->next - f->base) / f->chunk, full = 0;
	for (size_t i = 0; i < chunks; i++) {
		const struct fixchunk *c = (const struct fixchunk *)(f->base + i * f->chunk);
		if (c->state == CHUNK_FULL) {
			KS_CHECK(c->inuse == f->per, "fixalloc: full chunk %p has %u of %u in use",
			         (const void *)c, c->inuse, f->per);
			full++;
		}
	}
	inuse += full * f->per;
	committed = (chunks - released) * f->chunk + released * FIX_PAGE;
	KS_CHECK(listed + released + full == chunks,
	         "fixalloc: %zu chunks, %zu on lists, %zu released, %zu full",
	         chunks, listed, released, full);
	KS_CHECK(inuse == f->inuse, "fixalloc: chunks hold %zu objects, the pool counts %zu",
	         inuse, f->inuse);
	KS_CHECK(committed == f->committed, "fixalloc: %zu bytes committed, the pool counts %zu",
	         committed, f->committed);
}
