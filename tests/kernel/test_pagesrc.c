/*
 * Self-tests of the kernel's page source (kernel/pagesrc.c): reserve,
 * commit and decommit as mm/ uses them, with the frames they take checked
 * against the frame map.
 */
#include "kernel/selftest.h"

#include <kspan/platform.h>
#include "arch/x86_64/paging.h"
#include "arch/x86_64/trap.h"
#include "kernel/kernel.h"
#include "kernel/pagesrc.h"
#include "tests/kernel/testlib.h"
#include <kspan/frame.h>

static uint64_t free_frames(void)
{
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	return st.free_frames;
}

KS_SELFTEST("page source: reserve is aligned, in the window, never overlaps")
{
	struct ks_pagesrc_stats st;
	ks_pagesrc_stats(&st);
	uint8_t *a = ks_plat_reserve(3 * 4096, 4096);
	uint8_t *b = ks_plat_reserve(5000, 1u << 21);
	uint8_t *c = ks_plat_reserve(4096, 4096);
	KT_ASSERT(a && b && c);
	KT_EXPECT((uint64_t)(uintptr_t)a >= st.window_base);
	KT_EXPECT_EQ((uintptr_t)b & ((1u << 21) - 1), 0);
	KT_EXPECT(b >= a + 3 * 4096);
	KT_EXPECT(c >= b + 8192);
	KT_EXPECT((uint64_t)(uintptr_t)c + 4096 <= st.window_end);
	KT_EXPECT_EQ(ks_paging_query((uint64_t)(uintptr_t)a, NULL, NULL), 0);
	KT_EXPECT(ks_plat_reserve(st.window_end - st.window_base, 4096) == NULL);
}

KS_SELFTEST("page source: commit maps zeroed frames, decommit gives them back")
{
	enum { PAGES = 16 };
	uint8_t *r = ks_plat_reserve(PAGES * 4096, 4096);
	KT_ASSERT(r != NULL);
	/* Warm up: the first commit in a region may take page-table frames,
	 * which stay. */
	KT_ASSERT_EQ(ks_plat_commit(r, PAGES * 4096), 0);
	ks_plat_decommit(r, PAGES * 4096);

	uint64_t before = free_frames();
	KT_ASSERT_EQ(ks_plat_commit(r, PAGES * 4096), 0);
	KT_EXPECT_EQ(free_frames(), before - PAGES);
	for (int i = 0; i < PAGES; i++) {
		uint64_t pa = 0;
		if (!ks_paging_query((uint64_t)(uintptr_t)(r + i * 4096), &pa,
		                     NULL))
			KT_FAIL("page %d not mapped after commit", i);
		KT_EXPECT_EQ(ks_frame_state(pa), 1);
	}
	for (int i = 0; i < PAGES * 4096; i += 8)
		if (*(uint64_t *)(r + i) != 0)
			KT_FAIL("committed memory not zero at +%d", i);
	for (int i = 0; i < PAGES * 4096; i += 8)
		*(uint64_t *)(r + i) = 0xdeadbeefdeadbeefull;

	/* Idempotent: committing again takes nothing and keeps the data. */
	KT_EXPECT_EQ(ks_plat_commit(r, PAGES * 4096), 0);
	KT_EXPECT_EQ(free_frames(), before - PAGES);
	KT_EXPECT_EQ(*(uint64_t *)(r + 4096 * 7), 0xdeadbeefdeadbeefull);

	ks_plat_decommit(r + 4096, 4096);       /* one page in the middle */
	KT_EXPECT_EQ(free_frames(), before - PAGES + 1);
	uint64_t v;
	KT_EXPECT_EQ(ks_probe_read64(r + 4096, &v), -1);
	KT_EXPECT_EQ(ks_probe_read64(r, &v), 0);
	ks_plat_decommit(r, PAGES * 4096);
	KT_EXPECT_EQ(free_frames(), before);
	KT_EXPECT_EQ(ks_probe_read64(r + 4096 * 3, &v), -1);

	/* Recommitted memory reads zero again. */
	KT_ASSERT_EQ(ks_plat_commit(r, 4096), 0);
	KT_EXPECT_EQ(*(uint64_t *)r, 0);
	ks_plat_decommit(r, 4096);
	KT_EXPECT_EQ(free_frames(), before);
}

KS_SELFTEST("page source: commit fails cleanly when frames run out")
{
	enum { PAGES = 8, LEFT = 3 };
	uint8_t *r = ks_plat_reserve(PAGES * 4096, 4096);
	KT_ASSERT(r != NULL);
	KT_ASSERT_EQ(ks_plat_commit(r, PAGES * 4096), 0);  /* tables */
	ks_plat_decommit(r, PAGES * 4096);

	uint64_t before = free_frames();
	struct kt_grab g;
	kt_grab_frames(&g, LEFT);
	KT_EXPECT_EQ(free_frames(), LEFT);
	int rc = ks_plat_commit(r, PAGES * 4096);
	uint64_t left = free_frames();
	ks_plat_decommit(r, PAGES * 4096);
	uint64_t after_decommit = free_frames();
	kt_release_frames(&g);
	KT_EXPECT_EQ(rc, -1);
	KT_EXPECT_EQ(left, 0);
	KT_EXPECT_EQ(after_decommit, LEFT);
	KT_EXPECT_EQ(free_frames(), before);
}
