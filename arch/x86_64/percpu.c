/*
 * The per-CPU blocks (percpu.h), one per CPU slot: CPU 0's is installed
 * first thing in kmain (ks_smp_early_init), an AP's by smp_boot.c before
 * the CPU starts.  No code here; no locks.
 */
#include "percpu.h"

struct ks_percpu ks_percpu_area[KSPAN_MAX_CPUS];
