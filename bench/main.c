/*
 * kbench: allocator benchmark workloads modelled on the standard allocator
 * benchmarks (larson, xmalloc-test, cache-scratch, mstress, alloc-test, ...).
 * Runs one workload and prints one machine-readable "result" line; exits
 * non-zero when any verification fails.  The driver (bench/run.py) runs it
 * unchanged under each allocator through LD_PRELOAD.
 *
 *   kbench WORKLOAD [-s SCALE] [-t THREADS] [-m MIB] [-r SEED] [-T SECONDS]
 *   kbench list
 *
 * larson-4t, larson-8t, xmalloc-4t and xmalloc-8t are larson and xmalloc
 * with more threads than the 2-core machine has cores: the same ops, the
 * same total number of them (each thread does 2/T of the 2-thread
 * workload's per-thread work), ops/s counted over all threads.  -t does not
 * apply to them.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct workload bench_workloads[] = {
	{ "larson", "server churn, objects handed between threads (cross-thread frees)", w_larson, 0 },
	{ "larson-4t", "larson with 4 threads, the same total work", w_larson, 4 },
	{ "larson-8t", "larson with 8 threads, the same total work", w_larson, 8 },
	{ "xmalloc", "producer/consumer: one thread allocates, another frees, bounded queue", w_xmalloc, 0 },
	{ "xmalloc-4t", "xmalloc with 2 producer/consumer pairs, the same total work", w_xmalloc, 4 },
	{ "xmalloc-8t", "xmalloc with 4 producer/consumer pairs, the same total work", w_xmalloc, 8 },
	{ "cache-scratch", "false sharing: threads write small objects of their own repeatedly", w_cache_scratch, 0 },
	{ "mstress", "mixed sizes, calloc/posix_memalign/realloc, migration, full integrity checks", w_mstress, 0 },
	{ "alloc-test", "random sizes 8..1024 held in a random working set", w_alloc_test, 0 },
	{ "small-loop", "malloc(32)/free in a tight loop", w_small_loop, 0 },
	{ "small-batch", "100 x malloc(32), then 100 x free, repeatedly", w_small_batch, 0 },
	{ "large", "sizes 64 KiB..8 MiB in a small working set, every page touched", w_large, 0 },
	{ "realloc", "realloc growing buffers by 1.5x up to 8 MiB, content checked", w_realloc, 0 },
	{ "frag", "64 B objects, free 90% at random, then 256 B objects; RSS", w_frag, 0 },
	{ NULL, NULL, NULL, 0 },
};

static void usage(void)
{
	fprintf(stderr, "usage: kbench WORKLOAD [-s SCALE] [-t THREADS] [-m MIB] [-r SEED] [-T SECONDS]\n"
			"       kbench list\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .scale = 1.0, .threads = 0, .size_mib = 0, .seed = 42,
				  .max_seconds = 0 };
	const struct workload *w;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "list")) {
		for (w = bench_workloads; w->name; w++)
			printf("%-14s %s\n", w->name, w->what);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc || argv[i][0] != '-' || argv[i][2])
			usage();
		char *v = argv[++i], *end = v;

		switch (argv[i - 1][1]) {
		case 's': o.scale = strtod(v, &end); break;
		case 't': o.threads = (int)strtol(v, &end, 10); break;
		case 'm': o.size_mib = strtol(v, &end, 10); break;
		case 'r': o.seed = strtoull(v, &end, 10); break;
		case 'T': o.max_seconds = strtod(v, &end); break;
		default: usage();
		}
		if (*end || o.scale <= 0 || o.threads < 0 || o.threads > 256 || o.size_mib < 0 ||
		    o.max_seconds < 0)
			usage();
	}
	for (w = bench_workloads; w->name; w++)
		if (!strcmp(w->name, argv[1])) {
			bench_current = w->name;
			if (w->threads) {
				/* A thread-count variant: its thread count is its name,
				 * and the work per thread shrinks so that the total
				 * stays that of the 2-thread default. */
				if (o.threads) {
					fprintf(stderr, "kbench: %s has a fixed thread count; -t does not apply\n",
						w->name);
					return 2;
				}
				o.threads = w->threads;
				o.scale *= 2.0 / w->threads;
			}
			return w->run(&o);
		}
	fprintf(stderr, "kbench: unknown workload '%s' (try: kbench list)\n", argv[1]);
	return 2;
}
