/*
 * Host-only controls of the host platform (arch/host/platform.c), for tests
 * and the LD_PRELOAD shim.  mm/ never includes this.
 */
#ifndef KSPAN_ARCH_HOST_PLATFORM_H
#define KSPAN_ARCH_HOST_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Bytes currently committed, over all reservations. */
size_t ks_host_committed(void);

/* Make ks_plat_commit fail once committed bytes would exceed limit
 * (0 = no limit).  For out-of-memory tests. */
void ks_host_set_commit_limit(size_t limit);

/* Called on a thread's exit before its CPU slot is released (the shim and
 * tests set it to kspan_drain_cpu). */
void ks_host_set_thread_exit_hook(void (*fn)(void));

/* Number of CPU slots currently held by live threads. */
unsigned ks_host_slots_in_use(void);

#endif
