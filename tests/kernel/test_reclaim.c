/*
 * In-kernel self-tests of memory pressure (mm/reclaim.c): an allocation
 * that finds no memory first takes back what sits in caches, on this CPU
 * and on the others, and what the kernel's shrinkers can give.
 *
 *   1 CPU       a seeded mix of small objects is allocated and freed
 *               (what is left: owned spans with free objects, queued
 *               frees, central reserves); 64 KiB blocks are allocated
 *               until kmalloc returns NULL; then once more after an
 *               explicit kspan_drain_cpu.  The first count must reach 99%
 *               of the second;
 *   idle CPUs   the same with up to three other CPUs holding cached
 *               objects while they sit in hlt in their idle loops: only
 *               the platform's kick hook (kernel/heap.c) can make them
 *               give their caches back, and it must;
 *   shrinker    a shrinker holding kpages blocks is asked before any
 *               allocation fails, and gives them back.
 *
 * The memory to fill is bounded (FILL): the rest of the free frames is
 * held back, untouched (kt_grab_frames), so the tests take the same time
 * on every guest.  Each test leaves the heap as it found it.
 */
#include "kernel/selftest.h"

#include <kspan/kmalloc.h>
#include <kspan/frame.h>
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "kernel/heap.h"
#include "kernel/kernel.h"
#include "tests/common/pattern.h"
#include "tests/kernel/testlib.h"

#define BLOCK  (64u << 10)
#define FILL   (64ull << 20)     /* free frames left to fill */
#define IDLE   3                 /* other CPUs holding caches */


/* Allocate blocks until kmalloc says no, chained through their first
 * word; free them; the count. */
static unsigned exhaust(void)
{
	void *chain = 0;
	unsigned n = 0;
	void *p;
	while ((p = kmalloc(BLOCK)) != 0) {
		*(void **)p = chain;
		chain = p;
		n++;
	}
	while (chain) {
		void *next = *(void **)chain;
		kfree(chain);
		chain = next;
	}
	return n;
}

/* A seeded mix of small objects allocated and freed in shuffled order:
 * what stays behind is cache. */
#define NCACHE 3000
struct cache_job {
	uint64_t rng;
	void *objs[NCACHE];
};

static void cache_objects(void *arg)
{
	struct cache_job *j = arg;
	for (unsigned i = 0; i < NCACHE; i++)
		j->objs[i] = kmalloc(8 + ks_rand(&j->rng) % 4000);
	for (unsigned i = NCACHE - 1; i > 0; i--) {
		unsigned k = (unsigned)(ks_rand(&j->rng) % (i + 1));
		void *t = j->objs[i];
		j->objs[i] = j->objs[k];
		j->objs[k] = t;
	}
	for (unsigned i = 0; i < NCACHE; i++)
		kfree(j->objs[i]);   /* NULL is fine: kfree(NULL) does nothing */
}

static uint64_t owned_spans(unsigned cpu)
{
	struct kspan_cpu_stats c;
	kspan_cpu_stats(cpu, &c);
	return c.owned_spans;
}

static uint64_t reclaims(void)
{
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	return hs.reclaims;
}

/* Hold back all free frames but FILL. */
static void hold_back(struct kt_grab *held)
{
	struct ks_frame_stats fs;
	kspan_scavenge();
	ks_frame_stats(&fs);
	if (fs.free_frames > FILL / KS_FRAME_SIZE)
		kt_grab_frames(held, FILL / KS_FRAME_SIZE);
}

static void report(struct ks_test *kt, const char *what, unsigned cached,
                   unsigned drained)
{
	kprintf("# %s: %u blocks of 64 KiB with objects cached, %u after a drain\n",
	        what, cached, drained);
	KT_EXPECT(drained > 100);
	KT_EXPECT((uint64_t)cached * 100 >= (uint64_t)drained * 99);
}

static struct cache_job jobs[1 + IDLE];

KS_SELFTEST("reclaim: exhaustion on this CPU reaches 99% of the count after a drain")
{
	uint64_t before = kt_heap_free_pages();
	struct kt_grab held = { 0 };
	hold_back(&held);
	exhaust();                       /* commit the arena's metadata first */
	jobs[0].rng = ks_selftest_rng(0x4ec1);
	cache_objects(&jobs[0]);
	KT_EXPECT(owned_spans(ks_cpu_index()) > 0);
	uint64_t r0 = reclaims();
	unsigned cached = exhaust();
	KT_EXPECT(reclaims() > r0);
	kspan_drain_cpu();
	unsigned drained = exhaust();
	report(kt, "this CPU", cached, drained);
	kt_release_frames(&held);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

KS_SELFTEST("reclaim: idle CPUs in hlt give their cached objects back when kicked")
{
	unsigned me = ks_cpu_index(), n = ks_smp_ncpus(), idle = 0;
	unsigned cpus[IDLE];
	if (n < 2) {
		kprintf("# one CPU online: nothing to kick (boot with SMP>=2)\n");
		return;
	}
	uint64_t before = kt_heap_free_pages();
	struct kt_grab held = { 0 };
	hold_back(&held);
	exhaust();
	/* Up to three other CPUs cache objects and go back to hlt. */
	for (unsigned cpu = 0; cpu < n && idle < IDLE; cpu++) {
		if (cpu == me)
			continue;
		struct cache_job *j = &jobs[1 + idle];
		j->rng = ks_selftest_rng(0x4ec2 + cpu);
		KT_ASSERT_EQ(ks_smp_run(cpu, cache_objects, j), 0);
		cpus[idle++] = cpu;
	}
	for (unsigned i = 0; i < idle; i++) {
		KT_ASSERT_EQ(ks_smp_wait(cpus[i], 30000000), 0);
		KT_EXPECT(owned_spans(cpus[i]) > 0);
	}
	jobs[0].rng = ks_selftest_rng(0x4ec1);
	cache_objects(&jobs[0]);
	unsigned cached = exhaust();
	/* The kick hook made every idle CPU drain its own cache. */
	for (unsigned i = 0; i < idle; i++)
		KT_EXPECT_EQ(owned_spans(cpus[i]), 0);
	ks_kernel_heap_drain_all();
	unsigned drained = exhaust();
	kprintf("# %u CPUs online, %u of them idle with cached objects\n", n, idle);
	report(kt, "idle CPUs kicked", cached, drained);
	kt_release_frames(&held);
	ks_kernel_heap_drain_all();
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

/* A kernel's own cache of kpages blocks, given back under pressure. */
#define HOARD 32
static void *hoard[HOARD];
static unsigned nhoard, shrink_calls;
static size_t shrink_want;

static size_t shrink_hoard(void *arg, size_t want)
{
	(void)arg;
	if (nhoard == 0)
		return 0;
	shrink_calls++;
	shrink_want = want;
	size_t freed = 0;
	while (nhoard > 0 && freed < want) {
		kpages_free(hoard[--nhoard], 8);
		freed += 8 * KSPAN_PAGE_SIZE;
	}
	return freed;
}

KS_SELFTEST("reclaim: a registered shrinker gives its memory back before kmalloc fails")
{
	uint64_t before = kt_heap_free_pages();
	struct kt_grab held = { 0 };
	hold_back(&held);
	exhaust();
	KT_ASSERT_EQ(kspan_register_shrinker(shrink_hoard, 0), 0);
	while (nhoard < HOARD && (hoard[nhoard] = kpages_alloc(8)) != 0)
		nhoard++;
	KT_ASSERT_EQ(nhoard, HOARD);
	unsigned n = exhaust();
	kprintf("# shrinker called %u times (last want %llu bytes); %u blocks\n",
	        shrink_calls, (unsigned long long)shrink_want, n);
	KT_EXPECT(shrink_calls > 0);
	KT_EXPECT_EQ(nhoard, 0);
	KT_EXPECT(shrink_want >= BLOCK);
	kt_release_frames(&held);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}
