/*
 * The collector (include/kspan/gc.h) with several CPUs online:
 *
 *   busy     a collection stops the CPUs that are hammering the heap
 *            (kmalloc, hammer.c) mid-workload: what is rooted survives,
 *            the garbage allocated alongside is freed, and the hammering
 *            CPUs' objects are intact afterwards;
 *   racing   every CPU builds a rooted list of collected objects (with
 *            automatic collection off: a fresh object is no root until
 *            it is linked), then every CPU asks for collections at once:
 *            one runs at a time, the others return, every list survives
 *            and every garbage object goes.
 *
 * Fixed work in all (lists of 20000 nodes in all, 32 collection requests
 * in all), whatever -smp says.  Tests run from CPU 0; per-CPU state in
 * arrays indexed by CPU, each entry written by its own CPU.
 */
#include "kernel/selftest.h"

#if KSPAN_GC

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "kernel/kernel.h"
#include "tests/kernel/hammer.h"
#include "tests/kernel/smp_run.h"

struct gc_node {
	struct gc_node *next;
	uint64_t value;
	uint64_t check;
};

static const uint8_t gc_node_mask[1] = { 0x1 };   /* word 0 is a pointer */
static const struct kgc_type gc_node_type = {
	sizeof(struct gc_node), gc_node_mask, "gc_node" };

#define NODE_CHECK(v) ((v) * 0x9E3779B97F4A7C15ull)

KS_SELFTEST("gc smp: a collection stops the CPUs hammering the heap; what is rooted survives, the garbage goes")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: nobody to stop\n");
		return;
	}
	KT_ASSERT_EQ(kt_hammer_setup(n, 0), 0);
	uint64_t before = kt_drained_free_pages();
	/* CPUs 1..n-1 hammer until told to stop; CPU 0 collects. */
	for (unsigned i = 1; i < n; i++)
		KT_ASSERT_EQ(ks_smp_run(i, kt_hammer_fn, &kt_hammer[i]), 0);
	uint64_t deadline = rdtsc() + ks_tsc_from_us(KT_RUN_TIMEOUT_US);
	for (unsigned i = 1; i < n; i++)
		while (__atomic_load_n(&kt_hammer[i].progress, __ATOMIC_RELAXED) < 1000 &&
		       (int64_t)(rdtsc() - deadline) < 0)
			cpu_pause();

	static struct gc_node *root;
	root = NULL;
	kgc_root_add(&root, sizeof(root));
	struct kgc_stats g0, g1, g2;
	kgc_stats(&g0);
	enum { KEEP = 2000, GARBAGE = 20000 };
	for (int i = 0; i < KEEP + GARBAGE; i++) {
		struct gc_node *x = kgc_alloc(sizeof(*x), &gc_node_type);
		KT_ASSERT(x != NULL);
		x->value = (uint64_t)i;
		x->check = NODE_CHECK((uint64_t)i);
		if (i % 11 == 0 && i / 11 < KEEP) {
			x->next = root;
			root = x;
		}
	}
	uint64_t moved0[KSPAN_MAX_CPUS];
	for (unsigned i = 1; i < n; i++)
		moved0[i] = __atomic_load_n(&kt_hammer[i].progress, __ATOMIC_RELAXED);
	kgc_collect();
	kgc_stats(&g1);
	uint64_t kept = 0, bad = 0, listed = 0;
	for (int i = 0; i < KEEP + GARBAGE; i++)
		listed += i % 11 == 0 && i / 11 < KEEP;
	for (struct gc_node *x = root; x; x = x->next) {
		kept++;
		if (x->check != NODE_CHECK(x->value) || !kgc_is_live(x))
			bad++;
	}
	kprintf("# gc: %llu cycles, %llu objects freed, %llu live, last pause "
	        "%llu us with %u CPUs stopped\n",
	        (unsigned long long)(g1.cycles - g0.cycles),
	        (unsigned long long)(g1.freed_objects - g0.freed_objects),
	        (unsigned long long)g1.live_objects,
	        (unsigned long long)ks_tsc_to_us(g1.last_pause), n - 1);
	KT_EXPECT(g1.cycles > g0.cycles);
	KT_EXPECT_EQ(kept, listed);
	KT_EXPECT_EQ(bad, 0);
	KT_EXPECT(g1.freed_objects - g0.freed_objects >= GARBAGE / 2);
	/* Drop the root: the next collection frees everything. */
	kgc_root_remove(&root);
	root = NULL;
	kgc_collect();
	kgc_stats(&g2);
	KT_EXPECT_EQ(g2.live_objects, 0);

	/* The hammering CPUs went on after the collections. */
	deadline = rdtsc() + ks_tsc_from_us(KT_RUN_TIMEOUT_US);
	for (unsigned i = 1; i < n; i++)
		while (__atomic_load_n(&kt_hammer[i].progress, __ATOMIC_RELAXED) ==
		       moved0[i] && (int64_t)(rdtsc() - deadline) < 0)
			cpu_pause();
	for (unsigned i = 1; i < n; i++)
		__atomic_store_n(&kt_hammer[i].stop_flag, 1, __ATOMIC_RELEASE);
	int late = 0;
	for (unsigned i = 1; i < n; i++)
		if (ks_smp_wait(i, KT_RUN_TIMEOUT_US) != 0)
			late++;
	KT_ASSERT_EQ(late, 0);
	for (unsigned i = 1; i < n; i++) {
		KT_EXPECT(kt_hammer[i].progress > moved0[i]);
		KT_EXPECT_EQ(kt_hammer[i].bad, 0);
		KT_EXPECT_EQ(kt_hammer[i].fails, 0);
		KT_EXPECT_EQ(kt_hammer[i].allocs, kt_hammer[i].frees);
	}
	kprintf("# CPU 1 did %llu heap operations around the collections\n",
	        (unsigned long long)kt_hammer[1].done);
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
	kt_hammer_teardown(n);
}

/* ---- every CPU asks for collections at once -------------------------------- */

#define LIST_TOTAL     20000u
#define COLLECT_TOTAL  32u

static struct gc_node *lists[KSPAN_MAX_CPUS];     /* a root */

struct racer {
	unsigned cpu;
	uint64_t len, garbage, collects, fails;
} __attribute__((aligned(64)));

static struct racer racer[KSPAN_MAX_CPUS];
static uint32_t race_gate;

static void build_fn(void *arg)
{
	struct racer *r = arg;
	for (uint64_t k = 0; k < r->len + r->garbage; k++) {
		struct gc_node *x = kgc_alloc(sizeof(*x), &gc_node_type);
		if (!x) {
			r->fails++;
			return;
		}
		x->value = ((uint64_t)r->cpu << 32) | k;
		x->check = NODE_CHECK(x->value);
		if (k < r->len) {
			x->next = lists[r->cpu];
			lists[r->cpu] = x;
		}
		if ((k & 255) == 0)
			ks_run_tick();
	}
}

static void collect_fn(void *arg)
{
	struct racer *r = arg;
	unsigned n = ks_smp_ncpus();
	__atomic_add_fetch(&race_gate, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&race_gate, __ATOMIC_ACQUIRE) < n)
		cpu_pause();
	for (uint64_t k = 0; k < r->collects; k++) {
		kgc_collect();      /* returns at once if another CPU collects */
		ks_run_tick();
	}
}

KS_SELFTEST("gc smp: every CPU asks for collections at once; one runs at a time, every CPU's rooted list survives")
{
	unsigned n = ks_smp_ncpus();
	uint64_t len = kt_share(LIST_TOTAL, n, 1);
	kgc_enable(false);          /* a fresh object is no root until linked */
	kgc_collect();
	__builtin_memset(lists, 0, sizeof(lists));
	kgc_root_add(lists, sizeof(lists));
	for (unsigned i = 0; i < n; i++) {
		__builtin_memset(&racer[i], 0, sizeof(racer[i]));
		racer[i].cpu = i;
		racer[i].len = len;
		racer[i].garbage = len;
		racer[i].collects = kt_share(COLLECT_TOTAL, n, 1);
	}
	KT_ASSERT_EQ(ks_run_on_cpus(n, build_fn, racer, sizeof(racer[0]),
	                            KT_RUN_TIMEOUT_US), 0);
	struct kgc_stats g0, g1;
	kgc_stats(&g0);
	race_gate = 0;
	KT_ASSERT_EQ(ks_run_on_cpus(n, collect_fn, racer, sizeof(racer[0]),
	                            KT_RUN_TIMEOUT_US), 0);
	kgc_stats(&g1);
	uint64_t bad = 0;
	for (unsigned i = 0; i < n; i++) {
		KT_EXPECT_EQ(racer[i].fails, 0);
		uint64_t k = 0;
		for (struct gc_node *x = lists[i]; x; x = x->next, k++)
			if (x->check != NODE_CHECK(x->value) || !kgc_is_live(x) ||
			    x->value != (((uint64_t)i << 32) | (len - 1 - k)))
				bad++;
		KT_EXPECT_EQ(k, len);
	}
	kprintf("# gc: %u CPUs asked for %llu collections in all; %llu cycles ran, "
	        "%llu objects freed, %llu live\n", n,
	        (unsigned long long)(racer[0].collects * n),
	        (unsigned long long)(g1.cycles - g0.cycles),
	        (unsigned long long)(g1.freed_objects - g0.freed_objects),
	        (unsigned long long)g1.live_objects);
	KT_EXPECT_EQ(bad, 0);
	KT_EXPECT(g1.cycles > g0.cycles);
	KT_EXPECT(g1.cycles - g0.cycles <= racer[0].collects * n);
	KT_EXPECT_EQ(g1.live_objects, len * n);
	KT_EXPECT_EQ(g1.freed_objects - g0.freed_objects, len * n);
	kgc_root_remove(lists);
	__builtin_memset(lists, 0, sizeof(lists));
	kgc_collect();
	kgc_stats(&g1);
	KT_EXPECT_EQ(g1.live_objects, 0);
	kgc_enable(true);
}

#endif /* KSPAN_GC */
