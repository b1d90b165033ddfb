/*
 * Instructions per collector allocation, for callgrind (bench/gc/fastpath.sh,
 * `make fastpath-gc`).
 *
 * Usage: gcb-fastpath MODE N SIZE
 *   kgc        kgc_alloc(SIZE, type): a node whose first two words are
 *              pointers (the map repeats for larger sizes)
 *   kgc-cons   kgc_alloc(SIZE, NULL): every word a pointer
 *   kgc-noscan kgc_alloc_noscan(SIZE) (under 16 bytes: the tiny allocator)
 *   kgc-gc     kgc_alloc(SIZE, type) with automatic collection on: the
 *              objects die at once, so marking, the lazy sweep and the
 *              trigger are all in the count
 *   kmalloc    kmalloc(SIZE), never freed: the same refills as the kgc
 *              modes (collection off, every object kept), for comparison
 * Warms up, then makes N allocations, touching each.  Run with N and 2N:
 * the difference divided by N is the cost of one allocation, slow paths
 * (one per word of free bits, one per span) and the loop included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kspan/gc.h>
#include <kspan/kmalloc.h>

static const uint8_t two_ptrs[8] = { 0x3 };

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s kgc|kgc-cons|kgc-noscan|kgc-gc|kmalloc N SIZE\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	size_t size = (size_t)atol(argv[3]);
	struct kgc_type type = { size < 16 ? 16 : (size > 64 ? 64 : size), two_ptrs, "node" };
	struct kspan_config cfg = { .arena_bytes = (size_t)4 << 30, .seed = 1 };
	if (kspan_init(&cfg) != 0)
		return 1;
	struct kgc_config gc = { .gc_percent = 100 };
	kgc_init(&gc);
	bool collect = !strcmp(mode, "kgc-gc");
	kgc_enable(collect);
	int m = !strcmp(mode, "kgc") || collect ? 0 : !strcmp(mode, "kgc-cons") ? 1 :
	        !strcmp(mode, "kgc-noscan") ? 2 : !strcmp(mode, "kmalloc") ? 3 : -1;
	if (m < 0)
		return 2;
	unsigned long sum = 0;
	for (long k = -1000; k < n; k++) {
		void *p = m == 0 ? kgc_alloc(size, &type) : m == 1 ? kgc_alloc(size, NULL) :
		          m == 2 ? kgc_alloc_noscan(size) : kmalloc(size);
		if (!p)
			return 1;
		*(volatile char *)p = 1;
		sum += *(volatile char *)p;
	}
	struct kgc_stats s;
	kgc_stats(&s);
	printf("allocations %ld sum %lu collections %llu\n", n, sum, (unsigned long long)s.cycles);
	return 0;
}
