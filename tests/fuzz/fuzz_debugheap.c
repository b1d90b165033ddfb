/*
 * fuzz_debugheap: the same operations (tests/fuzz/fuzz_engine.c) against
 * mm/ built with -DKSPAN_DEBUG_HEAP=1 (mm/debugheap.c: red zones with call
 * sites, poison on free, guard-page sampling).  The programs are valid, so
 * the debug heap must never report anything: any "heap overflow" or
 * "use-after-free write" panic is a misfire.  On top of fuzz_heap's checks:
 *   - ksize() is exactly the size asked for (the red zone starts there), for
 *     kmalloc, kzalloc, kcalloc, kmalloc_aligned and moved krealloc results;
 *   - every kmalloc object has a call site (kspan_alloc_site);
 *   - the object is filled up to its ksize, i.e. right up to the red zone,
 *     and checked before kfree, which then checks the red zone itself;
 *   - OP_SAMPLE sends every n-th kmalloc to the guarded pool
 *     (kspan_guard_sample): those objects too must behave as kmalloc's.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_config cfg = {
	.name = "fuzz_debugheap",
	.arena_bytes = (size_t)32 << 20,
	.scavenge_threshold = (size_t)32 << 20,   /* never: a warm heap */
	.live_budget = (size_t)12 << 20,
	.nslots = 32,
	.max_ops = 2048,
	.check_every = 0,
	.max_checks = 2,
	.large_cap = (size_t)1280 << 10,
	.copy_cap = (size_t)128 << 10,
	.nworkers = 2,
	.on_cpu = true,
	.switch_slot = true,
	.oom = true,
	.warm_heap = true,
	.debug_heap = true,
	.cache_cycle = true,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run_single(&cfg, data, size);
}
