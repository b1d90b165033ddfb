/*
 * Tight small-object loops, single-threaded: the allocator's fast path.
 *
 *   small-loop   p = malloc(32); write; check; free(p) -- over and over
 *   small-batch  100 x malloc(32), then the 100 frees in allocation order
 *
 * Each block gets a word of its address and loop index at both ends, checked
 * before the free, and its alignment is checked; the checks cost a handful
 * of instructions, the same for every allocator.
 */
#include "bench.h"

#include <stdlib.h>

#define S_SIZE	32
#define S_BATCH	100

static inline void s_mark(void *p, uint64_t i)
{
	uint64_t v = (uint64_t)(uintptr_t)p ^ (i * 0x9E3779B97F4A7C15ull);

	memcpy(p, &v, 8);
	memcpy((char *)p + S_SIZE - 8, &v, 8);
}

static inline void s_check(void *p, uint64_t i)
{
	uint64_t v = (uint64_t)(uintptr_t)p ^ (i * 0x9E3779B97F4A7C15ull), a, b;

	memcpy(&a, p, 8);
	memcpy(&b, (char *)p + S_SIZE - 8, 8);
	if (a != v || b != v)
		bench_fail("small: block %p (op %llu) corrupted", p, (unsigned long long)i);
}

int w_small_loop(const struct bench_opts *o)
{
	long n = bench_scaled(o, 80000000, 1000);
	double t0, t1;

	t0 = now_s();
	for (long i = 0; i < n; i++) {
		void *p = malloc(S_SIZE);

		if (__builtin_expect(!p || ((uintptr_t)p & 15), 0))
			check_new(p, S_SIZE, "malloc");
		s_mark(p, (uint64_t)i);
		escape(p);
		s_check(p, (uint64_t)i);
		free(p);
	}
	t1 = now_s();
	/* one op = one malloc + one free */
	bench_report(1, (double)n, t1 - t0, NULL);
	return 0;
}

int w_small_batch(const struct bench_opts *o)
{
	long rounds = bench_scaled(o, 600000, 10);
	void *b[S_BATCH];
	double t0, t1;

	t0 = now_s();
	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < S_BATCH; k++) {
			void *p = malloc(S_SIZE);

			if (__builtin_expect(!p || ((uintptr_t)p & 15), 0))
				check_new(p, S_SIZE, "malloc");
			s_mark(p, (uint64_t)k);
			b[k] = p;
		}
		escape(b);
		for (int k = 0; k < S_BATCH; k++) {
			s_check(b[k], (uint64_t)k);
			free(b[k]);
		}
	}
	t1 = now_s();
	bench_report(1, (double)rounds * S_BATCH, t1 - t0, NULL);
	return 0;
}
