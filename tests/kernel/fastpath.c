/*
 * The kernel's figure of `make fastpath`: instructions per kmalloc(32) +
 * kfree pair on the cached path, in the loops of bench/fastpath.c (a live
 * neighbour or sixteen, the pair, a compiler barrier between), and the same
 * for a kmem_cache_alloc + kmem_cache_free pair of a 32-byte object cache.
 *
 * Under QEMU with -icount shift=0 (tests/perf/kfastpath.sh) every guest
 * instruction advances the virtual clock by one, and the TSC the kernel
 * reads is that clock: (TSC(2N) - TSC(N)) / N of the pair loop minus the
 * same of the empty loop is the instructions of one pair, with the calls
 * (and nothing of the loop) included, as the host's callgrind figure.
 * Without -icount the same numbers are TSC cycles of TCG: printed, never
 * checked.  What the test checks holds always: the pairs stay on the fast
 * paths (no free that takes a lock, queues or is sent to another CPU while
 * they run; a slow allocation only when the allocation cache ran dry, and
 * it then takes a word of at least mspan_cache_min = 16 free objects, or
 * the span's free bits themselves, which the frees refill).
 */
#include "kernel/selftest.h"

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "kernel/kernel.h"

#define FP_SIZE 32
#define FP_LIVE 16
#define FP_N    20000

__attribute__((noinline)) void kt_fp_pairs(long n);
__attribute__((noinline)) void kt_fp_cache_pairs(long n);
__attribute__((noinline)) void kt_fp_empty(long n);

static struct kmem_cache *fp_cache;

__attribute__((noinline)) void kt_fp_pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = kmalloc(FP_SIZE);

		__asm__ volatile("" : "+r"(p) : : "memory");
		kfree(p);
	}
}

__attribute__((noinline)) void kt_fp_cache_pairs(long n)
{
	struct kmem_cache *c = fp_cache;
	for (long i = 0; i < n; i++) {
		void *p = kmem_cache_alloc(c);

		__asm__ volatile("" : "+r"(p) : : "memory");
		kmem_cache_free(c, p);
	}
}

__attribute__((noinline)) void kt_fp_empty(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = (void *)i;

		__asm__ volatile("" : "+r"(p) : : "memory");
	}
}

static uint64_t timed(void (*fn)(long), long n)
{
	uint64_t t0 = rdtsc();
	fn(n);
	return rdtsc() - t0;
}

/* Frees that left the fast path, and allocations that did, the latter
 * in units of one part in CACHE_MIN: a word loaded into the allocation
 * cache serves CACHE_MIN - 1 pairs or more (the pair in flight and the
 * live neighbours may take one of its objects). */
#define CACHE_MIN 16
static uint64_t slow_count(unsigned cpu)
{
	struct kspan_cpu_stats c;
	kspan_cpu_stats(cpu, &c);
	return (c.locked_frees + c.queued_frees + c.remote_frees) * 2 * FP_N +
	       c.slow_allocs;
}

/* No slow free, and no more slow allocations than the cache allows, in n
 * pairs. */
static bool on_fast_paths(uint64_t slow, long n)
{
	return slow <= (uint64_t)n / (CACHE_MIN - 2) + 1;
}

KS_SELFTEST("fastpath: kmalloc(32)+kfree and kmem_cache pairs stay on the fast paths (instructions per pair under -icount)")
{
	static void *live[FP_LIVE];
	uint64_t irq = read_rflags();   /* no timer tick in the loops */
	cpu_cli();
	for (int i = 0; i < 10000; i++) {
		void *p = kmalloc(FP_SIZE);
		KT_ASSERT(p != NULL);
		__builtin_memset(p, 0x5a, FP_SIZE);
		kfree(p);
	}
	for (int i = 0; i < FP_LIVE; i++)
		KT_ASSERT((live[i] = kmalloc(FP_SIZE)) != NULL);
	unsigned cpu = ks_cpu_index();
	uint64_t slow0 = slow_count(cpu);
	uint64_t p1 = timed(kt_fp_pairs, FP_N), p2 = timed(kt_fp_pairs, 2 * FP_N);
	uint64_t e1 = timed(kt_fp_empty, FP_N), e2 = timed(kt_fp_empty, 2 * FP_N);
	uint64_t slow1 = slow_count(cpu);
	/* The same pair through an object cache of FP_SIZE-byte objects. */
	fp_cache = kmem_cache_create("fastpath", FP_SIZE, 0, 0, NULL);
	KT_ASSERT(fp_cache != NULL);
	void *clive[FP_LIVE];
	for (int i = 0; i < FP_LIVE; i++)
		KT_ASSERT((clive[i] = kmem_cache_alloc(fp_cache)) != NULL);
	kt_fp_cache_pairs(10000);
	uint64_t slow2 = slow_count(cpu);
	uint64_t c1 = timed(kt_fp_cache_pairs, FP_N), c2 = timed(kt_fp_cache_pairs, 2 * FP_N);
	uint64_t slow3 = slow_count(cpu);
	write_rflags(irq);
	for (int i = 0; i < FP_LIVE; i++) {
		kfree(live[i]);
		kmem_cache_free(fp_cache, clive[i]);
	}
	int64_t dc = (int64_t)(c2 - c1) - (int64_t)(e2 - e1);
	kprintf("fastpath: kmem_cache_alloc+kmem_cache_free (%d-byte cache): %lld.%02lld per pair "
	        "(TSC ticks, the same loop subtracted)\n", FP_SIZE,
	        (long long)(dc / FP_N), (long long)(dc % FP_N * 100 / FP_N));
	KT_EXPECT(on_fast_paths(slow3 - slow2, 3 * FP_N));
	kspan_drain_cpu();
	kmem_cache_destroy(fp_cache);
	int64_t d = (int64_t)(p2 - p1) - (int64_t)(e2 - e1);
	int64_t loop = (int64_t)(e2 - e1);
	kprintf("fastpath: kmalloc(%d)+kfree: %lld.%02lld per pair, loop %lld.%02lld "
	        "(TSC ticks: instructions under -icount shift=0)\n", FP_SIZE,
	        (long long)(d / FP_N), (long long)(d % FP_N * 100 / FP_N),
	        (long long)(loop / FP_N), (long long)(loop % FP_N * 100 / FP_N));
	KT_EXPECT(on_fast_paths(slow1 - slow0, 3 * FP_N));
}
