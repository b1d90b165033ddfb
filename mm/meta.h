/*
 * Off-heap metadata pools: fixed-size objects the heap needs for itself
 * (per-CPU caches, remote-free batches, object caches' per-CPU parts),
 * kept off the heap so that allocating them never calls the heap.  Each
 * pool is a fixalloc (mm/fixalloc.h) with its own reservation; one lock,
 * meta_lock (KS_RANK_META), serialises them all (they are used on slow
 * paths only).
 */
#ifndef KSPAN_MM_META_H
#define KSPAN_MM_META_H

#include "mm/fixalloc.h"

/* Set pool f up for at most max objects of size bytes (kspan_init and
 * kgc_init; no concurrency).  Returns 0, or -1 if its address space could
 * not be reserved. */
int meta_pool_init(struct fixalloc *f, size_t size, size_t max);

/* Bytes the pools have committed. */
size_t ks_meta_committed(void);

/* A zeroed object of pool f, or NULL when memory ran out.  Any context. */
void *meta_alloc(struct fixalloc *f);
void meta_free(struct fixalloc *f, void *p);

struct ks_spinlock;
/* The pools' lock, for kspan_lock_all. */
struct ks_spinlock *ks_meta_lock(void);

#endif
