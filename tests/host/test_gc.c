/*
 * The mark-sweep collector on the host (one thread: the host has no world
 * to stop): random object graphs with known reachability, cycles, shared
 * subgraphs, interior pointers, pointers hidden in noscan objects, a deep
 * list, typed objects (several pointer maps in one size class), the
 * mark-queue overflow path, the GOGC trigger,
 * the lazy sweep (exact statistics before and after it, no object handed
 * out twice, done by half the runway), coexistence with kmalloc, and bad
 * input.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "mm/mgc.h"
#include "mm/sizeclass.h"
#include "tests/common/gcgraph.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

/* A node: K pointer fields, then a payload with a pattern. */
#define K 4
struct node {
	struct node *edge[K];
	uint64_t id;
	uint64_t payload[3];
};

static const uint8_t node_mask[1] = { 0x0F };  /* words 0..3 are pointers */
static const struct kgc_type node_type = { sizeof(struct node), node_mask, "node" };

static bool host_is_mapped(const void *addr, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(pg - 1);
	unsigned char vec[64];
	size_t span = (uintptr_t)addr + len - a;
	if (span > 64 * (size_t)pg)
		span = 64 * (size_t)pg;
	return mincore((void *)a, span, vec) == 0;
}

static int setup(void **state)
{
	if (heap_fixture_setup(state) != 0)
		return -1;
	struct kgc_config cfg = { .gc_percent = 100, .is_mapped = host_is_mapped };
	kgc_init(&cfg);
	kgc_enable(false);   /* tests collect explicitly unless they say so */
	return 0;
}

static void fill_node(struct node *n, uint64_t id)
{
	n->id = id;
	for (int i = 0; i < 3; i++)
		n->payload[i] = id * 0x9E3779B97F4A7C15ull + (uint64_t)i;
}

static bool node_intact(const struct node *n, uint64_t id)
{
	if (n->id != id)
		return false;
	for (int i = 0; i < 3; i++)
		if (n->payload[i] != id * 0x9E3779B97F4A7C15ull + (uint64_t)i)
			return false;
	return true;
}

/* Random graphs: the collector must free exactly the unreachable nodes. */
static void test_random_graphs(void **state)
{
	(void)state;
	enum { N = 3000, E = 4000, R = 8 };
	static struct node *nodes[N];
	static int32_t to[N * K], queue[N], roots[R];
	static uint8_t reach[N];
	static struct node *rootset[R];
	struct ks_graph g = { N, K, to, reach, queue };
	uint64_t rng = ks_test_rng(__LINE__);
	for (int round = 0; round < 5; round++) {
		struct kgc_stats s0, s1;
		kgc_collect();   /* start from a clean heap */
		kgc_stats(&s0);
		for (int i = 0; i < N; i++) {
			nodes[i] = kgc_alloc(sizeof(struct node), &node_type);
			assert_non_null(nodes[i]);
			fill_node(nodes[i], (uint64_t)round * N + (uint64_t)i);
		}
		ks_graph_clear(&g);
		ks_graph_random_edges(&g, E, &rng);
		for (int i = 0; i < N * K; i++)
			nodes[i / K]->edge[i % K] = to[i] >= 0 ? nodes[to[i]] : NULL;
		ks_graph_random_roots(&g, roots, R, &rng);
		for (int r = 0; r < R; r++)
			rootset[r] = nodes[roots[r]];
		unsigned nreach = ks_graph_reach(&g, roots, R);
		kgc_root_add(rootset, sizeof(rootset));
		kgc_collect();
		kgc_stats(&s1);
		for (int i = 0; i < N; i++) {
			if (reach[i]) {
				assert_true(kgc_is_live(nodes[i]));
				assert_true(node_intact(nodes[i], (uint64_t)round * N + (uint64_t)i));
				for (int k = 0; k < K; k++)
					assert_ptr_equal(nodes[i]->edge[k],
					                 to[i * K + k] >= 0 ? nodes[to[i * K + k]] : NULL);
			} else {
				assert_false(kgc_is_live(nodes[i]));
			}
		}
		assert_int_equal(s1.live_objects, (uint64_t)nreach);
		assert_int_equal(s1.freed_objects - s0.freed_objects, (uint64_t)(N - nreach));
		kgc_root_remove(rootset);
	}
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	assert_int_equal(s.live_objects, 0);
}

static void test_cycle_and_interior_pointer(void **state)
{
	(void)state;
	struct node *a = kgc_alloc(sizeof(struct node), &node_type);
	struct node *b = kgc_alloc(sizeof(struct node), &node_type);
	a->edge[0] = b;
	b->edge[0] = a;            /* a cycle, unreachable */
	char *big = kgc_alloc(100000, NULL);
	static char *inner;        /* root points into the middle */
	inner = big + 54321;
	kgc_root_add(&inner, sizeof(inner));
	kgc_collect();
	assert_false(kgc_is_live(a));
	assert_false(kgc_is_live(b));
	assert_true(kgc_is_live(big));
	inner = NULL;
	kgc_collect();
	assert_false(kgc_is_live(big));
	kgc_root_remove(&inner);
}

static void test_noscan_hides_nothing(void **state)
{
	(void)state;
	static void *root;
	void **box = kgc_alloc_noscan(64);     /* pointer-free by contract */
	struct node *target = kgc_alloc(sizeof(struct node), &node_type);
	box[0] = target;                        /* does not keep it alive */
	root = box;
	kgc_root_add(&root, sizeof(root));
	/* A typed object whose non-pointer word holds an address. */
	struct node *holder = kgc_alloc(sizeof(struct node), &node_type);
	struct node *target2 = kgc_alloc(sizeof(struct node), &node_type);
	holder->payload[0] = (uint64_t)(uintptr_t)target2;   /* not a pointer word */
	static void *root2;
	root2 = holder;
	kgc_root_add(&root2, sizeof(root2));
	kgc_collect();
	assert_true(kgc_is_live(box));
	assert_false(kgc_is_live(target));
	assert_true(kgc_is_live(holder));
	assert_false(kgc_is_live(target2));
	root = root2 = NULL;
	kgc_root_remove(&root);
	kgc_root_remove(&root2);
	kgc_collect();
	assert_false(kgc_is_live(box));
}

static void test_tiny_blocks(void **state)
{
	(void)state;
	static char *keep;
	char *t[40];
	for (int i = 0; i < 40; i++) {
		t[i] = kgc_alloc_noscan(1 + (size_t)(i % 7));
		assert_non_null(t[i]);
		assert_int_equal(t[i][0], 0);
	}
	keep = t[13];   /* keeps its 16-byte block alive, nothing else */
	kgc_root_add(&keep, sizeof(keep));
	kgc_collect();
	assert_true(kgc_is_live(keep));
	uintptr_t block = (uintptr_t)keep & ~(uintptr_t)15;
	for (int i = 0; i < 40; i++)
		if (((uintptr_t)t[i] & ~(uintptr_t)15) != block)
			assert_false(kgc_is_live(t[i]));
	kgc_root_remove(&keep);
}

/* Objects of one size class with different pointer bits (mm/mgcalloc.c:
 * a span whose slots all have one key's bits gets no bits written by the
 * fast path): types of different maps and of one map, and untyped
 * objects of two request sizes, in
 * turn, each round in the slots the one before freed (an eighth of its
 * objects live on through the next round, so its spans are reused, not
 * given back).  A keeper only a pointer word holds must live, a decoy
 * only a non-pointer word holds must die. */
struct quad {
	uintptr_t word[4];
};

static void test_types_share_a_class(void **state)
{
	(void)state;
	enum { N = 2000 };   /* eight spans of the 32-byte class */
	static const uint8_t first[1] = { 0x1 }, last[1] = { 0x8 };
	static const struct kgc_type first_t = { sizeof(struct quad), first, "first" };
	static const struct kgc_type last_t = { sizeof(struct quad), last, "last" };
	static const struct kgc_type also_first_t = { sizeof(struct quad), first, "also first" };
	static const struct {
		const struct kgc_type *type;
		size_t size;
		unsigned keep, decoy;   /* words; decoy 4: none */
	} rounds[] = {
		{ &first_t, 32, 0, 3 }, { &last_t, 32, 3, 0 }, { NULL, 24, 2, 3 },
		{ NULL, 32, 3, 4 }, { &first_t, 32, 0, 3 }, { &also_first_t, 32, 0, 3 },
		{ &first_t, 32, 0, 3 }, { &last_t, 32, 3, 0 }, { &also_first_t, 24, 0, 3 },
	};
	assert_int_equal(ks_size_to_class(24), ks_size_to_class(32));
	static struct quad *objs[N], *held[N / 8];
	static void *keep[N], *decoy[N];
	kgc_root_add(objs, sizeof(objs));
	kgc_root_add(held, sizeof(held));
	for (unsigned r = 0; r < sizeof(rounds) / sizeof(rounds[0]); r++) {
		for (unsigned i = 0; i < N; i++) {
			objs[i] = kgc_alloc(rounds[r].size, rounds[r].type);
			assert_non_null(objs[i]);
			for (unsigned w = 0; w < rounds[r].size / 8; w++)
				assert_int_equal(objs[i]->word[w], 0);
			keep[i] = kgc_alloc_noscan(16);
			decoy[i] = rounds[r].decoy < 4 ? kgc_alloc_noscan(16) : NULL;
			objs[i]->word[rounds[r].keep] = (uintptr_t)keep[i];
			if (decoy[i])
				objs[i]->word[rounds[r].decoy] = (uintptr_t)decoy[i];
		}
		kgc_collect();
		for (unsigned i = 0; i < N; i++) {
			if (!kgc_is_live(keep[i]))
				fail_msg("round %u: object %u's pointer word %u did not keep its "
				         "target", r, i, rounds[r].keep);
			if (decoy[i] && kgc_is_live(decoy[i]))
				fail_msg("round %u: object %u's word %u is not a pointer but kept "
				         "its target", r, i, rounds[r].decoy);
			if (i % 8 == 0)
				held[i / 8] = objs[i];
			objs[i] = NULL;
		}
		kgc_collect();
	}
	kgc_root_remove(objs);
	kgc_root_remove(held);
}

/* A 10^6-long list: no recursion, no overflow of anything. */
static void test_deep_list(void **state)
{
	(void)state;
	static struct node *head;
	struct node *prev = NULL;
	for (int i = 0; i < 1000000; i++) {
		struct node *n = kgc_alloc(sizeof(struct node), &node_type);
		assert_non_null(n);
		n->edge[0] = prev;
		n->id = (uint64_t)i;
		prev = n;
	}
	head = prev;
	kgc_root_add(&head, sizeof(head));
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	assert_int_equal(s.live_objects, 1000000);
	long count = 0;
	for (struct node *n = head; n; n = n->edge[0])
		assert_int_equal(n->id, 999999 - count++);
	assert_int_equal(count, 1000000);
	head = NULL;
	kgc_collect();
	kgc_stats(&s);
	assert_int_equal(s.live_objects, 0);
	kgc_root_remove(&head);
}

/* A wide tree with a tiny mark queue: the overflow path must still mark
 * everything. */
static void test_mark_stack_overflow(void **state)
{
	(void)state;
	static struct node *root;
	root = kgc_alloc(sizeof(struct node), &node_type);
	struct node *level[K];
	for (int k = 0; k < K; k++) {
		level[k] = kgc_alloc(sizeof(struct node), &node_type);
		root->edge[k] = level[k];
		for (int j = 0; j < K; j++) {
			struct node *leaf = kgc_alloc(sizeof(struct node), &node_type);
			fill_node(leaf, (uint64_t)(k * K + j));
			level[k]->edge[j] = leaf;
		}
	}
	kgc_root_add(&root, sizeof(root));
	struct kgc_stats s0, s1;
	kgc_stats(&s0);
	kgc_set_mark_queue(2);
	kgc_collect();
	kgc_set_mark_queue(0);
	kgc_stats(&s1);
	assert_true(s1.mark_overflows > s0.mark_overflows);
	assert_int_equal(s1.live_objects, 1 + K + K * K);
	for (int k = 0; k < K; k++)
		for (int j = 0; j < K; j++)
			assert_true(node_intact(root->edge[k]->edge[j], (uint64_t)(k * K + j)));
	root = NULL;
	kgc_root_remove(&root);
	kgc_collect();
}

/* Lazy sweep: a collection finds the dead and leaves them allocated in
 * unswept spans, owed to the sweep; the statistics say so exactly, the
 * dead already read as not live, and after a full sweep the heap holds
 * exactly the live objects. */
static void test_lazy_sweep_statistics(void **state)
{
	(void)state;
	enum { N = 20000 };
	static void *keep[N];
	static void *all[N];
	uint64_t rng = ks_test_rng(__LINE__);
	kgc_collect();
	kgc_sweep(0);
	uint64_t pages = heap_free_pages();
	struct kgc_stats s0, s1, s2;
	kgc_stats(&s0);
	assert_int_equal(s0.inuse_objects, s0.live_objects);
	uint64_t kept = 0, kept_bytes = 0;
	kgc_root_add(keep, sizeof(keep));
	for (int i = 0; i < N; i++) {
		size_t size = 16 + 8 * (ks_test_rand(&rng) % 63);
		bool noscan = ks_test_rand(&rng) % 4 == 0;
		uint64_t *p = noscan ? kgc_alloc_noscan(size) : kgc_alloc(size, NULL);
		assert_non_null(p);
		p[1] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
		all[i] = p;
		if (ks_test_rand(&rng) % 3 == 0) {
			keep[i] = p;
			kept++;
			kept_bytes += ks_class_to_size[ks_size_to_class(size)];
		}
	}
	kgc_collect();
	kgc_stats(&s1);
	assert_int_equal(s1.live_objects, kept);
	assert_int_equal(s1.live_bytes, kept_bytes);
	assert_int_equal(s1.freed_objects - s0.freed_objects, N - kept);
	/* Nothing ran since: every dead object is still owed to the sweep. */
	assert_int_equal(s1.unswept_objects, N - kept);
	assert_int_equal(s1.unswept_bytes, s1.freed_bytes - s0.freed_bytes);
	assert_int_equal(s1.inuse_objects, N);
	assert_true(s1.unswept_spans > 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(kgc_is_live(all[i]), keep[i] != NULL);
	/* One span at a time, then all. */
	assert_int_equal(kgc_sweep(1), s1.unswept_spans - 1);
	assert_int_equal(kgc_sweep(0), 0);
	kgc_stats(&s2);
	assert_int_equal(s2.unswept_spans, 0);
	assert_int_equal(s2.unswept_objects, 0);
	assert_int_equal(s2.unswept_bytes, 0);
	assert_int_equal(s2.inuse_objects, kept);
	assert_int_equal(s2.inuse_bytes, kept_bytes);
	for (int i = 0; i < N; i++) {
		assert_int_equal(kgc_is_live(all[i]), keep[i] != NULL);
		if (keep[i])
			assert_int_equal(((uint64_t *)keep[i])[1],
			                 (uint64_t)i * 0x9E3779B97F4A7C15ull);
	}
	/* Everything dead: every page back. */
	memset(keep, 0, sizeof(keep));
	kgc_collect();
	kgc_sweep(0);
	kgc_root_remove(keep);
	assert_int_equal(heap_free_pages(), pages);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* An object freed by a collection is handed out once: new allocations
 * sweep on demand and reuse the dead, never a live object, never one slot
 * twice. */
static void test_lazy_sweep_hands_out_once(void **state)
{
	(void)state;
	enum { N = 12000, M = 3 * N };
	static struct node *keep[N];
	static struct node *fresh[M];
	static struct node *dead[N];
	static uintptr_t seen[N + M];
	uint64_t rng = ks_test_rng(__LINE__);
	kgc_root_add(keep, sizeof(keep));
	kgc_root_add(fresh, sizeof(fresh));
	kgc_collect();
	kgc_sweep(0);
	unsigned nkeep = 0, ndead = 0;
	for (int i = 0; i < N; i++) {
		struct node *n = kgc_alloc(sizeof(struct node), &node_type);
		assert_non_null(n);
		fill_node(n, (uint64_t)i);
		if (ks_test_rand(&rng) % 2)
			keep[nkeep++] = n;
		else
			dead[ndead++] = n;
	}
	kgc_collect();
	for (unsigned i = 0; i < ndead; i++)
		assert_false(kgc_is_live(dead[i]));
	unsigned reused = 0;
	for (int i = 0; i < M; i++) {
		fresh[i] = kgc_alloc(sizeof(struct node), &node_type);
		assert_non_null(fresh[i]);
		fill_node(fresh[i], (uint64_t)(N + i));
	}
	unsigned k = 0;
	for (unsigned i = 0; i < nkeep; i++) {
		assert_true(node_intact(keep[i], keep[i]->id));
		seen[k++] = (uintptr_t)keep[i];
	}
	for (int i = 0; i < M; i++) {
		assert_true(node_intact(fresh[i], (uint64_t)(N + i)));
		seen[k++] = (uintptr_t)fresh[i];
	}
	qsort(seen, k, sizeof(seen[0]), cmp_ptr);
	for (unsigned i = 1; i < k; i++)
		assert_true(seen[i] != seen[i - 1]);
	qsort(dead, ndead, sizeof(dead[0]), cmp_ptr);
	for (int i = 0; i < M; i++)
		reused += bsearch(&fresh[i], dead, ndead, sizeof(dead[0]), cmp_ptr) != NULL;
	assert_true(reused > 0);
	memset(keep, 0, sizeof(keep));
	memset(fresh, 0, sizeof(fresh));
	kgc_root_remove(keep);
	kgc_root_remove(fresh);
	kgc_collect();
}

/* The sweep keeps pace with allocation: whatever the last cycle left, it
 * is done by the time half the allocation the next cycle allows has been
 * made (here 4 MiB of runway: 2 MiB). */
static void test_lazy_sweep_keeps_pace(void **state)
{
	(void)state;
	kgc_collect();
	kgc_sweep(0);
	for (int i = 0; i < 200000; i++)     /* 9.6 MiB of garbage */
		assert_non_null(kgc_alloc(sizeof(struct node), &node_type));
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	assert_true(s.unswept_spans > 1000);
	assert_true(s.live_bytes < (1u << 20));
	for (int i = 0; i < (2 << 20) / 64 + 1000; i++)
		assert_non_null(kgc_alloc(64, NULL));
	kgc_stats(&s);
	assert_int_equal(s.unswept_spans, 0);
	assert_int_equal(s.unswept_objects, 0);
	kgc_collect();
}

/* kmalloc objects are neither collected nor scanned. */
static void test_kmalloc_coexists(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	void **manual = kmalloc(64);
	struct node *collected = kgc_alloc(sizeof(struct node), &node_type);
	manual[0] = collected;     /* kmalloc memory is not a root */
	kgc_collect();
	assert_false(kgc_is_live(collected));
	assert_ptr_equal(manual[0], collected);   /* untouched */
	kfree(manual);
	kgc_collect();
	assert_int_equal(heap_free_pages(), before);
}

/* GOGC: garbage alone triggers cycles and keeps the heap bounded. */
static void test_trigger(void **state)
{
	(void)state;
	struct kgc_stats s0, s1;
	kgc_stats(&s0);
	kgc_enable(true);
	for (int i = 0; i < 200000; i++)
		(void)kgc_alloc(200, NULL);
	kgc_enable(false);
	kgc_stats(&s1);
	assert_true(s1.cycles - s0.cycles >= 3);
	assert_true(s1.heap_before < (16u << 20));
	kgc_collect();
}

static void kfree_collected(void *arg)
{
	(void)arg;
	kfree(kgc_alloc(32, NULL));
}

static void root_wraps(void *arg)
{
	(void)arg;
	kgc_root_add((void *)(UINTPTR_MAX - 8), 64);
}

static void root_unmapped(void *arg)
{
	(void)arg;
	kgc_root_add((void *)0x10000, 64);
}

static void root_in_free_heap(void *arg)
{
	(void)arg;
	char *p = kmalloc(1 << 20);
	kfree(p);
	kgc_root_add(p + 4096, 64);
}

static void root_unknown(void *arg)
{
	(void)arg;
	static int x;
	kgc_root_remove(&x);
}

static void test_bad_input(void **state)
{
	(void)state;
	ks_expect_abort(kfree_collected, NULL, "managed by the collector");
	ks_expect_abort(root_wraps, NULL, "wraps around");
	ks_expect_abort(root_unmapped, NULL, "not mapped");
	ks_expect_abort(root_in_free_heap, NULL, "free heap memory");
	ks_expect_abort(root_unknown, NULL, "no root starts there");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_graphs),
		cmocka_unit_test(test_cycle_and_interior_pointer),
		cmocka_unit_test(test_noscan_hides_nothing),
		cmocka_unit_test(test_tiny_blocks),
		cmocka_unit_test(test_types_share_a_class),
		cmocka_unit_test(test_deep_list),
		cmocka_unit_test(test_mark_stack_overflow),
		cmocka_unit_test(test_lazy_sweep_statistics),
		cmocka_unit_test(test_lazy_sweep_hands_out_once),
		cmocka_unit_test(test_lazy_sweep_keeps_pace),
		cmocka_unit_test(test_kmalloc_coexists),
		cmocka_unit_test(test_trigger),
		cmocka_unit_test(test_bad_input),
	};
	return KS_TEST_MAIN("gc", tests, setup, NULL);
}
