/*
 * fuzz_heap: the main libFuzzer harness of the kspan heap (mm/ with the host
 * platform), built for speed: every operation's work is bounded by what it
 * reads, whatever the size it asks for, so libFuzzer runs thousands of
 * inputs a second.  The operations and the shadow model are in
 * tests/fuzz/fuzz_engine.c; tests/fuzz/README.md has the input format.
 *
 * Here: kmalloc / kzalloc / kcalloc / krealloc / kmalloc_aligned / kpages /
 * kmalloc_guarded / kfree / ksize, drains, the statistics cross-check,
 * commit limits (in a warm heap they hit metadata and the guarded pool),
 * impossible requests, the object caches' allocations, frees and shrinks,
 * and operations on a second CPU slot (remote frees; the fuzzing thread
 * runs them itself on a parked helper's slot), in a 32 MiB arena with
 * every page committed, at
 * most 12 MiB live in 32 slots, requests up to 1.25 MiB (128 KiB for what
 * is zeroed or copied).  kspan_check and OP_STATS at most twice an input.
 * What costs in proportion to the heap rather than the input is
 * fuzz_exhaust's: filling the arena, scavenging (and so commits under a
 * limit), the whole-heap check every 32 operations and at the end of each
 * input, 4 MiB requests, caches created, filled and destroyed
 * (OP_CACHE_CYCLE).
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_config cfg = {
	.name = "fuzz_heap",
	.arena_bytes = (size_t)32 << 20,
	.scavenge_threshold = (size_t)32 << 20,   /* never: a warm heap */
	.live_budget = (size_t)12 << 20,
	.nslots = 32,
	.max_ops = 2048,
	.check_every = 0,
	.max_checks = 2,
	.large_cap = (size_t)1280 << 10,
	.copy_cap = (size_t)128 << 10,
	.nworkers = 1,
	.on_cpu = true,
	.switch_slot = true,
	.oom = true,
	.warm_heap = true,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run_single(&cfg, data, size);
}
