/*
 * The debug heap's byte patterns (see mm/debugheap.c).
 */
#ifndef KSPAN_MM_DEBUGHEAP_H
#define KSPAN_MM_DEBUGHEAP_H

#include "lib/config.h"

#define KS_POISON_BYTE  0xDB   /* free object */
#define KS_CANARY_BYTE  0xCB   /* red zone after an object */
#define KS_RZ_TRAILER   16     /* call site + encoded size */
#define KS_RZ_MIN       8      /* canary bytes at least */
#define KS_RZ           (KS_RZ_TRAILER + KS_RZ_MIN)

/* What a free object's first word holds when it leaves the per-CPU free
 * queue: the poison in debug-heap builds, where it is checked. */
#if KSPAN_DEBUG_HEAP
#define KS_FREED_WORD   0xDBDBDBDBDBDBDBDBull
#else
#define KS_FREED_WORD   0
#endif

#include <stdbool.h>
#include <stdint.h>
/* The secret of red-zone trailers (kspan_init, from the seed). */
void ks_debugheap_seed(uint64_t secret);

#include <stddef.h>
/* The allocator itself, without the debug layer (mm/malloc.c).  fn names
 * the function the program called, for reports. */
void *ks_malloc(size_t size);
void ks_free(void *p, const char *fn);
size_t ks_usable_size(const void *p, const char *fn);
void *ks_malloc_aligned(size_t size, size_t align);

/* Poison and red zones for the object caches that ask for them
 * (KSPAN_SLAB_POISON, KSPAN_SLAB_RED_ZONE; mm/slab.c), in every build:
 * kmalloc's debug-heap layout with blk = the span's elemsize,
 *   [ object ][ canary 0xCB ... ][ call site ][ size ^ secret ]
 * and the same reports, fn naming the function (and cache) in them.
 * carve: a fresh block (all poison, or a free trailer); alloc: check the
 * poison, arm the red zone, check the neighbours; free: check the red zone
 * (a free trailer is a double free) and the neighbours, poison the block.
 * site: the allocation site a red zone keeps, NULL if free. */
struct mspan;
void ks_rz_carve(uint8_t *p, size_t blk, bool poison, bool redzone);
void ks_rz_alloc(const char *fn, const struct mspan *s, uint8_t *p, size_t size,
                 void *site, bool poison, bool redzone);
void ks_rz_free(const char *fn, const struct mspan *s, uint8_t *p, bool poison,
                bool redzone);
void *ks_rz_site(const uint8_t *p, size_t blk);

#if KSPAN_DEBUG_HEAP
/* The debug layer over them (mm/debugheap.c); site: the program's call
 * site, recorded with the object. */
void *ks_debug_malloc(size_t size, const char *fn, void *site);
void ks_debug_free(void *p, const char *fn, void *site);
size_t ks_debug_usable_size(const void *p, const char *fn);
void *ks_debug_malloc_aligned(size_t size, size_t align, const char *fn, void *site);
/* realloc: in place while the block fits, else (and always for guarded
 * objects) a new object, the contents copied, the old one freed. */
void *ks_debug_realloc(void *p, size_t size, const char *fn, void *site);
#endif

#endif
