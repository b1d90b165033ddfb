/*
 * mstress: mixed sizes with integrity checks, after mimalloc's mstress test
 * (block migration between threads plus thread churn).
 *
 * Threads work on arrays of live blocks: allocate (malloc, calloc or
 * posix_memalign), free, realloc, or swap a block with a shared transfer
 * array so that another thread frees it.  Sizes are mostly small with a tail
 * up to 256 KiB.  Every block is filled entirely with a pattern of its
 * address and size, and checked entirely before it is freed or realloc'd
 * (realloc must keep the old prefix); calloc memory must read as zero and
 * posix_memalign must honour the alignment.  After each epoch the threads
 * exit and new ones take over the arrays, shifted by one.
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>

#define M_SLOTS		1000	/* live-block slots per thread array */
#define M_XFER		256	/* shared transfer slots */
#define M_STRIPES	16
#define M_EPOCHS	4

struct mslot {
	void *p;
	size_t n;
};

struct mstress {
	struct mslot *local;		/* nthreads arrays of M_SLOTS */
	struct mslot xfer[M_XFER];
	pthread_mutex_t stripe[M_STRIPES];
	int nthreads, epoch;
	long steps;
	uint64_t seed;
	long calls[64];			/* allocator calls per thread */
};

struct m_arg {
	struct mstress *m;
	int id;
};

static size_t m_size(struct rng *r)
{
	uint64_t k = rng_below(r, 1000);

	if (k < 750)
		return rng_range(r, 8, 128);
	if (k < 970)
		return rng_range(r, 129, 1024);
	if (k < 999)
		return rng_logsize(r, 1025, 16384);
	return rng_logsize(r, 16385, 256 * 1024);
}

static void m_release(struct mslot *s, long *calls)
{
	if (!s->p)
		return;
	verify_full(s->p, s->n, pat_seed(s->p, s->n), "mstress free");
	free(s->p);
	s->p = NULL;
	++*calls;
}

static void m_allocate(struct mslot *s, struct rng *r, long *calls)
{
	size_t n = m_size(r);
	uint64_t how = rng_below(r, 10);
	void *p;

	if (how == 0) {
		const unsigned char *z;

		p = check_new(calloc(1, n), n, "calloc");
		z = p;
		for (size_t i = 0; i < n; i++)
			if (z[i])
				bench_fail("calloc(1, %zu) = %p: byte %zu is not zero", n, p, i);
	} else if (how == 1) {
		size_t align = (size_t)16 << rng_below(r, 9);	/* 16..4096 */
		int err = posix_memalign(&p, align, n);

		if (err || !p)
			bench_fail("posix_memalign(%zu, %zu) failed (%d)", align, n, err);
		if ((uintptr_t)p & (align - 1))
			bench_fail("posix_memalign(%zu, %zu) returned misaligned %p", align, n, p);
	} else {
		p = check_new(malloc(n), n, "malloc");
	}
	fill_full(p, n, pat_seed(p, n));
	s->p = p;
	s->n = n;
	++*calls;
}

static void m_realloc(struct mslot *s, struct rng *r, long *calls)
{
	size_t n = m_size(r), keep = n < s->n ? n : s->n;
	uint64_t old_seed = pat_seed(s->p, s->n);
	void *p;

	verify_full(s->p, s->n, old_seed, "mstress before realloc");
	p = check_new(realloc(s->p, n), n, "realloc");
	verify_full(p, keep, old_seed, "mstress realloc kept prefix");
	fill_full(p, n, pat_seed(p, n));
	s->p = p;
	s->n = n;
	++*calls;
}

static void *m_thread(void *argp)
{
	struct m_arg *a = argp;
	struct mstress *m = a->m;
	struct mslot *mine = m->local + (size_t)((a->id + m->epoch) % m->nthreads) * M_SLOTS;
	long calls = 0;
	struct rng r;

	rng_seed(&r, m->seed, (uint64_t)m->epoch * 1000 + (uint64_t)a->id);
	for (long step = 0; step < m->steps; step++) {
		struct mslot *s = &mine[rng_below(&r, M_SLOTS)];
		uint64_t what = rng_below(&r, 100);

		if (what < 45) {
			m_release(s, &calls);
			m_allocate(s, &r, &calls);
		} else if (what < 75) {
			m_release(s, &calls);
		} else if (what < 85) {
			size_t x = rng_below(&r, M_XFER);
			pthread_mutex_t *lk = &m->stripe[x % M_STRIPES];
			struct mslot tmp;

			pthread_mutex_lock(lk);
			tmp = m->xfer[x];
			m->xfer[x] = *s;
			pthread_mutex_unlock(lk);
			*s = tmp;
		} else if (s->p) {
			m_realloc(s, &r, &calls);
		} else {
			m_allocate(s, &r, &calls);
		}
	}
	m->calls[a->id] += calls;
	return NULL;
}

int w_mstress(const struct bench_opts *o)
{
	static struct mstress m;
	int t = bench_threads(o, 2) > 64 ? 64 : bench_threads(o, 2);
	size_t nlocal = (size_t)t * M_SLOTS;
	struct m_arg args[t];
	long calls = 0;
	double t0, t1;

	m.nthreads = t;
	m.seed = o->seed;
	m.steps = bench_scaled(o, 800000, 200);
	m.local = bench_map(nlocal * sizeof(struct mslot));
	for (int i = 0; i < M_STRIPES; i++)
		pthread_mutex_init(&m.stripe[i], NULL);
	for (int i = 0; i < t; i++)
		args[i] = (struct m_arg){ &m, i };

	t0 = now_s();
	for (m.epoch = 0; m.epoch < M_EPOCHS; m.epoch++)
		run_threads(t, m_thread, args, sizeof args[0]);
	for (size_t i = 0; i < nlocal; i++)
		m_release(&m.local[i], &calls);
	for (size_t i = 0; i < M_XFER; i++)
		m_release(&m.xfer[i], &calls);
	t1 = now_s();

	for (int i = 0; i < t; i++)
		calls += m.calls[i];
	for (int i = 0; i < M_STRIPES; i++)
		pthread_mutex_destroy(&m.stripe[i]);
	bench_unmap(m.local, nlocal * sizeof(struct mslot));
	/* one op = one allocator call (malloc/calloc/posix_memalign/realloc/free) */
	bench_report(t, (double)calls, t1 - t0, NULL);
	return 0;
}
