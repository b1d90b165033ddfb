/*
 * larson: a server-style churn benchmark after Larson and Krishnan's test
 * ("Memory allocation for long-running server applications", 1998), as run
 * by mimalloc-bench's larsonN.
 *
 * Each thread owns an array of live blocks (random sizes 8..1000) and
 * repeatedly frees a random one and allocates a replacement.  At every phase
 * boundary the threads pass their arrays on (thread i takes array i+phase),
 * so most frees hit blocks another, still running, thread allocated; after
 * each epoch the threads exit and new ones take over (thread churn, as in
 * the original).  Every block carries a pattern of its address and size,
 * checked before it is freed.
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>

#define L_SLOTS		2000	/* live blocks per array */
#define L_MIN		8
#define L_MAX		1000
#define L_EPOCHS	4
#define L_PHASES	8

struct slot {
	void *p;
	size_t n;
};

struct larson {
	struct slot *arrays;		/* nthreads arrays of L_SLOTS */
	int nthreads;
	long ops_per_phase;
	uint64_t seed;
	int epoch;
	pthread_barrier_t phase_barrier;
};

struct larson_arg {
	struct larson *l;
	int id;
};

static void *larson_thread(void *argp)
{
	struct larson_arg *a = argp;
	struct larson *l = a->l;
	struct rng r;

	rng_seed(&r, l->seed, (uint64_t)l->epoch * 1000 + (uint64_t)a->id);
	for (int phase = 0; phase < L_PHASES; phase++) {
		int which = (a->id + l->epoch * L_PHASES + phase) % l->nthreads;
		struct slot *s = l->arrays + (size_t)which * L_SLOTS;

		for (long k = 0; k < l->ops_per_phase; k++) {
			struct slot *v = &s[rng_below(&r, L_SLOTS)];
			size_t n = rng_range(&r, L_MIN, L_MAX);

			verify_sparse(v->p, v->n, pat_seed(v->p, v->n), "larson free");
			free(v->p);
			v->p = check_new(malloc(n), n, "malloc");
			v->n = n;
			fill_sparse(v->p, n, pat_seed(v->p, n));
		}
		/* Hand the array on only when every thread is done with its own. */
		pthread_barrier_wait(&l->phase_barrier);
	}
	return NULL;
}

int w_larson(const struct bench_opts *o)
{
	struct larson l;
	struct rng r;
	int t = bench_threads(o, 2);
	size_t nslots = (size_t)t * L_SLOTS;
	struct larson_arg args[t];
	double t0, t1;

	l.nthreads = t;
	l.seed = o->seed;
	l.ops_per_phase = bench_scaled(o, 120000, 100);
	l.arrays = bench_map(nslots * sizeof(struct slot));
	pthread_barrier_init(&l.phase_barrier, NULL, (unsigned)t);
	for (int i = 0; i < t; i++)
		args[i] = (struct larson_arg){ &l, i };

	t0 = now_s();
	/* The main thread allocates the first generation: all of it is freed by
	 * the workers. */
	rng_seed(&r, o->seed, 999999);
	for (size_t i = 0; i < nslots; i++) {
		size_t n = rng_range(&r, L_MIN, L_MAX);
		struct slot *v = &l.arrays[i];

		v->p = check_new(malloc(n), n, "malloc");
		v->n = n;
		fill_sparse(v->p, n, pat_seed(v->p, n));
	}
	for (l.epoch = 0; l.epoch < L_EPOCHS; l.epoch++)
		run_threads(t, larson_thread, args, sizeof args[0]);
	for (size_t i = 0; i < nslots; i++) {
		struct slot *v = &l.arrays[i];

		verify_sparse(v->p, v->n, pat_seed(v->p, v->n), "larson final free");
		free(v->p);
	}
	t1 = now_s();

	pthread_barrier_destroy(&l.phase_barrier);
	bench_unmap(l.arrays, nslots * sizeof(struct slot));
	/* one op = one malloc + one free */
	bench_report(t, (double)L_EPOCHS * L_PHASES * t * l.ops_per_phase + (double)nslots,
		     t1 - t0, NULL);
	return 0;
}
