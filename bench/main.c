/*
 * kbench: allocator benchmark workloads modelled on the standard allocator
 * benchmarks (larson, xmalloc-test, cache-scratch, mstress, alloc-test, ...).
 * Runs one workload and prints one machine-readable "result" line; exits
 * non-zero when any verification fails.  The driver (bench/run.py) runs it
 * unchanged under each allocator through LD_PRELOAD.
 *
 *   kbench WORKLOAD [-s SCALE] [-t THREADS] [-m MIB] [-r SEED] [-T SECONDS]
 *   kbench list
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct workload bench_workloads[] = {
	{ "larson", "server churn, objects handed between threads (cross-thread frees)", w_larson },
	{ "xmalloc", "producer/consumer: one thread allocates, another frees, bounded queue", w_xmalloc },
	{ "cache-scratch", "false sharing: threads write small objects of their own repeatedly", w_cache_scratch },
	{ "mstress", "mixed sizes, calloc/posix_memalign/realloc, migration, full integrity checks", w_mstress },
	{ "alloc-test", "random sizes 8..1024 held in a random working set", w_alloc_test },
	{ "small-loop", "malloc(32)/free in a tight loop", w_small_loop },
	{ "small-batch", "100 x malloc(32), then 100 x free, repeatedly", w_small_batch },
	{ "large", "sizes 64 KiB..8 MiB in a small working set, every page touched", w_large },
	{ "realloc", "realloc growing buffers by 1.5x up to 8 MiB, content checked", w_realloc },
	{ "frag", "64 B objects, free 90% at random, then 256 B objects; RSS", w_frag },
	{ NULL, NULL, NULL },
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
			return w->run(&o);
		}
	fprintf(stderr, "kbench: unknown workload '%s' (try: kbench list)\n", argv[1]);
	return 2;
}
