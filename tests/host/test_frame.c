/*
 * Host tests for phys/frame.c, the physical frame map.
 *
 * "Physical memory" is a host buffer: phys_to_virt(p) = buffer + p, and it
 * aborts if the frame map touches anything past the buffer (only the
 * bitmaps are ever written, so maps may describe far more RAM than the
 * buffer holds as long as the bitmaps land inside it).  Each test keeps
 * its own picture of the map to check every address the allocator returns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/memmap.h>
#include <kspan/frame.h>
#include "tests/host/support.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define FRAME  KS_FRAME_SIZE

#define R(b, l, t) { (b), (l), (t), 0 }

#define HOST_MEM_SIZE MiB(24)
static uint8_t *host_mem;

static void *test_p2v(uint64_t phys)
{
	if (phys >= HOST_MEM_SIZE) {
		fprintf(stderr, "test_p2v: 0x%llx is outside the test buffer\n",
		        (unsigned long long)phys);
		abort();
	}
	return host_mem + phys;
}

static int setup(void **state)
{
	(void)state;
	host_mem = aligned_alloc(4096, HOST_MEM_SIZE);
	return host_mem ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(host_mem);
	host_mem = NULL;
	return 0;
}

/* ---- The test's own view of a map ---------------------------------------- */

struct view {
	const struct ks_memrange *map;
	size_t n;
	int reclaim;
};

static const struct ks_memrange *view_find(const struct view *v, uint64_t p)
{
	for (size_t i = 0; i < v->n; i++)
		if (p >= v->map[i].base && p - v->map[i].base < v->map[i].len)
			return &v->map[i];
	return NULL;
}

static int view_is_free_ram(const struct view *v, uint64_t p)
{
	const struct ks_memrange *r = view_find(v, p);
	return r && ks_memtype_is_free(r->type, v->reclaim);
}

/* Free-RAM frames in the map, frame 0 excluded. */
static uint64_t view_usable(const struct view *v)
{
	uint64_t frames = 0;
	for (size_t i = 0; i < v->n; i++)
		if (ks_memtype_is_free(v->map[i].type, v->reclaim))
			frames += v->map[i].len / FRAME -
			          (v->map[i].base == 0 ? 1 : 0);
	return frames;
}

static uint64_t view_bitmap_bytes(const struct view *v)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (!ks_memtype_is_free(v->map[i].type, v->reclaim))
			continue;
		uint64_t f = v->map[i].len / FRAME - (v->map[i].base == 0);
		bytes += (f + 63) / 64 * 8;
	}
	return bytes;
}

static void init_view(struct view *v, const struct ks_memrange *map,
                      size_t n, int reclaim)
{
	v->map = map;
	v->n = n;
	v->reclaim = reclaim;
	assert_int_equal(ks_frame_init(map, n, reclaim, test_p2v), 0);

	struct ks_frame_stats st;
	ks_frame_stats(&st);
	assert_int_equal(st.usable_frames, view_usable(v));
	assert_int_equal(st.free_frames, st.usable_frames - st.meta_frames);
	assert_int_equal(ks_frame_free_bytes(), st.free_frames * FRAME);
	/* The bitmaps plus a small descriptor per map entry. */
	uint64_t bb = view_bitmap_bytes(v);
	assert_true(st.meta_frames >= (bb + FRAME - 1) / FRAME);
	assert_true(st.meta_frames <= (bb + 64 * n + FRAME - 1) / FRAME);
	ks_frame_check();
}

#define INIT(v, map, reclaim) \
	init_view(v, map, sizeof(map) / sizeof(map[0]), reclaim)

/* The meta frames: a run of in-use frames at the start of a free range,
 * whose frames the allocator never hands out.  Returns its base. */
static uint64_t find_meta(const struct view *v)
{
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	for (size_t i = 0; i < v->n; i++) {
		if (!ks_memtype_is_free(v->map[i].type, v->reclaim))
			continue;
		uint64_t b = v->map[i].base ? v->map[i].base : FRAME;
		if (b >= v->map[i].base + v->map[i].len)
			continue;
		/* The first free range that is large enough holds it. */
		if ((v->map[i].base + v->map[i].len - b) / FRAME <
		    st.meta_frames)
			continue;
		for (uint64_t k = 0; k < st.meta_frames; k++)
			assert_int_equal(ks_frame_state(b + k * FRAME), 1);
		return b;
	}
	fail_msg("no range holds the frame map");
	return 0;
}

/*
 * Allocate single frames until none is left.  Checks each one: aligned,
 * free RAM, not frame 0, not handed out twice, state 1 afterwards.
 * Returns how many; their addresses go to out[] (cap entries).
 */
static uint64_t alloc_all_singles(const struct view *v, uint64_t *out,
                                  uint64_t cap, uint8_t *seen,
                                  uint64_t seen_frames)
{
	uint64_t count = 0, p;
	while ((p = ks_frame_alloc(1, FRAME)) != 0) {
		assert_int_equal(p % FRAME, 0);
		assert_true(view_is_free_ram(v, p));
		assert_true(p / FRAME < seen_frames);
		if (seen[p / FRAME])
			fail_msg("frame 0x%llx handed out twice",
			         (unsigned long long)p);
		seen[p / FRAME] = 1;
		assert_int_equal(ks_frame_state(p), 1);
		assert_true(count < cap);
		out[count++] = p;
	}
	return count;
}

/* ---- Tests ---------------------------------------------------------------- */

static const struct ks_memrange small_map[] = {
	R(0, MiB(1), KS_MEM_USABLE),
	R(MiB(1), MiB(1), KS_MEM_RESERVED),
	R(MiB(2), MiB(4), KS_MEM_USABLE),
	R(MiB(6), MiB(1), KS_MEM_RECLAIMABLE),
	R(MiB(7), KiB(64), KS_MEM_KERNEL),
	R(MiB(8), MiB(2), KS_MEM_USABLE),
	R(MiB(12), MiB(1), KS_MEM_MMIO),
};

static void test_totals_and_states(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	assert_int_equal(st.usable_frames, 255 + 1024 + 512);
	assert_int_equal(st.ranges, 3);
	assert_int_equal(st.meta_frames, 1);
	assert_int_equal(st.allocs, 0);
	assert_int_equal(st.frees, 0);

	/* Frame 0 is never free RAM; the bitmaps take frame 1. */
	assert_int_equal(ks_frame_state(0), -1);
	assert_int_equal(ks_frame_state(FRAME), 1);
	assert_int_equal(find_meta(&v), FRAME);
	assert_int_equal(ks_frame_state(2 * FRAME), 0);
	assert_int_equal(ks_frame_state(2 * FRAME + 123), 0);
	assert_int_equal(ks_frame_state(MiB(1)), -1);
	assert_int_equal(ks_frame_state(MiB(2)), 0);
	assert_int_equal(ks_frame_state(MiB(6)), -1);     /* reclaim off */
	assert_int_equal(ks_frame_state(MiB(7)), -1);
	assert_int_equal(ks_frame_state(MiB(10) - FRAME), 0);
	assert_int_equal(ks_frame_state(MiB(10)), -1);    /* hole */
	assert_int_equal(ks_frame_state(MiB(12)), -1);
	assert_int_equal(ks_frame_state(GiB(100)), -1);
}

static void test_alloc_all_free_all(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	struct ks_frame_stats st0, st;
	ks_frame_stats(&st0);

	const uint64_t nf = MiB(16) / FRAME;
	uint8_t *seen = calloc(nf, 1);
	uint64_t *got = calloc(nf, sizeof(uint64_t));
	uint64_t count = alloc_all_singles(&v, got, nf, seen, nf);
	assert_int_equal(count, st0.free_frames);
	ks_frame_check();
	ks_frame_stats(&st);
	assert_int_equal(st.free_frames, 0);
	assert_int_equal(st.allocs, count);
	assert_int_equal(st.alloc_fails, 1);
	assert_int_equal(ks_frame_free_bytes(), 0);
	/* Every free-RAM frame but frame 0 and the bitmaps' was handed out. */
	for (uint64_t f = 1; f < nf; f++)
		if (view_is_free_ram(&v, f * FRAME) && f != 1)
			assert_int_equal(seen[f], 1);
	/* Nothing larger fits either. */
	assert_int_equal(ks_frame_alloc(2, FRAME), 0);
	assert_int_equal(ks_frame_alloc(1, KiB(64)), 0);

	/* Free in a scrambled order. */
	uint64_t seed = ks_test_rng(__LINE__);
	for (uint64_t i = count; i > 1; i--) {
		uint64_t j = ks_test_rand(&seed) % i;
		uint64_t t = got[i - 1];
		got[i - 1] = got[j];
		got[j] = t;
	}
	for (uint64_t i = 0; i < count; i++) {
		ks_frame_free(got[i], 1);
		assert_int_equal(ks_frame_state(got[i]), 0);
	}
	ks_frame_check();
	ks_frame_stats(&st);
	assert_int_equal(st.free_frames, st0.free_frames);
	assert_int_equal(st.usable_frames, st0.usable_frames);
	assert_int_equal(st.frees, count);

	/* And everything can be had again (the next-fit hint wraps). */
	memset(seen, 0, nf);
	assert_int_equal(alloc_all_singles(&v, got, nf, seen, nf), count);
	free(seen);
	free(got);
}

static void test_contiguous_aligned(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	const uint64_t nf = MiB(16) / FRAME;
	uint8_t *seen = calloc(nf, 1);
	uint64_t count = 0, p;
	struct ks_frame_stats st0, st;
	ks_frame_stats(&st0);

	while ((p = ks_frame_alloc(16, KiB(64))) != 0) {
		assert_int_equal(p % KiB(64), 0);
		const struct ks_memrange *r = view_find(&v, p);
		assert_non_null(r);
		assert_true(ks_memtype_is_free(r->type, 0));
		assert_true(p + 16 * FRAME <= r->base + r->len);
		for (int k = 0; k < 16; k++) {
			assert_int_equal(seen[p / FRAME + k], 0);
			seen[p / FRAME + k] = 1;
			assert_int_equal(ks_frame_state(p + k * FRAME), 1);
		}
		count++;
	}
	/* Every aligned 64 KiB block of free RAM was used, except the first
	 * (frame 0 and the bitmaps at frame 1 are in it): 15 + 64 + 32. */
	assert_int_equal(count, 15 + 64 + 32);
	ks_frame_check();
	ks_frame_stats(&st);
	assert_int_equal(st.free_frames, st0.free_frames - 16 * count);
	/* The first block's 14 frames are still free, as singles or a run. */
	assert_int_equal(st.free_frames, 14);
	uint64_t q = ks_frame_alloc(14, FRAME);
	assert_int_equal(q, 2 * FRAME);
	assert_int_equal(ks_frame_alloc(1, FRAME), 0);
	ks_frame_free(q, 14);

	/* Odd sizes and alignments: a run of 3 aligned to 8 KiB lands at
	 * frame 2 (frame 0 and 1 are taken). */
	uint64_t a = ks_frame_alloc(3, 2 * FRAME);
	assert_int_equal(a, 2 * FRAME);
	uint64_t b = ks_frame_alloc(3, 2 * FRAME);
	assert_int_equal(b, 6 * FRAME);
	ks_frame_free(a, 3);
	ks_frame_free(b, 3);
	free(seen);
}

static void test_fragmentation(void **state)
{
	(void)state;
	static const struct ks_memrange map[] = {
		R(MiB(1), MiB(1), KS_MEM_USABLE),
	};
	struct view v;
	INIT(&v, map, 0);
	uint64_t got[256];
	uint8_t seen[1024] = { 0 };
	uint64_t count = alloc_all_singles(&v, got, 256, seen, 1024);
	assert_int_equal(count, 255);
	/* Free every other frame: half the memory is free, no two frames
	 * are next to each other. */
	for (uint64_t i = 0; i < count; i += 2)
		ks_frame_free(got[i], 1);
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	assert_int_equal(st.free_frames, 128);
	uint64_t fails = st.alloc_fails;
	assert_int_equal(ks_frame_alloc(2, FRAME), 0);
	assert_int_equal(ks_frame_alloc(2, 2 * FRAME), 0);
	assert_int_equal(ks_frame_alloc(64, FRAME), 0);
	ks_frame_stats(&st);
	assert_int_equal(st.alloc_fails, fails + 3);
	assert_int_equal(st.free_frames, 128);
	/* Single frames still work, and only the freed ones come back. */
	for (uint64_t i = 0; i < 128; i++) {
		uint64_t p = ks_frame_alloc(1, FRAME);
		assert_int_not_equal(p, 0);
		assert_int_equal(((p - MiB(1)) / FRAME - 1) % 2, 0);
	}
	assert_int_equal(ks_frame_alloc(1, FRAME), 0);

	/* A run that fits only in one spot is found there. */
	for (uint64_t i = 100; i < 110; i++)
		ks_frame_free(got[i], 1);
	assert_int_equal(ks_frame_alloc(10, FRAME), got[100]);
	assert_int_equal(ks_frame_alloc(1, FRAME), 0);
	ks_frame_check();
}

static void test_bitmap_placement(void **state)
{
	(void)state;
	/* The first free range is too small for 4 GiB worth of bitmap; the
	 * bitmaps go to the start of the first range that can hold them. */
	static const struct ks_memrange map[] = {
		R(0, 3 * FRAME, KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_RESERVED),
		R(MiB(2), 8 * FRAME, KS_MEM_USABLE),
		R(MiB(16), GiB(4), KS_MEM_USABLE),
		R(GiB(4) + MiB(16), GiB(2), KS_MEM_MMIO),
	};
	struct view v;
	INIT(&v, map, 0);
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	/* 1 Mi frames: 128 KiB of bitmap = 32 frames, plus the descriptors. */
	assert_int_equal(st.meta_frames, 33);
	assert_int_equal(st.ranges, 3);
	assert_int_equal(find_meta(&v), MiB(16));
	assert_int_equal(ks_frame_state(MiB(16) + 32 * FRAME), 1);
	assert_int_equal(ks_frame_state(MiB(16) + 33 * FRAME), 0);
	assert_int_equal(ks_frame_state(FRAME), 0);
	assert_int_equal(ks_frame_state(MiB(2)), 0);

	/* All of it can be handed out, one frame at a time. */
	uint64_t count = 0, p, last = 0;
	while ((p = ks_frame_alloc(1, FRAME)) != 0) {
		assert_true(view_is_free_ram(&v, p));
		assert_true(p < MiB(16) || p >= MiB(16) + 33 * FRAME);
		count++;
		last = p;
	}
	assert_int_equal(count, st.free_frames);
	/* Next-fit began in the range holding the bitmaps, then wrapped to
	 * the low ranges: the last frame handed out ends the third range. */
	assert_int_equal(last, MiB(2) + 7 * FRAME);
	/* A 2 MiB-aligned 2 MiB run after freeing one. */
	ks_frame_check();
	ks_frame_free(MiB(32), 512);
	assert_int_equal(ks_frame_alloc(512, MiB(2)), MiB(32));
	ks_frame_check();
}

static void test_many_ranges_with_holes(void **state)
{
	(void)state;
	/* 120 ranges of random size and type with random holes between. */
	struct ks_memrange map[120];
	uint64_t seed = ks_test_rng(__LINE__), base = 0;
	for (size_t i = 0; i < 120; i++) {
		base += FRAME * (ks_test_rand(&seed) % 3);   /* hole, maybe */
		uint64_t len = FRAME * (1 + ks_test_rand(&seed) % 30);
		uint32_t t = (uint32_t)(ks_test_rand(&seed) % 3);
		map[i].base = base;
		map[i].len = len;
		map[i].type = t == 0 ? KS_MEM_RESERVED
		            : t == 1 ? KS_MEM_RECLAIMABLE : KS_MEM_USABLE;
		map[i].flags = 0;
		base += len;
	}
	assert_true(base < MiB(16));
	long n = ks_memmap_normalize(map, 120, 120, NULL);
	assert_true(n > 30);

	for (int reclaim = 0; reclaim <= 1; reclaim++) {
		struct view v;
		init_view(&v, map, (size_t)n, reclaim);
		struct ks_frame_stats st0, st;
		ks_frame_stats(&st0);
		const uint64_t nf = MiB(16) / FRAME;
		uint8_t *seen = calloc(nf, 1);
		uint64_t *got = calloc(nf, sizeof(uint64_t));
		uint64_t count = alloc_all_singles(&v, got, nf, seen, nf);
		assert_int_equal(count, st0.free_frames);
		for (uint64_t i = 0; i < count; i++)
			ks_frame_free(got[i], 1);
		ks_frame_stats(&st);
		assert_int_equal(st.free_frames, st0.free_frames);

		/* Runs of 4 aligned to 16 KiB, each inside one range; count
		 * the aligned windows the map has room for, to compare. */
		uint64_t windows = 0;
		for (long i = 0; i < n; i++) {
			if (!ks_memtype_is_free(map[i].type, reclaim))
				continue;
			uint64_t lo = map[i].base, hi = lo + map[i].len;
			for (uint64_t w = (lo + 4 * FRAME - 1) / (4 * FRAME) *
			                  (4 * FRAME);
			     w + 4 * FRAME <= hi; w += 4 * FRAME) {
				int ok = 1;
				for (int k = 0; k < 4; k++)
					if (w + k * FRAME == 0 ||
					    ks_frame_state(w + k * FRAME) != 0)
						ok = 0;
				windows += (uint64_t)ok;
			}
		}
		assert_true(windows > 10);
		uint64_t p, runs = 0;
		memset(seen, 0, nf);
		while ((p = ks_frame_alloc(4, 4 * FRAME)) != 0) {
			const struct ks_memrange *r = view_find(&v, p);
			assert_non_null(r);
			assert_true(ks_memtype_is_free(r->type, reclaim));
			assert_true(p + 4 * FRAME <= r->base + r->len);
			assert_int_equal(p % (4 * FRAME), 0);
			for (int k = 0; k < 4; k++) {
				assert_int_equal(seen[p / FRAME + k], 0);
				seen[p / FRAME + k] = 1;
			}
			got[runs++] = p;
		}
		assert_int_equal(runs, windows);
		ks_frame_check();
		for (uint64_t i = 0; i < runs; i++)
			ks_frame_free(got[i], 4);
		ks_frame_stats(&st);
		assert_int_equal(st.free_frames, st0.free_frames);
		free(seen);
		free(got);
	}
}

static void test_reclaim_boot(void **state)
{
	(void)state;
	struct view v;
	struct ks_frame_stats off, on;
	INIT(&v, small_map, 0);
	ks_frame_stats(&off);
	assert_int_equal(ks_frame_state(MiB(6)), -1);
	INIT(&v, small_map, 1);
	ks_frame_stats(&on);
	assert_int_equal(on.usable_frames, off.usable_frames + 256);
	assert_int_equal(on.ranges, off.ranges + 1);
	assert_int_equal(ks_frame_state(MiB(6)), 0);

	/* With reclaim on, reclaimable frames are handed out too. */
	const uint64_t nf = MiB(16) / FRAME;
	uint8_t *seen = calloc(nf, 1);
	uint64_t *got = calloc(nf, sizeof(uint64_t));
	uint64_t count = alloc_all_singles(&v, got, nf, seen, nf);
	assert_int_equal(count, on.free_frames);
	for (uint64_t f = MiB(6) / FRAME; f < MiB(7) / FRAME; f++)
		assert_int_equal(seen[f], 1);
	free(seen);
	free(got);
}

static void test_init_failures_and_reinit(void **state)
{
	(void)state;
	/* No free RAM at all. */
	static const struct ks_memrange reserved_only[] = {
		R(0, MiB(1), KS_MEM_RESERVED),
		R(MiB(1), MiB(1), KS_MEM_RECLAIMABLE),
	};
	assert_int_equal(ks_frame_init(reserved_only, 2, 0, test_p2v), -1);
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	assert_int_equal(st.usable_frames, 0);
	assert_int_equal(st.free_frames, 0);
	assert_int_equal(ks_frame_alloc(1, FRAME), 0);
	assert_int_equal(ks_frame_state(MiB(1)), -1);

	/* Only frame 0 is free RAM: it is never used, not even for the map. */
	static const struct ks_memrange frame0[] = {
		R(0, FRAME, KS_MEM_USABLE),
	};
	assert_int_equal(ks_frame_init(frame0, 1, 0, test_p2v), -1);
	assert_int_equal(ks_frame_alloc(1, FRAME), 0);

	/* Free RAM that cannot hold its own bitmap: 3 frames of RAM, each
	 * range apart, 200 map entries of descriptors. */
	static struct ks_memrange crowded[200];
	for (size_t i = 0; i < 200; i++) {
		crowded[i].base = MiB(1) + i * 2 * FRAME;
		crowded[i].len = FRAME;
		crowded[i].type = i < 3 ? KS_MEM_USABLE : KS_MEM_MMIO;
		crowded[i].flags = 0;
	}
	assert_int_equal(ks_frame_init(crowded, 200, 0, test_p2v), -1);
	ks_frame_stats(&st);
	assert_int_equal(st.meta_frames, 0);

	/* An empty map. */
	assert_int_equal(ks_frame_init(NULL, 0, 0, test_p2v), -1);

	/* A good init after all that, twice over, starts from scratch. */
	struct view v;
	INIT(&v, small_map, 0);
	uint64_t p = ks_frame_alloc(8, FRAME);
	assert_int_not_equal(p, 0);
	INIT(&v, small_map, 0);
	assert_int_equal(ks_frame_state(p), 0);
	ks_frame_stats(&st);
	assert_int_equal(st.allocs, 0);
	assert_int_equal(st.free_frames, st.usable_frames - st.meta_frames);
}

/* ---- Death tests ---------------------------------------------------------- */

static void do_free(void *arg)
{
	const uint64_t *a = arg;
	ks_frame_free(a[0], (size_t)a[1]);
}

static void expect_free_abort(uint64_t phys, uint64_t n, const char *want)
{
	uint64_t args[2] = { phys, n };
	ks_expect_abort(do_free, args, want);
}

static void test_bad_frees(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	uint64_t p = ks_frame_alloc(4, FRAME);
	assert_int_not_equal(p, 0);
	char want[160];

	/* Double free. */
	ks_frame_free(p, 4);
	snprintf(want, sizeof(want), "ks_frame_free: frame 0x%llx is not in "
	         "use (double free?)", (unsigned long long)p);
	expect_free_abort(p, 1, want);
	/* Never allocated. */
	snprintf(want, sizeof(want), "frame 0x%llx is not in use",
	         (unsigned long long)(MiB(9)));
	expect_free_abort(MiB(9), 1, want);

	/* Partly allocated run: the free frame is named, nothing is freed. */
	uint64_t q = ks_frame_alloc(4, FRAME);
	ks_frame_free(q + 2 * FRAME, 1);
	snprintf(want, sizeof(want), "frame 0x%llx is not in use (double "
	         "free?) (freeing 4 frames at 0x%llx)",
	         (unsigned long long)(q + 2 * FRAME), (unsigned long long)q);
	expect_free_abort(q, 4, want);
	assert_int_equal(ks_frame_state(q), 1);

	/* Reserved, reclaimable-when-not-reclaimed, kernel, MMIO. */
	expect_free_abort(MiB(1), 1, "ks_frame_free: frame 0x100000 is not "
	                  "free RAM (type reserved)");
	expect_free_abort(MiB(6) + FRAME, 1, "frame 0x601000 is not free RAM "
	                  "(type reclaimable)");
	expect_free_abort(MiB(7), 1, "frame 0x700000 is not free RAM (type "
	                  "kernel)");
	expect_free_abort(MiB(12), 1, "(type mmio)");
}

static void test_bad_frees_more(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);

	expect_free_abort(0, 1, "frame 0x0 is never handed out");
	expect_free_abort(FRAME, 1, "frame 0x1000 holds the frame map's own "
	                  "bitmaps");
	expect_free_abort(MiB(10), 1, "frame 0xa00000 is not in the memory "
	                  "map");
	expect_free_abort(MiB(2) + 12, 1, "address 0x20000c is not frame "
	                  "aligned");
	expect_free_abort(MiB(2), 0, "n is 0");

	/* A run that runs off the end of its range. */
	uint64_t last = MiB(6) - FRAME;
	uint64_t p;
	while ((p = ks_frame_alloc(1, FRAME)) != 0 && p != last)
		;
	assert_int_equal(p, last);
	expect_free_abort(last, 2, "frame 0x600000 is not free RAM (type "
	                  "reclaimable)");
}

static void do_alloc(void *arg)
{
	const uint64_t *a = arg;
	ks_frame_alloc((size_t)a[0], (size_t)a[1]);
}

static void do_init_unnormalized(void *arg)
{
	(void)arg;
	static const struct ks_memrange bad[] = {
		R(MiB(2), MiB(1), KS_MEM_USABLE),
		R(MiB(1), MiB(2), KS_MEM_USABLE),
	};
	ks_frame_init(bad, 2, 0, test_p2v);
}

static void do_init_unaligned(void *arg)
{
	(void)arg;
	static const struct ks_memrange bad[] = {
		R(MiB(2), 100, KS_MEM_USABLE),
	};
	ks_frame_init(bad, 1, 0, test_p2v);
}

/* Scribble over the bitmaps (they follow the descriptors in frame 1; a
 * descriptor is at most 64 bytes, and small_map's bitmaps reach past
 * 7 * 64 bytes) so that used bits no longer match the free counts. */
static void do_corrupt_and_check(void *arg)
{
	(void)arg;
	memset(host_mem + FRAME + 7 * 64, 0xff, FRAME - 7 * 64);
	ks_frame_check();
}

static void test_check_catches_corruption(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	ks_expect_abort(do_corrupt_and_check, NULL, "ks_frame_check: range "
	                "at 0x");
	/* The child's scribbling did not reach the parent's map. */
	ks_frame_check();
}

static void test_bad_calls(void **state)
{
	(void)state;
	struct view v;
	INIT(&v, small_map, 0);
	uint64_t a0[2] = { 0, FRAME };
	ks_expect_abort(do_alloc, a0, "ks_frame_alloc: n is 0");
	uint64_t a1[2] = { 1, 3 * FRAME };
	ks_expect_abort(do_alloc, a1, "align 0x3000 is not a power of two");
	uint64_t a2[2] = { 1, 512 };
	ks_expect_abort(do_alloc, a2, "align 0x200 is not a power of two");
	ks_expect_abort(do_init_unnormalized, NULL, "ks_frame_init: map entry "
	                "1 (0x100000 +0x200000, type 1) is out of order");
	ks_expect_abort(do_init_unaligned, NULL, "map entry 0 (0x200000 "
	                "+0x64, type 1) is empty or not frame aligned");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totals_and_states),
		cmocka_unit_test(test_alloc_all_free_all),
		cmocka_unit_test(test_contiguous_aligned),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_bitmap_placement),
		cmocka_unit_test(test_many_ranges_with_holes),
		cmocka_unit_test(test_reclaim_boot),
		cmocka_unit_test(test_init_failures_and_reinit),
		cmocka_unit_test(test_bad_frees),
		cmocka_unit_test(test_bad_frees_more),
		cmocka_unit_test(test_bad_calls),
		cmocka_unit_test(test_check_catches_corruption),
	};
	return KS_TEST_MAIN("frame", tests, setup, teardown);
}
