/*
 * Helper threads for the collector's mark on the host (arch/host/gcpool.c):
 * what a program sets up when it lets the collector mark with more than
 * one thread (include/kspan/gc.h, kgc_config.stop_world_run and markers).
 */
#ifndef KSPAN_ARCH_HOST_GCPOOL_H
#define KSPAN_ARCH_HOST_GCPOOL_H

struct kgc_config;

/* Start markers - 1 helper threads (at most 63) and point cfg's
 * stop_world_run at them, with cfg->markers = markers; cfg's own
 * stop_world and start_world (if any) still run first and last.  Call
 * before kgc_init(cfg).  markers <= 1 leaves cfg alone.  Returns the
 * helper threads started. */
unsigned ks_host_gc_pool(struct kgc_config *cfg, unsigned markers);

#endif
