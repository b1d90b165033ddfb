/*
 * fuzz_exhaust: the slow kspan harness, run for less time than fuzz_heap.
 * The same operations (tests/fuzz/fuzz_engine.c) in a 256 MiB arena with up
 * to 64 MiB live, plus what costs in proportion to the heap rather than to
 * the input:
 *   - OP_EXHAUST fills the whole arena with kpages blocks (with a key byte
 *     >= 0xf0, once per input): kpages_alloc must return NULL only when no
 *     free run is big enough;
 *   - kspan_check() (every invariant of the heap) after every 32
 *     operations, on every OP_CHECK, and at the end of each input;
 *   - OP_SCAVENGE and OP_CHECK without a per-input budget.
 * Every input ends, as in all the harnesses, with the heap empty, every
 * page free and coalesced, and nothing committed after kspan_scavenge.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_config cfg = {
	.name = "fuzz_exhaust",
	.arena_bytes = (size_t)256 << 20,
	.scavenge_threshold = (size_t)8 << 20,
	.live_budget = (size_t)64 << 20,
	.nslots = 64,
	.max_ops = 2048,
	.check_every = 32,
	.max_checks = 0,
	.nworkers = 2,
	.on_cpu = true,
	.switch_slot = true,
	.exhaust = true,
	.cache_cycle = true,
	.oom = true,
	.scavenge = true,
	.heavy_end = true,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run_single(&cfg, data, size);
}
