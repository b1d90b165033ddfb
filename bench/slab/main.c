/*
 * slab: the object-cache workload of make bench (kspan only: the API is
 * kspan's, include/kspan/slab.h).  A kernel's memory is mostly many
 * objects of a few exact sizes (tasks, inodes, dentries, VMAs, buffer
 * heads, files); this keeps a population of them live, churns it, and
 * measures the same work twice, once with one kmem_cache per type and once
 * with kmalloc of the same sizes:
 *
 *   memory   heap pages in use with the population live (the rounding to
 *            size classes that caches save), per type and in all
 *   churn    random frees and allocations over the live population, ops/s
 *   pair     alloc + free of one object (the per-CPU fast path), ns/pair
 *
 * Usage: slab [SCALE]   (1: 200000 live objects; the smoke run uses 0.01)
 * Prints a table, then one line "slab-json {...}" for bench/run.py.
 * Linked with lib/ + phys/ + mm/ + the host platform (mk/bench.mk), built
 * -O2 without assertions, as the library a kernel links.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>

struct type {
	const char *name;
	size_t size;
	unsigned share;          /* of the live population, per mille */
};

/* Sizes of the x86-64 Linux structures of these names, roughly. */
static const struct type types[] = {
	{ "task_struct",   2752,  20 },
	{ "inode",          616, 200 },
	{ "dentry",         216, 300 },
	{ "vm_area",        184, 250 },
	{ "buffer_head",    104, 180 },
	{ "file",           232,  50 },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t pages_in_use(void)
{
	struct kspan_heap_stats hs;
	kspan_drain_cpu();
	kspan_heap_stats(&hs);
	return hs.pages_total - hs.pages_free;
}

static struct kmem_cache *cache[NTYPES];

static void *obj_alloc(int use_cache, unsigned t)
{
	void *p = use_cache ? kmem_cache_alloc(cache[t]) : kmalloc(types[t].size);
	if (!p) {
		fprintf(stderr, "slab: out of memory\n");
		exit(1);
	}
	*(volatile uint64_t *)p = t;
	return p;
}

static void obj_free(int use_cache, unsigned t, void *p)
{
	if (*(volatile uint64_t *)p != t) {
		fprintf(stderr, "slab: object %p corrupted\n", p);
		exit(1);
	}
	if (use_cache)
		kmem_cache_free(cache[t], p);
	else
		kfree(p);
}

struct result {
	uint64_t pages[NTYPES];  /* with only that type live */
	uint64_t pages_all;
	double churn_ops;        /* ops/s */
	double pair_ns;          /* ns per alloc+free */
};

static void run(int use_cache, size_t live, long churn, long pairs, struct result *r)
{
	void **objs = calloc(live, sizeof(void *));
	unsigned *type = calloc(live, sizeof(unsigned));
	if (!objs || !type)
		exit(1);
	/* Memory per type, alone. */
	for (unsigned t = 0; t < NTYPES; t++) {
		size_t n = live * types[t].share / 1000;
		uint64_t base = pages_in_use();
		for (size_t i = 0; i < n; i++)
			objs[i] = obj_alloc(use_cache, t);
		r->pages[t] = pages_in_use() - base;
		for (size_t i = 0; i < n; i++)
			obj_free(use_cache, t, objs[i]);
		if (use_cache)
			kmem_cache_shrink(cache[t]);
	}
	/* The mixed population, then churn over it. */
	uint64_t base = pages_in_use();
	size_t n = 0;
	for (unsigned t = 0; t < NTYPES; t++)
		for (size_t i = 0; i < live * types[t].share / 1000; i++) {
			type[n] = t;
			objs[n++] = obj_alloc(use_cache, t);
		}
	r->pages_all = pages_in_use() - base;
	double t0 = now_s();
	for (long k = 0; k < churn; k++) {
		size_t i = rnd() % n;
		obj_free(use_cache, type[i], objs[i]);
		objs[i] = obj_alloc(use_cache, type[i]);
	}
	r->churn_ops = (double)churn / (now_s() - t0);
	for (size_t i = 0; i < n; i++)
		obj_free(use_cache, type[i], objs[i]);
	/* The pair on the per-CPU fast path (inode-sized). */
	t0 = now_s();
	for (long k = 0; k < pairs; k++) {
		void *p = use_cache ? kmem_cache_alloc(cache[1]) : kmalloc(types[1].size);
		__asm__ volatile("" : "+r"(p) : : "memory");
		if (use_cache)
			kmem_cache_free(cache[1], p);
		else
			kfree(p);
	}
	r->pair_ns = (now_s() - t0) * 1e9 / (double)pairs;
	free(objs);
	free(type);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	if (scale <= 0)
		scale = 1;
	size_t live = (size_t)(200000 * scale);
	long churn = (long)(4000000 * scale), pairs = (long)(20000000 * scale);
	if (live < 1000)
		live = 1000;
	struct kspan_config cfg = { .arena_bytes = (size_t)4 << 30, .seed = 42 };
	if (kspan_init(&cfg) != 0)
		return 1;
	for (unsigned t = 0; t < NTYPES; t++)
		if (!(cache[t] = kmem_cache_create(types[t].name, types[t].size, 8, 0, NULL)))
			return 1;
	struct result rk = { 0 }, rc = { 0 };
	run(0, live, churn, pairs, &rk);
	run(1, live, churn, pairs, &rc);

	printf("object caches vs kmalloc of the same sizes, %zu live objects\n", live);
	printf("  %-12s %6s %9s %10s %10s %7s\n", "type", "size", "live", "kmalloc KiB",
	       "cache KiB", "saved");
	for (unsigned t = 0; t < NTYPES; t++) {
		uint64_t a = rk.pages[t] * KSPAN_PAGE_SIZE / 1024, b = rc.pages[t] * KSPAN_PAGE_SIZE / 1024;
		printf("  %-12s %6zu %9zu %10llu %10llu %6.1f%%\n", types[t].name, types[t].size,
		       live * types[t].share / 1000, (unsigned long long)a,
		       (unsigned long long)b, a ? 100.0 * ((double)a - (double)b) / (double)a : 0.0);
	}
	uint64_t a = rk.pages_all * KSPAN_PAGE_SIZE / 1024, b = rc.pages_all * KSPAN_PAGE_SIZE / 1024;
	printf("  %-12s %6s %9zu %10llu %10llu %6.1f%%\n", "all", "", live,
	       (unsigned long long)a, (unsigned long long)b,
	       a ? 100.0 * ((double)a - (double)b) / (double)a : 0.0);
	printf("  churn: kmalloc %.3g ops/s, caches %.3g ops/s; pair (inode): kmalloc "
	       "%.1f ns, kmem_cache %.1f ns\n", rk.churn_ops, rc.churn_ops, rk.pair_ns,
	       rc.pair_ns);
	printf("slab-json {\"live\": %zu, \"kmalloc_kib\": %llu, \"cache_kib\": %llu, "
	       "\"churn_kmalloc\": %.0f, \"churn_cache\": %.0f, \"pair_ns_kmalloc\": %.2f, "
	       "\"pair_ns_cache\": %.2f}\n", live, (unsigned long long)a,
	       (unsigned long long)b, rk.churn_ops, rc.churn_ops, rk.pair_ns, rc.pair_ns);
	for (unsigned t = 0; t < NTYPES; t++)
		kmem_cache_destroy(cache[t]);
	return 0;
}
