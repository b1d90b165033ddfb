/*
 * fuzz_smp: the kspan heap driven by 2-4 threads at once, each a CPU of its
 * own (a CPU slot of the host platform), each running its part of the
 * input against a shadow model of its own (tests/fuzz/fuzz_engine.c), and
 * handing objects to the others (OP_PASS), which free them on their CPU:
 * remote frees, into spans another CPU caches.
 *
 * Input: a header byte, then records of REC bytes, each one operation in
 * the engine's format (an opcode byte, its arguments; bytes past the
 * record read as 0).
 *   header bits 0-1: threads, 2 + h % 3 (2, 3 or 4)
 *   header bit  2:   0 lockstep: the threads take turns, one at a time
 *                    (deterministic: a finding replays exactly);
 *                    1 parallel: the threads of a step run at once
 *                    (real races; the model's checks do not depend on the
 *                    interleaving, but a finding may need a few replays)
 *   header bits 3-4: operations per thread per step, 1 + (h >> 3) % 4
 * The records are dealt out in steps: step s gives thread t the records
 * s*n*k + t*k .. + k - 1 (n threads, k per step).  Between steps every
 * thread is idle: passed objects are delivered, the threads' objects must
 * be disjoint, and the steps that held an OP_STATS or OP_CHECK record run
 * the statistics cross-check (every CPU drained) or kspan_check() there
 * (budgeted).  Commit limits (OP_OOM) only in lockstep inputs: a global
 * limit racing with other threads' allocations says nothing a model can
 * check.
 *
 * At the end each thread frees what it holds and what it was passed, on
 * its own CPU; every CPU is drained and the heap must be empty.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <kspan/kmalloc.h>

#include "tests/fuzz/fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REC        8     /* bytes per record */
#define MAX_STEPS  256
#define MAX_CHECKS 2     /* OP_STATS / OP_CHECK runs per input */

static struct fz_config cfg = {
	.name = "fuzz_smp",
	.arena_bytes = (size_t)64 << 20,
	.scavenge_threshold = (size_t)64 << 20,   /* never: a warm heap */
	.live_budget = (size_t)6 << 20,           /* per thread */
	.large_cap = (size_t)1280 << 10,
	.copy_cap = (size_t)128 << 10,
	.nslots = 32,
	.max_ops = 256,
	.check_every = 0,
	.max_checks = 2,
	.nworkers = FZ_MAX_WORKERS,
	.oom = true,
	.scavenge = true,
	.warm_heap = true,
	.threaded = true,
	.cache_cycle = true,
};

static struct fz_ctx ctxs[FZ_MAX_WORKERS];
static struct fz_ctx *peers[FZ_MAX_WORKERS];

struct turn {
	struct fz_ctx *c;
	const uint8_t *data;
	size_t size;
	size_t first;     /* first record of this turn */
	unsigned k;       /* records in the turn */
};
static struct turn turns[FZ_MAX_WORKERS];

/* One thread's turn, on its CPU: take what it was passed, then run its
 * records. */
static void turn_fn(void *arg)
{
	struct turn *t = arg;
	fz_take_inbox(t->c);
	for (unsigned j = 0; j < t->k; j++) {
		size_t at = 1 + (t->first + j) * REC;
		if (at >= t->size || t->c->op_index >= cfg.max_ops)
			break;
		size_t len = t->size - at < REC ? t->size - at : REC;
		struct fz_reader r = { t->data + at, len };
		fz_run_op(t->c, &r);
	}
}

static void release_fn(void *arg)
{
	fz_release_all(arg);
}

/* Does the step hold a record with opcode op? */
static bool step_has(const uint8_t *data, size_t size, size_t first, size_t nrec, int op)
{
	for (size_t j = first; j < first + nrec; j++) {
		size_t at = 1 + j * REC;
		if (at < size && data[at] % FZ_NOPS == op)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_cfg)
		fz_init(&cfg);
	if (size == 0)
		return 0;
	uint8_t h = data[0];
	unsigned n = 2 + h % 3;
	bool parallel = (h >> 2) & 1;
	unsigned k = 1 + (h >> 3) % 4;
	cfg.oom = !parallel;
	fz_begin_input();
	for (unsigned t = 0; t < n; t++) {
		fz_ctx_reset(&ctxs[t], t, t + 1);
		ctxs[t].nthreads = n;
		peers[t] = &ctxs[t];
	}
	fz_set_peers(peers, !parallel);
	size_t nrec = (size - 1) / REC + ((size - 1) % REC != 0);
	unsigned checks = 0;
	for (size_t step = 0; step < MAX_STEPS && step * n * k < nrec; step++) {
		size_t first = step * n * k;
		for (unsigned t = 0; t < n; t++)
			turns[t] = (struct turn){ &ctxs[t], data, size, first + (size_t)t * k, k };
		if (parallel) {
			for (unsigned t = 0; t < n; t++)
				fz_worker_start(t, turn_fn, &turns[t]);
			for (unsigned t = 0; t < n; t++)
				fz_worker_wait(t);
			fz_deliver(peers, n);
		} else {
			for (unsigned t = 0; t < n; t++) {
				fz_worker_run(t, turn_fn, &turns[t]);
				fz_deliver(peers, n);
			}
		}
		/* Every thread idle. */
		fz_check_disjoint(peers, n);
		bool stats = step_has(data, size, first, (size_t)n * k, OP_STATS);
		bool check = step_has(data, size, first, (size_t)n * k, OP_CHECK);
		if ((stats || check) && checks < MAX_CHECKS) {
			checks++;
			if (stats)
				fz_check_stats(peers, n);
			if (check)
				kspan_check();
		}
	}
	/* Each thread frees what it holds, on its own CPU, in turn. */
	for (unsigned t = 0; t < n; t++)
		fz_worker_run(t, release_fn, &ctxs[t]);
	fz_end_input();
	uint64_t d = 0;
	for (unsigned t = 0; t < n; t++)
		d = d * 0x100000001B3ull ^ ctxs[t].digest;
	fz_print_digest(d);
	return 0;
}
