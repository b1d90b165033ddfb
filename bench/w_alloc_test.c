/*
 * alloc-test: random sizes 8..1024 (skewed toward small: 8 + 1016*u^2) held
 * in a random working set, after the alloc-test of mimalloc-bench.
 *
 * Each thread keeps its own working set of 5000 slots, fills it, then
 * repeatedly picks a random slot, checks and frees its block and allocates a
 * new one of a fresh random size.  Blocks carry their address/size pattern
 * at both ends (and every 4 KiB).  Threads do not share blocks: this one
 * measures how each thread's allocations scale.
 */
#include "bench.h"

#include <stdlib.h>

#define A_SLOTS		5000

struct a_arg {
	long steps;
	uint64_t seed;
	int id;
};

static size_t a_size(struct rng *r)
{
	double u = (double)(rng_next(r) >> 11) * 0x1.0p-53;

	return 8 + (size_t)(1016.0 * u * u + 0.5);
}

static void *a_thread(void *argp)
{
	struct a_arg *a = argp;
	struct { void *p; size_t n; } *set = bench_map(A_SLOTS * sizeof *set);
	struct rng r;

	rng_seed(&r, a->seed, (uint64_t)a->id);
	for (int i = 0; i < A_SLOTS; i++) {
		size_t n = a_size(&r);

		set[i].p = check_new(malloc(n), n, "malloc");
		set[i].n = n;
		fill_sparse(set[i].p, n, pat_seed(set[i].p, n));
	}
	for (long s = 0; s < a->steps; s++) {
		size_t i = rng_below(&r, A_SLOTS), n = a_size(&r);

		verify_sparse(set[i].p, set[i].n, pat_seed(set[i].p, set[i].n), "alloc-test free");
		free(set[i].p);
		set[i].p = check_new(malloc(n), n, "malloc");
		set[i].n = n;
		fill_sparse(set[i].p, n, pat_seed(set[i].p, n));
	}
	for (int i = 0; i < A_SLOTS; i++) {
		verify_sparse(set[i].p, set[i].n, pat_seed(set[i].p, set[i].n), "alloc-test final free");
		free(set[i].p);
	}
	bench_unmap(set, A_SLOTS * sizeof *set);
	return NULL;
}

int w_alloc_test(const struct bench_opts *o)
{
	int t = bench_threads(o, 2);
	long steps = bench_scaled(o, 10000000, 1000);
	struct a_arg args[t];
	double t0, t1;

	for (int i = 0; i < t; i++)
		args[i] = (struct a_arg){ steps, o->seed, i };
	t0 = now_s();
	run_threads(t, a_thread, args, sizeof args[0]);
	t1 = now_s();
	/* one op = one malloc + one free */
	bench_report(t, (double)t * (steps + A_SLOTS), t1 - t0, NULL);
	return 0;
}
