/*
 * frag: fragmentation and memory return, single-threaded.
 *
 *   1. allocate S bytes of 64-byte objects (S = -m MiB, default 256),
 *   2. free 90% of them, chosen at random,
 *   3. allocate S bytes of 256-byte objects,
 *   4. free everything.
 *
 * The 10% survivors pin pages of 64-byte objects, so an allocator that keeps
 * size classes on separate pages can reuse little of the freed memory for
 * the 256-byte objects.  Reports the RSS after each phase and its peak, and
 * rss_end after everything is freed: what the allocator kept.  Every object
 * is filled with its address/size pattern and checked before its free.  The
 * pointer arrays are mmap'd, outside the allocator; they are unmapped
 * before rss_end is read.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#define F_SMALL		64
#define F_BIG		256

int w_frag(const struct bench_opts *o)
{
	long mib = o->size_mib ? o->size_mib : 256;
	size_t total = (size_t)mib << 20;
	size_t n1 = total / F_SMALL, n3 = total / F_BIG, kept = 0;
	void **small = bench_map(n1 * sizeof(void *));
	void **big = bench_map(n3 * sizeof(void *));
	long rss_small, rss_freed, rss_mixed;
	char extra[256];
	struct rng r;
	double t0, t1;

	rng_seed(&r, o->seed, 0);
	t0 = now_s();
	for (size_t i = 0; i < n1; i++) {
		void *p = check_new(malloc(F_SMALL), F_SMALL, "malloc");

		fill_full(p, F_SMALL, pat_seed(p, F_SMALL));
		small[i] = p;
	}
	rss_small = rss_now_kib();
	for (size_t i = 0; i < n1; i++) {
		if (rng_below(&r, 10) == 0) {
			kept++;
			continue;
		}
		verify_full(small[i], F_SMALL, pat_seed(small[i], F_SMALL), "frag free 90%");
		free(small[i]);
		small[i] = NULL;
	}
	rss_freed = rss_now_kib();
	for (size_t i = 0; i < n3; i++) {
		void *p = check_new(malloc(F_BIG), F_BIG, "malloc");

		fill_full(p, F_BIG, pat_seed(p, F_BIG));
		big[i] = p;
	}
	rss_mixed = rss_now_kib();
	for (size_t i = 0; i < n1; i++)
		if (small[i]) {
			verify_full(small[i], F_SMALL, pat_seed(small[i], F_SMALL), "frag final free");
			free(small[i]);
		}
	for (size_t i = 0; i < n3; i++) {
		verify_full(big[i], F_BIG, pat_seed(big[i], F_BIG), "frag final free");
		free(big[i]);
	}
	t1 = now_s();

	bench_unmap(small, n1 * sizeof(void *));
	bench_unmap(big, n3 * sizeof(void *));
	snprintf(extra, sizeof extra,
		 "size_mib=%ld kept_small=%zu rss_small_kib=%ld rss_freed_kib=%ld rss_mixed_kib=%ld",
		 mib, kept, rss_small, rss_freed, rss_mixed);
	/* one op = one malloc or one free */
	bench_report(1, (double)(2 * n1 + 2 * n3), t1 - t0, extra);
	return 0;
}
