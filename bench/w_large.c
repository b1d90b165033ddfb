/*
 * Large objects, single-threaded.
 *
 *   large    a working set of 4 blocks; each step frees a random one (after
 *            checking it) and allocates a new one of a log-uniform size in
 *            64 KiB..8 MiB (one in eight through posix_memalign(4096)),
 *            writing a pattern word on every page, as a program that uses
 *            the memory would fault it in.  Allocators that return memory
 *            to the OS on free pay the page faults again each time.
 *   realloc  two buffers grow by 1.5x in turn, from 64 B to 8 MiB, through
 *            realloc.  Each new tail is filled in full; after each realloc
 *            the kept prefix is checked (head, every 4 KiB, tail) and at the
 *            end of a chain the whole buffer is checked.  The pattern
 *            depends on the offset and the chain, not the address, since
 *            realloc may move the data.
 *
 * Both stop early after -T seconds (the driver sets a cap so that an
 * allocator that page-faults its way through every step does not take ten
 * times as long); ops then counts the steps done.
 */
#include "bench.h"

#include <stdlib.h>

#define L_WSET		4
#define L_LO		(64 * 1024)
#define L_HI		(8 * 1024 * 1024)
#define R_START		64
#define R_END		(8 * 1024 * 1024)

int w_large(const struct bench_opts *o)
{
	long steps = bench_scaled(o, 10000, 8), done;
	struct { void *p; size_t n; } w[L_WSET] = { { NULL, 0 } };
	struct rng r;
	double t0, t1;

	rng_seed(&r, o->seed, 0);
	t0 = now_s();
	for (done = 0; done < steps && !bench_out_of_time(o, t0); done++) {
		size_t i = rng_below(&r, L_WSET), n = rng_logsize(&r, L_LO, L_HI);
		void *p;

		if (w[i].p) {
			verify_sparse(w[i].p, w[i].n, pat_seed(w[i].p, w[i].n), "large free");
			free(w[i].p);
		}
		if (rng_below(&r, 8) == 0) {
			int err = posix_memalign(&p, 4096, n);

			if (err || !p)
				bench_fail("posix_memalign(4096, %zu) failed (%d)", n, err);
			if ((uintptr_t)p & 4095)
				bench_fail("posix_memalign(4096, %zu) returned misaligned %p", n, p);
		} else {
			p = check_new(malloc(n), n, "malloc");
		}
		fill_sparse(p, n, pat_seed(p, n));
		w[i].p = p;
		w[i].n = n;
	}
	for (int i = 0; i < L_WSET; i++)
		if (w[i].p) {
			verify_sparse(w[i].p, w[i].n, pat_seed(w[i].p, w[i].n), "large final free");
			free(w[i].p);
		}
	t1 = now_s();
	/* one op = one allocation (and the free of the block it replaces) */
	bench_report(1, (double)done, t1 - t0, NULL);
	return 0;
}

struct chain {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

static void chain_start(struct chain *c, uint64_t seed)
{
	c->n = R_START;
	c->seed = seed;
	c->p = check_new(malloc(c->n), c->n, "malloc");
	fill_range(c->p, 0, c->n, seed);
}

/* Grow by 1.5x; returns 0 once the chain has reached R_END (and was freed). */
static int chain_step(struct chain *c)
{
	size_t n = c->n + c->n / 2;

	if (c->n >= R_END) {
		verify_full(c->p, c->n, c->seed, "realloc chain end");
		free(c->p);
		c->p = NULL;
		return 0;
	}
	if (n > R_END)
		n = R_END;
	c->p = check_new(realloc(c->p, n), n, "realloc");
	verify_sparse(c->p, c->n, c->seed, "realloc kept prefix");
	fill_range(c->p, c->n, n, c->seed);
	c->n = n;
	return 1;
}

int w_realloc(const struct bench_opts *o)
{
	long chains = bench_scaled(o, 120, 2), done = 0, reallocs = 0;
	struct chain a, b;
	int live_a, live_b;
	double t0, t1;

	t0 = now_s();
	while (done < chains && !bench_out_of_time(o, t0)) {
		chain_start(&a, o->seed + (uint64_t)done * 2);
		chain_start(&b, o->seed + (uint64_t)done * 2 + 1);
		live_a = live_b = 1;
		while (live_a || live_b) {
			if (live_a && (live_a = chain_step(&a)))
				reallocs++;
			if (live_b && (live_b = chain_step(&b)))
				reallocs++;
		}
		done += 2;
	}
	t1 = now_s();
	/* one op = one realloc */
	bench_report(1, (double)reallocs, t1 - t0, NULL);
	return 0;
}
