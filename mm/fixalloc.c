/*
 * fixalloc: see mm/fixalloc.h.
 */
#include "mm/fixalloc.h"
#include "mm/commit.h"
#include "lib/check.h"
#include <kspan/platform.h>

int fixalloc_init(struct fixalloc *f, size_t size, size_t max)
{
	size = (size + 15) & ~(size_t)15;
	/* Objects never straddle chunks, so a chunk's tail is lost: reserve
	 * whole chunks of whole objects (and one more), else max objects of
	 * a size that packs badly (18 KiB per-CPU caches: 3 to a chunk) would
	 * not all fit. */
	size_t per = FIXALLOC_CHUNK / size;
	if (per == 0)
		return -1;
	size_t bytes = ((max + per - 1) / per + 1) * FIXALLOC_CHUNK;
	void *base = ks_plat_reserve(bytes, 4096);
	if (!base)
		return -1;
	f->size = size;
	f->list = NULL;
	f->chunk = f->chunk_end = 0;
	f->next = (uintptr_t)base;
	f->end = (uintptr_t)base + bytes;
	f->inuse = 0;
	f->committed = 0;
	return 0;
}

void *fixalloc_alloc(struct fixalloc *f)
{
	uint8_t *p;
	if (f->list) {
		p = f->list;
		f->list = *(void **)p;
		__builtin_memset(p, 0, f->size);
	} else {
		if (f->chunk + f->size > f->chunk_end) {
			if (f->next + FIXALLOC_CHUNK > f->end ||
			    ks_commit((void *)f->next, FIXALLOC_CHUNK) != 0)
				return NULL;
			/* The chunk tail that no object fits in is lost. */
			f->chunk = f->next;
			f->chunk_end = f->next + FIXALLOC_CHUNK;
			f->next += FIXALLOC_CHUNK;
			f->committed += FIXALLOC_CHUNK;
		}
		p = (uint8_t *)f->chunk; /* fresh commit reads as zero */
		f->chunk += f->size;
	}
	f->inuse++;
	return p;
}

void fixalloc_free(struct fixalloc *f, void *p)
{
	KS_ASSERT(f->inuse > 0);
	*(void **)p = f->list;
	f->list = p;
	f->inuse--;
}
