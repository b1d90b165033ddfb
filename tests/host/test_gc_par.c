/*
 * The collector's mark with 1, 2 and 4 markers (the collecting thread and
 * helper threads of arch/host/gcpool.c): random graphs of objects of mixed
 * sizes (small, multi-page and large pointer arrays split among markers,
 * noscan leaves, interior pointers) against reachability computed by BFS;
 * a long list (no parallelism to find); and a mark queue so small that it
 * overflows on every marker, each of which starts on roots of its own.
 * Randomised from the run's seed; every assertion holds for any seed and
 * any interleaving of the markers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/host/gcpool.h"
#include "mm/mgc.h"
#include "tests/common/gcgraph.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define MARKERS 4

static const unsigned marker_counts[] = { 1, 2, 4 };

static int setup(void **state)
{
	if (heap_fixture_setup(state) != 0)
		return -1;
	struct kgc_config cfg = { .gc_percent = 100 };
	if (ks_host_gc_pool(&cfg, MARKERS) != MARKERS - 1)
		return -1;
	kgc_init(&cfg);
	kgc_enable(false);
	return 0;
}

/* Object i: a pointer array of words[i] words (what it points to is the
 * graph's edges from i), or a noscan leaf. */
enum { N = 6000, MAXE = 6, R = 16 };
static void **obj[N];
static size_t words[N];
static bool leaf[N];
static int32_t to[N * MAXE], queue[N], root_ix[R];
static uint8_t reach[N];
static void *rootset[R];
static struct ks_graph graph = { N, MAXE, to, reach, queue };

static size_t random_words(uint64_t *rng)
{
	switch (ks_test_rand(rng) % 16) {
	case 0:
		return 1024 + ks_test_rand(rng) % 3000;      /* multi-page small */
	case 1:
		return 5000 + ks_test_rand(rng) % 20000;     /* large: split */
	default:
		return 2 + ks_test_rand(rng) % 40;
	}
}

/* Does a word of object i point into object j? */
static bool points_to(int i, int j)
{
	for (size_t w = 0; w < words[i]; w++) {
		uintptr_t v = (uintptr_t)obj[i][w];
		if (v >= (uintptr_t)obj[j] && v < (uintptr_t)obj[j] + 8 * words[j])
			return true;
	}
	return false;
}

static void build_graph(uint64_t *rng)
{
	ks_graph_clear(&graph);
	for (int i = 0; i < N; i++) {
		words[i] = random_words(rng);
		leaf[i] = ks_test_rand(rng) % 5 == 0;
		obj[i] = leaf[i] ? kgc_alloc_noscan(words[i] * 8) : kgc_alloc(words[i] * 8, NULL);
		assert_non_null(obj[i]);
		if (leaf[i])
			continue;
		for (size_t w = 0; w < words[i]; w++)   /* never heap addresses */
			obj[i][w] = (void *)(uintptr_t)(ks_test_rand(rng) | 1ull << 63);
	}
	for (int i = 0; i < N; i++) {
		if (leaf[i])
			continue;
		int e = (int)(ks_test_rand(rng) % (MAXE + 1));
		for (int k = 0; k < e; k++) {
			int j = (int)(ks_test_rand(rng) % N);
			size_t at = ks_test_rand(rng) % words[i];
			/* Anywhere inside the target: interior pointers count. */
			obj[i][at] = (char *)obj[j] + 8 * (ks_test_rand(rng) % words[j]);
			to[i * MAXE + k] = j;
		}
	}
	/* Later writes may overwrite earlier edges: keep those in memory. */
	for (int i = 0; i < N; i++)
		for (int k = 0; k < MAXE; k++)
			if (to[i * MAXE + k] >= 0 && !points_to(i, to[i * MAXE + k]))
				to[i * MAXE + k] = -1;
}

/* Random roots, and what they reach by BFS. */
static int bfs(uint64_t *rng)
{
	ks_graph_random_roots(&graph, root_ix, R, rng);
	for (int r = 0; r < R; r++)
		rootset[r] = obj[root_ix[r]];
	return (int)ks_graph_reach(&graph, root_ix, R);
}

static void test_random_graphs_against_bfs(void **state)
{
	(void)state;
	uint64_t rng = ks_test_rng(__LINE__);
	kgc_root_add(rootset, sizeof(rootset));
	for (unsigned m = 0; m < sizeof(marker_counts) / sizeof(marker_counts[0]); m++) {
		kgc_set_markers(marker_counts[m]);
		for (int round = 0; round < 2; round++) {
			kgc_collect();
			kgc_sweep(0);
			build_graph(&rng);
			int live = bfs(&rng);
			struct kgc_stats s0, s1;
			kgc_stats(&s0);
			kgc_collect();
			kgc_stats(&s1);
			assert_int_equal(s1.last_markers, marker_counts[m]);
			assert_true(s1.last_working_markers >= 1 &&
			            s1.last_working_markers <= marker_counts[m]);
			assert_int_equal(s1.live_objects, (uint64_t)live);
			assert_int_equal(s1.freed_objects - s0.freed_objects, (uint64_t)(N - live));
			assert_int_equal(s1.mark_overflows, s0.mark_overflows);
			for (int i = 0; i < N; i++)
				if (kgc_is_live(obj[i]) != reach[i])
					fail_msg("%u markers: object %d (%zu words%s) is %s, BFS says %s",
					         marker_counts[m], i, words[i], leaf[i] ? ", noscan" : "",
					         reach[i] ? "dead" : "live", reach[i] ? "reachable" : "not");
			memset(rootset, 0, sizeof(rootset));
		}
	}
	kgc_root_remove(rootset);
	kgc_set_markers(0);
	kgc_collect();
}

struct lnode {
	struct lnode *next;
	uint64_t id;
};
static const uint8_t lnode_mask[1] = { 0x1 };
static const struct kgc_type lnode_type = { sizeof(struct lnode), lnode_mask, "lnode" };

static void test_list_with_markers(void **state)
{
	(void)state;
	static struct lnode *head;
	enum { LEN = 300000 };
	kgc_root_add(&head, sizeof(head));
	for (int i = 0; i < LEN; i++) {
		struct lnode *n = kgc_alloc(sizeof(*n), &lnode_type);
		assert_non_null(n);
		n->next = head;
		n->id = (uint64_t)i;
		head = n;
	}
	for (unsigned m = 0; m < sizeof(marker_counts) / sizeof(marker_counts[0]); m++) {
		kgc_set_markers(marker_counts[m]);
		kgc_collect();
		struct kgc_stats s;
		kgc_stats(&s);
		assert_int_equal(s.live_objects, LEN);
		long count = 0;
		for (struct lnode *n = head; n; n = n->next)
			assert_int_equal(n->id, (uint64_t)(LEN - 1 - count++));
		assert_int_equal(count, LEN);
	}
	head = NULL;
	kgc_set_markers(0);
	kgc_collect();
	kgc_root_remove(&head);
}

/* Each marker's first job is its own piece (4 KiB) of the roots: here
 * every root word there points to a tree of its own, so each marker
 * fills its two-range queue on its first job and overflows; the rescans
 * must still find everything. */
enum { FAN = 4, PER_JOB = 512 };
struct tnode {
	struct tnode *kid[FAN];
	uint64_t id;
};
static const uint8_t tnode_mask[1] = { 0x0F };
static const struct kgc_type tnode_type = { sizeof(struct tnode), tnode_mask, "tnode" };

static struct tnode *tree(int depth, uint64_t *id)
{
	struct tnode *t = kgc_alloc(sizeof(*t), &tnode_type);
	assert_non_null(t);
	t->id = (*id)++;
	for (int k = 0; k < FAN && depth > 0; k++)
		t->kid[k] = tree(depth - 1, id);   /* no collection runs here */
	return t;
}

static uint64_t tree_count(const struct tnode *t)
{
	uint64_t n = 1;
	assert_true(kgc_is_live(t));
	for (int k = 0; k < FAN; k++)
		if (t->kid[k])
			n += tree_count(t->kid[k]);
	return n;
}

static void test_overflow_on_every_marker(void **state)
{
	(void)state;
	static struct tnode *roots[MARKERS * PER_JOB];
	kgc_root_add(roots, sizeof(roots));
	for (unsigned m = 0; m < sizeof(marker_counts) / sizeof(marker_counts[0]); m++) {
		unsigned k = marker_counts[m];
		uint64_t id = 0;
		for (unsigned i = 0; i < MARKERS * PER_JOB; i++)
			roots[i] = tree(i % 7 == 0 ? 3 : 1, &id);
		struct kgc_stats s0, s1;
		if (!ks_gc_collect_overflowing(k, &s0, &s1))
			fail_msg("%u markers: %lu overflows, %u of %u markers overflowed", k,
			         (unsigned long)(s1.mark_overflows - s0.mark_overflows),
			         (unsigned)s1.last_overflow_markers, (unsigned)s1.last_markers);
		for (unsigned i = 0; i < k; i++)
			assert_true(gc_mark_overflows_of(i) > 0);
		assert_int_equal(s1.live_objects, id);
		uint64_t counted = 0;
		for (unsigned i = 0; i < MARKERS * PER_JOB; i++)
			counted += tree_count(roots[i]);
		assert_int_equal(counted, id);
		memset(roots, 0, sizeof(roots));
		kgc_collect();
	}
	kgc_root_remove(roots);
	kgc_set_markers(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_graphs_against_bfs),
		cmocka_unit_test(test_list_with_markers),
		cmocka_unit_test(test_overflow_on_every_marker),
	};
	return KS_TEST_MAIN("gc_par", tests, setup, NULL);
}
