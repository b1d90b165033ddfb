/*
 * Memory pressure: the last resort of an allocation.  See mm/reclaim.c.
 */
#ifndef KSPAN_MM_RECLAIM_H
#define KSPAN_MM_RECLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KSPAN_MAX_SHRINKERS 16

/* kspan_init: the platform's hook that makes idle CPUs drain (or NULL). */
void ks_reclaim_init(void (*kick_idle_cpus)(void));

/* An allocation of want bytes is about to fail: give back what caches,
 * shrinkers, the collector and the scavenger can.  Returns true if the
 * caller should try once more (false: this slot is already reclaiming).
 * No kspan lock held. */
bool ks_reclaim(size_t want);
/* The same without the collector's cycle: for the collector's own slow
 * path, which has just run one. */
bool ks_reclaim_after_gc(size_t want);

/* Times ks_reclaim ran (statistics). */
uint64_t ks_reclaim_count(void);

#endif
