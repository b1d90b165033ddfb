/*
 * In-kernel self-tests of the collector's parallel mark and lazy sweep
 * (include/kspan/gc.h): every CPU that the collection stops marks
 * (kernel/heap.c gives the collector ks_smp_call_all_self as its
 * stop_world_run hook).  Random object graphs against reachability
 * computed by a walk over their indices, with 1, 2 and 4 marking CPUs (as many as are online); a mark queue so
 * small that it overflows on every marking CPU, each starting on roots of
 * its own; an object a collection freed is handed out once; and the
 * report: pause and mark rate of one live heap at 1, 2 and 4 CPUs.
 */
#include "kernel/selftest.h"

#if KSPAN_GC

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "kernel/kernel.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "tests/common/pattern.h"

#define K 4
struct node {
	struct node *edge[K];
	uint64_t id;
	uint64_t check;
};

static const uint8_t node_mask[1] = { 0x0F };
static const struct kgc_type node_type = { sizeof(struct node), node_mask, "node" };

static const unsigned counts[] = { 1, 2, 4 };
#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))

static unsigned markers_for(unsigned want)
{
	unsigned n = ks_smp_ncpus();
	return want < n ? want : n;
}

enum { N = 3000, R = 6 };
static struct node *nodes[N];
static uint8_t reach[N];
static struct node *rootset[R];

/* nodes[] with up to K random edges each, rootset[] R random nodes;
 * reach[] from a depth-first walk over the indices (edge k of node i is
 * node (edge index), kept in its id's high bits). */
static int graph(unsigned round, uint64_t *rng)
{
	for (int i = 0; i < N; i++) {
		nodes[i] = kgc_alloc(sizeof(struct node), &node_type);
		if (!nodes[i])
			return -1;
		nodes[i]->id = (uint64_t)(round * N + i);
		nodes[i]->check = ~nodes[i]->id;
		reach[i] = 0;
	}
	static int16_t to[N][K], stack[N];
	for (int i = 0; i < N; i++)
		for (int k = 0; k < K; k++) {
			to[i][k] = ks_rand(rng) % 3 ? (int16_t)(ks_rand(rng) % N) : -1;
			nodes[i]->edge[k] = to[i][k] >= 0 ? nodes[to[i][k]] : 0;
		}
	int sp = 0, live = 0;
	for (int r = 0; r < R; r++) {
		int16_t j = (int16_t)(ks_rand(rng) % N);
		rootset[r] = nodes[j];
		if (!reach[j]) {
			reach[j] = 1;
			stack[sp++] = j;
		}
	}
	while (sp) {   /* each node pushed once: sp <= N */
		int16_t i = stack[--sp];
		live++;
		for (int k = 0; k < K; k++)
			if (to[i][k] >= 0 && !reach[to[i][k]]) {
				reach[to[i][k]] = 1;
				stack[sp++] = to[i][k];
			}
	}
	return live;
}

KS_SELFTEST("gc par: random graphs against a reachability walk, marked by 1, 2 and 4 CPUs")
{
	uint64_t rng = ks_selftest_rng(1616);
	kgc_enable(false);   /* nodes[] is not a root */
	kgc_root_add(rootset, sizeof(rootset));
	for (unsigned c = 0; c < NCOUNTS; c++) {
		kgc_set_markers(counts[c]);
		kgc_collect();
		kgc_sweep(0);
		int live = graph(c, &rng);
		KT_ASSERT(live > 0);
		struct kgc_stats s0, s1;
		kgc_stats(&s0);
		kgc_collect();
		kgc_stats(&s1);
		KT_EXPECT_EQ(s1.last_markers, markers_for(counts[c]));
		KT_EXPECT_EQ(s1.live_objects, (uint64_t)live);
		KT_EXPECT_EQ(s1.freed_objects - s0.freed_objects, (uint64_t)(N - live));
		KT_EXPECT_EQ(s1.unswept_objects, (uint64_t)(N - live));
		for (int i = 0; i < N; i++) {
			KT_ASSERT_EQ(kgc_is_live(nodes[i]), reach[i]);
			if (reach[i])
				KT_ASSERT_EQ(nodes[i]->check, ~nodes[i]->id);
		}
		/* After a full sweep the heap holds exactly the reachable. */
		KT_EXPECT_EQ(kgc_sweep(0), 0);
		kgc_stats(&s1);
		KT_EXPECT_EQ(s1.unswept_objects, 0);
		KT_EXPECT_EQ(s1.inuse_objects, (uint64_t)live);
		for (int r = 0; r < R; r++)
			rootset[r] = 0;
	}
	kgc_root_remove(rootset);
	kgc_set_markers(0);
	kgc_enable(true);
	kgc_collect();
}

/* Each marking CPU's first job is its own 4 KiB of the roots; every root
 * word there points to a little tree of its own, so each CPU fills its
 * two-range queue at once and overflows. */
enum { PER_JOB = 512, MAXCPU = 4 };
static struct node *roots[MAXCPU * PER_JOB];

static struct node *tree(int depth, uint64_t *id)
{
	struct node *t = kgc_alloc(sizeof(*t), &node_type);
	if (!t)
		return 0;
	t->id = (*id)++;
	t->check = ~t->id;
	for (int k = 0; k < K && depth > 0; k++)
		t->edge[k] = tree(depth - 1, id);
	return t;
}

KS_SELFTEST("gc par: mark-queue overflow on each marking CPU")
{
	kgc_enable(false);
	kgc_root_add(roots, sizeof(roots));
	for (unsigned c = 0; c < NCOUNTS; c++) {
		unsigned k = markers_for(counts[c]);
		uint64_t id = 0;
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++) {
			roots[i] = tree(i % 9 == 0 ? 2 : 1, &id);
			KT_ASSERT(roots[i] != 0);
		}
		kgc_set_markers(k);
		kgc_set_mark_queue(2);
		struct kgc_stats s0, s1;
		kgc_stats(&s0);
		kgc_collect();
		kgc_set_mark_queue(0);
		kgc_stats(&s1);
		KT_EXPECT(s1.mark_overflows > s0.mark_overflows);
		KT_EXPECT_EQ(s1.last_markers, k);
		KT_EXPECT_EQ(s1.last_overflow_markers, k);
		KT_EXPECT_EQ(s1.live_objects, id);
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++)
			KT_ASSERT(kgc_is_live(roots[i]) && roots[i]->check == ~roots[i]->id);
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++)
			roots[i] = 0;
		kgc_collect();
	}
	kgc_root_remove(roots);
	kgc_set_markers(0);
	kgc_enable(true);
}

/* The objects a collection freed are reused by the allocations after it
 * (swept on demand), never a live one, never one slot twice: every live
 * object stays intact and every new one has a slot of its own. */
enum { M = 6000 };
static struct node *keep[M], *fresh[M];

KS_SELFTEST("gc par: lazy sweep hands each freed object out once")
{
	uint64_t rng = ks_selftest_rng(1617);
	kgc_enable(false);
	kgc_root_add(keep, sizeof(keep));
	kgc_root_add(fresh, sizeof(fresh));
	kgc_collect();
	kgc_sweep(0);
	unsigned nkeep = 0, dead = 0;
	for (int i = 0; i < M; i++) {
		struct node *n = kgc_alloc(sizeof(*n), &node_type);
		KT_ASSERT(n != 0);
		n->id = (uint64_t)i;
		n->check = ~n->id;
		if (ks_rand(&rng) % 2)
			keep[nkeep++] = n;
		else
			dead++;
	}
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	KT_EXPECT_EQ(s.unswept_objects, dead);
	for (int i = 0; i < M; i++) {
		fresh[i] = kgc_alloc(sizeof(struct node), &node_type);
		KT_ASSERT(fresh[i] != 0);
		fresh[i]->id = (uint64_t)(M + i);
		fresh[i]->check = ~fresh[i]->id;
	}
	for (unsigned i = 0; i < nkeep; i++)
		KT_ASSERT_EQ(keep[i]->check, ~keep[i]->id);
	for (int i = 0; i < M; i++)
		KT_ASSERT_EQ(fresh[i]->id, (uint64_t)(M + i));
	kgc_stats(&s);
	KT_EXPECT(s.unswept_objects < dead);   /* the allocations swept */
	for (unsigned i = 0; i < nkeep; i++)
		keep[i] = 0;
	for (int i = 0; i < M; i++)
		fresh[i] = 0;
	kgc_root_remove(keep);
	kgc_root_remove(fresh);
	kgc_enable(true);
	kgc_collect();
}

/* The report: one live heap (a 4-ary tree), collected three times with 1,
 * 2 and 4 marking CPUs; the shortest pause of each and its mark rate. */
static struct node *report_root;

KS_SELFTEST("gc par: report (pause and mark rate at 1, 2 and 4 CPUs)")
{
	uint64_t id = 0;
	kgc_enable(false);
	kgc_root_add(&report_root, sizeof(report_root));
	report_root = tree(8, &id);   /* 87381 nodes, 4 MiB of 48-byte slots */
	KT_ASSERT(report_root != 0);
	uint64_t base_pause = 0;
	for (unsigned c = 0; c < NCOUNTS; c++) {
		unsigned k = markers_for(counts[c]);
		if (c && k == markers_for(counts[c - 1]))
			break;   /* fewer CPUs online */
		kgc_set_markers(k);
		uint64_t best = ~0ull, mark = 0;
		struct kgc_stats s;
		for (int i = 0; i < 3; i++) {
			kgc_collect();
			kgc_stats(&s);
			KT_EXPECT_EQ(s.live_objects, id);
			KT_EXPECT_EQ(s.last_markers, k);
			if (s.last_pause < best) {
				best = s.last_pause;
				mark = s.last_mark;
			}
		}
		if (!base_pause)
			base_pause = best;
		kprintf("# gc par: %u CPU(s) mark: pause %llu us (%llu kcycles, %llu.%02llux the "
		        "1-CPU pause), mark %llu bytes per kcycle\n", k,
		        (unsigned long long)ks_tsc_to_us(best), (unsigned long long)(best / 1000),
		        (unsigned long long)(base_pause * 100 / best / 100),
		        (unsigned long long)(base_pause * 100 / best % 100),
		        (unsigned long long)(mark ? s.live_bytes * 1000 / mark : 0));
	}
	report_root = 0;
	kgc_root_remove(&report_root);
	kgc_set_markers(0);
	kgc_enable(true);
	kgc_collect();
}
#endif /* KSPAN_GC */
