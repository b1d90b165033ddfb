/*
 * Guarded allocations: see mm/guard.c.
 */
#ifndef KSPAN_MM_GUARD_H
#define KSPAN_MM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_GUARD_SLOTS 64
#define KS_GUARD_MAX   (4096 - 16)

int ks_guard_init(void);
bool ks_guard_owns(uintptr_t p);
bool ks_guard_sample_now(void);
void *ks_guard_alloc(size_t size, void *site);
void ks_guard_free(uintptr_t p, void *site);
size_t ks_guard_size(uintptr_t p);
struct ks_spinlock *ks_guard_lock(void);

#endif
