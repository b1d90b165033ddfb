/*
 * cache-scratch: the false-sharing test from Hoard (Berger et al.), as run by
 * mimalloc-bench.
 *
 * The main thread allocates one small object per worker (adjacent objects,
 * likely on one cache line) and hands them out.  Each worker frees the
 * object it was given -- a remote free -- and then repeatedly allocates an
 * object of the same size, writes every byte of it many times, checks the
 * final contents and frees it.  An allocator that gives a worker the block
 * just freed next to another worker's live block makes the two cores fight
 * over one cache line (passive false sharing), and the write rate collapses.
 * ops counts byte writes.
 */
#include "bench.h"

#include <stdlib.h>

#define CS_OBJSIZE	8
#define CS_REPS		20000

struct cs_arg {
	void *given;
	long iterations;
};

static void *cs_thread(void *argp)
{
	struct cs_arg *a = argp;

	verify_full(a->given, CS_OBJSIZE, pat_seed(a->given, CS_OBJSIZE), "cache-scratch given");
	free(a->given);
	for (long it = 0; it < a->iterations; it++) {
		volatile unsigned char *p = check_new(malloc(CS_OBJSIZE), CS_OBJSIZE, "malloc");

		for (int k = 0; k < CS_OBJSIZE; k++)
			p[k] = 0;
		for (int rep = 0; rep < CS_REPS; rep++)
			for (int k = 0; k < CS_OBJSIZE; k++)
				p[k] = (unsigned char)(p[k] + 1);
		for (int k = 0; k < CS_OBJSIZE; k++)
			if (p[k] != (unsigned char)CS_REPS)
				bench_fail("cache-scratch: byte %d of %p is %u, want %u", k,
					   (void *)p, p[k], (unsigned char)CS_REPS);
		free((void *)p);
	}
	return NULL;
}

int w_cache_scratch(const struct bench_opts *o)
{
	int t = bench_threads(o, 2);
	long iterations = bench_scaled(o, 5000, 2);
	struct cs_arg args[t];
	double t0, t1;

	t0 = now_s();
	for (int i = 0; i < t; i++) {
		void *p = check_new(malloc(CS_OBJSIZE), CS_OBJSIZE, "malloc");

		fill_full(p, CS_OBJSIZE, pat_seed(p, CS_OBJSIZE));
		args[i] = (struct cs_arg){ p, iterations };
	}
	run_threads(t, cs_thread, args, sizeof args[0]);
	t1 = now_s();
	bench_report(t, (double)t * iterations * CS_REPS * CS_OBJSIZE, t1 - t0, NULL);
	return 0;
}
