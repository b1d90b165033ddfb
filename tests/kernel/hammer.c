/*
 * The SMP self-tests' heap workload (hammer.h).  Object contents are a
 * fill pattern seeded per object (tests/common/pattern.h); each CPU's
 * random stream comes from the boot's seed (ks_selftest_rng).
 */
#include "tests/kernel/hammer.h"

#include <kspan/kmalloc.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "kernel/heap.h"
#include "kernel/kernel.h"
#include "tests/kernel/smp_run.h"
#include "tests/common/pattern.h"

struct kt_hammer kt_hammer[KSPAN_MAX_CPUS];

uint64_t kt_drained_free_pages(void)
{
	ks_kernel_heap_drain_all();
	kspan_check();
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	return hs.pages_free;
}

size_t kt_rand_size(uint64_t r)
{
	unsigned kind = (unsigned)(r % 1000);
	r >>= 10;
	if (kind < 800)
		return 1 + r % 128;
	if (kind < 985)
		return 129 + r % 1920;
	if (kind < 999)
		return 2049 + r % 14336;
	return 32769 + r % 65536;
}

static int step(struct kt_hammer *h, uint64_t *rng, uint64_t op)
{
	uint64_t r = ks_rand(rng);
	struct kt_slot *s = &h->slots[r % KT_HAMMER_SLOTS];
	r >>= 9;
	if (s->p) {
		if (!check_pattern(s->p, s->n, s->seed)) {
			if (!h->bad++)
				kprintf("# cpu %u: object %p (%zu bytes) corrupted\n",
				        h->cpu, s->p, s->n);
			return -1;
		}
		kfree(s->p);
		s->p = NULL;
		h->frees++;
	} else {
		size_t n = kt_rand_size(r);
		void *p = kmalloc(n);
		if (!p) {
			h->fails++;
			return -1;
		}
		uint64_t seed = ((uint64_t)h->cpu << 48) ^ op;
		fill_pattern(p, n, seed);
		s->p = p;
		s->n = n;
		s->seed = seed;
		h->allocs++;
		h->bytes += n;
	}
	return 0;
}

static void free_all(struct kt_hammer *h)
{
	for (unsigned i = 0; i < KT_HAMMER_SLOTS; i++) {
		struct kt_slot *s = &h->slots[i];
		if (!s->p)
			continue;
		if (!check_pattern(s->p, s->n, s->seed))
			h->bad++;
		kfree(s->p);
		s->p = NULL;
		h->frees++;
	}
}

void kt_hammer_fn(void *arg)
{
	struct kt_hammer *h = arg;
	uint64_t rng = ks_selftest_rng(0x9E3779B97F4A7C15ull * (h->cpu + 1));
	uint64_t t0 = rdtsc();
	for (uint64_t op = 1; h->ops ? op <= h->ops :
	     !__atomic_load_n(&h->stop_flag, __ATOMIC_ACQUIRE); op++) {
		if (step(h, &rng, op) != 0)
			break;
		h->done++;
		__atomic_store_n(&h->progress, op, __ATOMIC_RELAXED);
		if ((op & 255) == 0)
			ks_run_tick();
	}
	free_all(h);
	h->cycles = rdtsc() - t0;
}

int kt_hammer_setup(unsigned n, uint64_t ops)
{
	for (unsigned i = 0; i < n; i++) {
		struct kt_hammer *h = &kt_hammer[i];
		__builtin_memset(h, 0, sizeof(*h));
		h->cpu = i;
		h->ops = ops;
		struct kspan_cpu_stats cs;
		kspan_cpu_stats(i, &cs);
		h->slow0 = cs.slow_allocs;
		h->fslow0 = cs.locked_frees;
		h->slots = kzalloc(KT_HAMMER_SLOTS * sizeof(struct kt_slot));
		if (!h->slots)
			return -1;
	}
	return 0;
}

void kt_hammer_teardown(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		kfree(kt_hammer[i].slots);
		kt_hammer[i].slots = NULL;
	}
}

void kt_hammer_report(struct ks_test *kt, unsigned n, const char *what)
{
	uint64_t hz = ks_tsc_hz();
	for (unsigned i = 0; i < n; i++) {
		const struct kt_hammer *h = &kt_hammer[i];
		struct kspan_cpu_stats c;
		kspan_cpu_stats(i, &c);
		uint64_t us = hz ? h->cycles * 1000000 / hz : 0;
		/* The fast paths count nothing: fast = all - slow. */
		uint64_t sa = c.slow_allocs - h->slow0, sf = c.locked_frees - h->fslow0;
		uint64_t fa = h->allocs > sa ? h->allocs - sa : 0;
		uint64_t ff = h->frees > sf ? h->frees - sf : 0;
		kprintf("# cpu %u: %llu ops%s, %llu allocs, %llu frees, %llu KiB, "
		        "%llu ms, %llu kops/s; per-CPU cache served %llu.%01llu%% of "
		        "small allocs, %llu.%01llu%% of small frees\n", i,
		        (unsigned long long)h->done, what,
		        (unsigned long long)h->allocs, (unsigned long long)h->frees,
		        (unsigned long long)(h->bytes >> 10),
		        (unsigned long long)(us / 1000),
		        (unsigned long long)(us ? h->done * 1000 / us : 0),
		        (unsigned long long)(fa + sa ? fa * 100 / (fa + sa) : 0),
		        (unsigned long long)(fa + sa ? fa * 1000 / (fa + sa) % 10 : 0),
		        (unsigned long long)(ff + sf ? ff * 100 / (ff + sf) : 0),
		        (unsigned long long)(ff + sf ? ff * 1000 / (ff + sf) % 10 : 0));
		KT_EXPECT_EQ(h->bad, 0);
		KT_EXPECT_EQ(h->fails, 0);
		KT_EXPECT_EQ(h->allocs, h->frees);
	}
}
