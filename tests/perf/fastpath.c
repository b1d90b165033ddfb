/*
 * Fast-path cost of kmalloc + kfree, for callgrind (scripts/fastpath.sh).
 *
 * Usage: fastpath N SIZE [BATCH [bulk|empty|cache]]
 * Warms the per-CPU cache, then runs N iterations of
 *   BATCH x p[i] = kmalloc(SIZE); then BATCH x kfree(p[i])
 * (BATCH 1: the tight alloc/free pair), or with "bulk"
 *   kmalloc_bulk(SIZE, BATCH, p); kfree_bulk(BATCH, p)
 * or with "cache" the first form with kmem_cache_alloc(c) and
 * kmem_cache_free(c, p[i]) of a cache of SIZE-byte objects
 * Every allocation of the first form is touched so nothing is optimised
 * away (the bulk calls are opaque); "empty" runs the first form's loop with
 * a static buffer for kmalloc and nothing for kfree.  Run each with N and
 * 2N under callgrind (scripts/fastpath.sh): the difference in instructions
 * divided by N*BATCH, less the empty loop's, is the cost of one pair (one
 * object) on the cached path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <kspan/kmalloc.h>
#include <kspan/slab.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s N SIZE [BATCH]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]);
	size_t size = (size_t)atol(argv[2]);
	int batch = argc > 3 ? atoi(argv[3]) : 1;
	int bulk = argc > 4 && argv[4][0] == 'b';
	int empty = argc > 4 && argv[4][0] == 'e';
	int cache = argc > 4 && argv[4][0] == 'c';
	static char fake[1024][8];
	if (batch < 1 || batch > 1024)
		return 2;
	struct kspan_config cfg = { .arena_bytes = (size_t)1 << 30 };
	if (kspan_init(&cfg) != 0)
		return 1;
	void *p[1024];
	struct kmem_cache *c = cache ? kmem_cache_create("fastpath", size, 0, 0, NULL) : NULL;
	if (cache && !c)
		return 1;
	/* Warm up: the span for the class is cached, words loaded. */
	for (int w = 0; w < 4; w++) {
		for (int i = 0; i < batch; i++)
			p[i] = c ? kmem_cache_alloc(c) : kmalloc(size);
		for (int i = 0; i < batch; i++)
			c ? kmem_cache_free(c, p[i]) : kfree(p[i]);
	}
	unsigned long sum = 0;
	for (long k = 0; bulk && k < n; k++) {
		if (kmalloc_bulk(size, (size_t)batch, p) != (size_t)batch)
			return 1;
		sum += (unsigned long)(*(volatile char *)p[0]);
		kfree_bulk((size_t)batch, p);
	}
	for (long k = 0; empty && k < n; k++) {
		for (int i = 0; i < batch; i++) {
			p[i] = fake[i];
			__asm__ volatile("" : "+r"(p[i]));
			*(volatile char *)p[i] = 1;
		}
		for (int i = 0; i < batch; i++) {
			sum += (unsigned long)(*(volatile char *)p[i]);
			__asm__ volatile("" : : "r"(p[i]) : "memory");
		}
	}
	for (long k = 0; c && k < n; k++) {
		for (int i = 0; i < batch; i++) {
			p[i] = kmem_cache_alloc(c);
			*(volatile char *)p[i] = 1;
		}
		for (int i = 0; i < batch; i++) {
			sum += (unsigned long)(*(volatile char *)p[i]);
			kmem_cache_free(c, p[i]);
		}
	}
	for (long k = 0; !bulk && !empty && !c && k < n; k++) {
		for (int i = 0; i < batch; i++) {
			p[i] = kmalloc(size);
			*(volatile char *)p[i] = 1;
		}
		for (int i = 0; i < batch; i++) {
			sum += (unsigned long)(*(volatile char *)p[i]);
			kfree(p[i]);
		}
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	printf("pairs %ld sum %lu slow_allocs %lu locked_frees %lu queued_frees %lu\n",
	       n * batch, sum, (unsigned long)hs.slow_allocs,
	       (unsigned long)hs.locked_frees, (unsigned long)hs.queued_frees);
	return 0;
}
