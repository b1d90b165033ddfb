/*
 * SMP scaling benchmark, printed by `make run` (the runner passes fw_cfg
 * opt/kspan/bench=1); measured, never asserted.
 *
 *   1. Throughput: small-object kmalloc+kfree pairs (16..512 bytes, the
 *      object touched once) on 1, 2, 4, 8, 16, ... CPUs at once (the
 *      powers of two that are online, and all CPUs if that is not one),
 *      the others idle in hlt.  1.6*10^6 pairs in all per row, shared out.
 *      The active CPUs meet at a start barrier, each times its own run
 *      with the TSC (synchronised across CPUs); per CPU its pairs per
 *      second, and in total all pairs over the wall time from the first
 *      start to the last end (not the sum of the per-CPU rates, which
 *      overstates when the CPUs take turns on the host's cores), with the
 *      speedup over one CPU.
 *   2. Fast-path share: every active CPU (up to 4) keeps a working set and
 *      does random alloc/free on it (a slot picked at random is freed if
 *      full, filled if empty, so about half hold an object): a warm-up,
 *      then 10^6 measured operations.  Two working sets: 256 slots of
 *      8..256 bytes (each size class fits in the one span the CPU owns)
 *      and 1024 slots of 8..512 bytes (the larger classes need several
 *      spans).  From the per-CPU counters, which count only the slow
 *      paths: allocations that did not miss the fast path / all small
 *      allocations, and frees that never reached a lock (into a span the
 *      CPU owns, queued on it, or sent to another CPU) / all small frees.
 *
 * Under QEMU's TCG the vCPUs are host threads sharing the host's cores (and
 * whatever else runs there), so more vCPUs than host cores cannot scale;
 * the table says what this machine did, nothing more.
 *
 * Runs from CPU 0 after the self-tests, through ks_run_on_cpus; per-CPU
 * results in an array indexed by CPU, written only by that CPU.
 */

#include <kspan/kmalloc.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "kernel/kernel.h"
#include "kernel/heap.h"
#include "kernel/selftest.h"
#include "tests/kernel/smp_run.h"
#include "lib/fmt.h"
#include "tests/common/pattern.h"

#define PAIRS      1600000ull     /* per row, in all */
#define WS_MAX     1024
#define WARMUP     200000ull
#define STEADY     1000000ull
#define STALL_US   (60ull * 1000000)

struct bench_cpu {
	unsigned cpu;
	unsigned active;               /* CPUs in this run (barrier size) */
	uint64_t pairs;                /* pairs_fn: pairs; steady_fn: slots */
	uint64_t maxsize;              /* steady_fn: largest request */
	uint64_t cycles;
	uint64_t t0, t1;               /* TSC at start and end (pairs_fn) */
	uint64_t fa, sa, ff, sf;       /* cache counter deltas (steady) */
	uint64_t failures;
} __attribute__((aligned(64)));

static struct bench_cpu bc[KSPAN_MAX_CPUS];
static uint32_t gate;

static void barrier(unsigned n)
{
	ks_run_barrier(&gate, n);
}

static void pairs_fn(void *arg)
{
	struct bench_cpu *b = arg;
	static const uint16_t sizes[8] = { 16, 32, 48, 64, 96, 128, 256, 512 };
	barrier(b->active);
	uint64_t t0 = rdtsc();
	b->t0 = t0;
	for (uint64_t i = 0; i < b->pairs; i++) {
		char *p = kmalloc(sizes[i & 7]);
		if (!p) {
			b->failures++;
			break;
		}
		*(volatile char *)p = (char)i;
		kfree(p);
		if ((i & 4095) == 0)
			ks_run_tick();
	}
	b->t1 = rdtsc();
	b->cycles = b->t1 - t0;
}

static void steady_fn(void *arg)
{
	struct bench_cpu *b = arg;
	void *slot[WS_MAX] = { 0 };
	unsigned ws = (unsigned)b->pairs;
	uint64_t rng = ks_selftest_rng(0x5eed0000ull + b->cpu);
	struct kspan_cpu_stats c;
	uint64_t sa = 0, sf = 0, nalloc = 0, nfree = 0;
	barrier(b->active);
	uint64_t t0 = 0;
	for (uint64_t op = 0; op < WARMUP + STEADY; op++) {
		if (op == WARMUP) {
			kspan_cpu_stats(b->cpu, &c);
			sa = c.slow_allocs;
			sf = c.locked_frees;
			nalloc = nfree = 0;
			t0 = rdtsc();
		}
		uint64_t r = ks_rand(&rng);
		unsigned i = (unsigned)(r % ws);
		if (slot[i]) {
			kfree(slot[i]);
			slot[i] = NULL;
			nfree++;
		} else {
			nalloc++;
			slot[i] = kmalloc(8 + (r >> 32) % (b->maxsize - 7));
			if (!slot[i])
				b->failures++;
		}
		if ((op & 4095) == 0)
			ks_run_tick();
	}
	b->cycles = rdtsc() - t0;
	/* The fast paths count nothing: fast = all - slow. */
	kspan_cpu_stats(b->cpu, &c);
	b->sa = c.slow_allocs - sa;
	b->sf = c.locked_frees - sf;
	b->fa = nalloc - b->sa;
	b->ff = nfree - b->sf;
	for (unsigned i = 0; i < ws; i++)
		kfree(slot[i]);
}


/* x.yyy of v / 10^6 */
static void mstr(char *buf, size_t cap, uint64_t v)
{
	ks_snprintf(buf, cap, "%llu.%03llu", (unsigned long long)(v / 1000000),
	            (unsigned long long)(v / 1000 % 1000));
}

static void pct(char *buf, size_t cap, uint64_t part, uint64_t all)
{
	uint64_t x = all ? part * 10000 / all : 0;
	ks_snprintf(buf, cap, "%llu.%02llu%%", (unsigned long long)(x / 100),
	            (unsigned long long)(x % 100));
}

static int run(unsigned k, void (*fn)(void *), uint64_t pairs,
               uint64_t maxsize)
{
	for (unsigned i = 0; i < k; i++) {
		__builtin_memset(&bc[i], 0, sizeof(bc[i]));
		bc[i].cpu = i;
		bc[i].active = k;
		bc[i].pairs = pairs;
		bc[i].maxsize = maxsize;
	}
	__atomic_store_n(&gate, 0, __ATOMIC_RELEASE);
	int rc = ks_run_on_cpus(k, fn, bc, sizeof(bc[0]), STALL_US);
	for (unsigned i = 0; i < k; i++)
		if (bc[i].failures)
			rc = -1;
	return rc;
}

static void steady(unsigned k, unsigned ws, unsigned maxsize, uint64_t hz)
{
	ks_kernel_heap_drain_all();
	kprintf("bench: steady state: %u CPU(s), each with %u slots of which about "
	        "half hold an object (8..%u B), random alloc/free, %llu ops each "
	        "after %llu warm-up\n", k, ws, maxsize,
	        (unsigned long long)STEADY, (unsigned long long)WARMUP);
	if (run(k, steady_fn, ws, maxsize) != 0) {
		kprintf("bench: steady state: run failed\n");
		return;
	}
	uint64_t FA = 0, SA = 0, FF = 0, SF = 0;
	kprintf("bench:   cpu | Mops/s | allocs from the cache | frees into the "
	        "cache   (no lock, no atomic)\n");
	for (unsigned i = 0; i < k; i++) {
		const struct bench_cpu *b = &bc[i];
		char r[24], a[16], f[16];
		mstr(r, sizeof(r), b->cycles ? STEADY * hz / b->cycles : 0);
		pct(a, sizeof(a), b->fa, b->fa + b->sa);
		pct(f, sizeof(f), b->ff, b->ff + b->sf);
		kprintf("bench: %5u | %6s | %21s | %15s\n", i, r, a, f);
		FA += b->fa;
		SA += b->sa;
		FF += b->ff;
		SF += b->sf;
	}
	char a[16], f[16];
	pct(a, sizeof(a), FA, FA + SA);
	pct(f, sizeof(f), FF, FF + SF);
	kprintf("bench:   all |        | %21s | %15s   (%llu of %llu allocs, "
	        "%llu of %llu frees)\n", a, f, (unsigned long long)FA,
	        (unsigned long long)(FA + SA), (unsigned long long)FF,
	        (unsigned long long)(FF + SF));
	ks_kernel_heap_drain_all();
}

void ks_bench_smp(void)
{
	unsigned n = ks_smp_ncpus();
	uint64_t hz = ks_tsc_hz();
	unsigned ks[16], nk = 0;
	for (unsigned k = 1; k <= n && nk < 15; k <<= 1)
		ks[nk++] = k;
	if (ks[nk - 1] != n)
		ks[nk++] = n;

	kprintf("bench: small-object kmalloc+kfree pairs (16..512 B), %llu per "
	        "row shared out, TSC %llu MHz; %u CPUs online, idle ones in hlt\n",
	        (unsigned long long)PAIRS, (unsigned long long)(hz / 1000000), n);
	kprintf("bench:  cpus | Mpairs/s per CPU                      | total "
	        "Mpairs/s | speedup\n");
	uint64_t base = 0;
	for (unsigned t = 0; t < nk; t++) {
		unsigned k = ks[t];
		ks_kernel_heap_drain_all();
		if (run(k, pairs_fn, PAIRS / k, 0) != 0) {
			kprintf("bench: %u CPUs: run failed\n", k);
			continue;
		}
		char line[200], num[24];
		int at = 0;
		uint64_t first = ~0ull, last = 0, pairs = 0;
		for (unsigned i = 0; i < k; i++) {
			uint64_t rate = bc[i].cycles ? bc[i].pairs * hz / bc[i].cycles : 0;
			pairs += bc[i].pairs;
			if (bc[i].t0 < first)
				first = bc[i].t0;
			if (bc[i].t1 > last)
				last = bc[i].t1;
			if (i < 8) {
				mstr(num, sizeof(num), rate);
				at += ks_snprintf(line + at, sizeof(line) - (size_t)at,
				                  "%s ", num);
			}
		}
		if (k > 8)
			at += ks_snprintf(line + at, sizeof(line) - (size_t)at, "... ");
		line[at] = 0;
		uint64_t total = last > first ? pairs * hz / (last - first) : 0;
		if (k == 1)
			base = total;
		char tot[24];
		mstr(tot, sizeof(tot), total);
		uint64_t sp = base ? total * 100 / base : 0;
		kprintf("bench: %5u | %-37s | %14s | %llu.%02llu\n", k, line, tot,
		        (unsigned long long)(sp / 100), (unsigned long long)(sp % 100));
	}

	static const struct { unsigned ws, maxsize; } sets[2] = {
		{ 256, 256 }, { 1024, 512 } };
	for (unsigned t = 0; t < 2; t++)
		steady(n < 4 ? n : 4, sets[t].ws, sets[t].maxsize, hz);
}
