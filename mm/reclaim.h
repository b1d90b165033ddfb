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

/* Pages scavenged beyond the request by the first scavenging step (512
 * KiB): room for the metadata a retry may commit. */
#define KS_RECLAIM_SLACK 64

/* An allocation of want bytes is about to fail: give back what caches,
 * shrinkers, the collector and, when a commit failed, the scavenger can.
 * pass 0 empties the caches (and scavenges about want bytes if a commit
 * failed); a later pass scavenges more (every free page the second time)
 * if a commit failed again.  Returns true if the caller should try again
 * (false: nothing more to give, or this slot is already reclaiming).  The
 * callers loop:
 *     for (unsigned pass = 0; !p && ks_reclaim(size, pass); pass++)
 *             p = try_again();
 * No kspan lock held. */
bool ks_reclaim(size_t want, unsigned pass);
/* The same without the collector's cycle: for the collector's own slow
 * path, which has just run one. */
bool ks_reclaim_after_gc(size_t want, unsigned pass);

/* Times ks_reclaim ran (statistics). */
uint64_t ks_reclaim_count(void);

#endif
