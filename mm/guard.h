/*
 * The guarded pool: see mm/guard.c.
 */
#ifndef KSPAN_MM_GUARD_H
#define KSPAN_MM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kmalloc_guarded's contract (include/kspan/kmalloc.h): objects up to a
 * page less 16 bytes, 16-byte aligned, ending within 15 bytes of the
 * guard page.  The guard mode of the debug heap takes any size the pool's
 * largest slot holds, with the size's natural alignment. */
#define KS_GUARD_MAX   (4096 - 16)

/* Called by kspan_init: no pool yet (it is reserved on first use). */
int ks_guard_init(void);
/* The seed of the sampling (kspan_init, through ks_debugheap_seed). */
void ks_guard_seed(uint64_t seed);

/* Is p in the pool's address space?  Cheap: two loads. */
bool ks_guard_owns(uintptr_t p);

/* Should this allocation be guarded (kspan_guard_sample)?  Per CPU, with
 * random gaps of mean N, seeded. */
bool ks_guard_sample_now(void);

/* A guarded object of size bytes with the size's natural alignment (the
 * largest power of two dividing it, at most 16), or align if not 0 (a
 * power of two).  NULL when the pool cannot take it (too big, full, or a
 * limit reached: kspan_guard_configure); the caller falls back to the
 * heap.  site is recorded as the allocation site. */
void *ks_guard_alloc(size_t size, void *site);
void *ks_guard_alloc_aligned(size_t size, size_t align, void *site);

/* Free a guarded object: its pages are unmapped and its slot goes into
 * the quarantine.  A double free or a pointer that is not a live object's
 * start stops with a message naming fn (ks_guard_free: "kfree"). */
void ks_guard_free(uintptr_t p, void *site);
void ks_guard_free_as(uintptr_t p, const char *fn, void *site);

/* The size asked for.  A freed object stops with "double free" when the
 * caller is about to free it (realloc: freeing), else "use after free";
 * anything else that is not a live object's start stops too. */
size_t ks_guard_size(uintptr_t p);
size_t ks_guard_size_as(uintptr_t p, const char *fn, bool freeing);

/* Where the live or freed object at p was allocated, or NULL. */
void *ks_guard_site(uintptr_t p);

struct ks_spinlock *ks_guard_lock(void);

#endif
