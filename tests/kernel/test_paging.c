/*
 * Self-tests of arch/x86_64/paging.c on the live page tables: the identity
 * map, the guard pages kmain removed, 4 KiB map/unmap/query with TLB
 * invalidation (checked by touching the page), and splitting a 2 MiB page.
 */
#include "kernel/selftest.h"

#include "arch/x86_64/paging.h"
#include "arch/x86_64/trap.h"
#include "kernel/kernel.h"
#include "kernel/pagesrc.h"
#include <kspan/frame.h>

/* Far from the identity map and the page-source window. */
#define TEST_VA 0x600000000000ull

KS_SELFTEST("paging: identity map is 1:1 over RAM, MMIO and the low 4 GiB")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	uint64_t probes[] = {
		bi->image_base, 1ull << 20, 0xfee00000ull /* LAPIC */,
		(4ull << 30) - KS_PAGE_4K, bi->identity_top - KS_PAGE_4K,
		bi->memmap, bi->pt_pool,
	};
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t va = probes[i] & ~(KS_PAGE_4K - 1), pa = 0;
		if (!ks_paging_query(va, &pa, NULL))
			KT_FAIL("0x%llx is not mapped", (unsigned long long)va);
		KT_EXPECT_EQ(pa, va);
	}
	KT_EXPECT_EQ(ks_paging_query(bi->identity_top, NULL, NULL), 0);
	struct ks_pagesrc_stats ps;
	ks_pagesrc_stats(&ps);
	KT_EXPECT_EQ(ks_paging_query(ps.window_end - KS_PAGE_4K, NULL, NULL), 0);
}

KS_SELFTEST("paging: page 0 and the stack guard frame are unmapped and fault")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	uint64_t v;
	KT_EXPECT_EQ(ks_paging_query(0, NULL, NULL), 0);
	KT_EXPECT_EQ(ks_paging_query(bi->stack_base, NULL, NULL), 0);
	KT_EXPECT_EQ(ks_paging_query(bi->stack_base + KS_PAGE_4K, NULL, NULL), 1);
	KT_EXPECT_EQ(ks_paging_query(KS_PAGE_4K, NULL, NULL), 1);
	KT_EXPECT_EQ(ks_probe_read64((void *)8, &v), -1);
	KT_EXPECT_EQ(ks_probe_last_cr2(), 8);
	KT_EXPECT_EQ(ks_probe_write64((void *)(uintptr_t)(bi->stack_base + 64),
	                              1), -1);
	KT_EXPECT_EQ(ks_probe_last_cr2(), bi->stack_base + 64);
	KT_EXPECT_EQ(ks_probe_last_vector(), 14);
}

KS_SELFTEST("paging: map, write, read, unmap and query a 4 KiB page")
{
	uint64_t f1 = ks_frame_alloc(1, KS_FRAME_SIZE);
	uint64_t f2 = ks_frame_alloc(1, KS_FRAME_SIZE);
	KT_ASSERT(f1 && f2);
	KT_EXPECT_EQ(ks_paging_query(TEST_VA, NULL, NULL), 0);
	KT_ASSERT_EQ(ks_paging_map(TEST_VA, f1, KS_MAP_WRITE), 0);
	uint64_t pa = 0, fl = 0;
	KT_EXPECT_EQ(ks_paging_query(TEST_VA + 0x123, &pa, &fl), 1);
	KT_EXPECT_EQ(pa, f1 + 0x123);
	KT_EXPECT(fl & KS_PTE_WRITE);
	KT_EXPECT(!(fl & KS_PTE_LARGE));

	volatile uint64_t *v = (volatile uint64_t *)(uintptr_t)TEST_VA;
	volatile uint64_t *p1 = (volatile uint64_t *)(uintptr_t)f1;
	volatile uint64_t *p2 = (volatile uint64_t *)(uintptr_t)f2;
	v[0] = 0x6b7370616e000001ull;
	v[511] = 0xfeedface;
	KT_EXPECT_EQ(p1[0], 0x6b7370616e000001ull);
	KT_EXPECT_EQ(p1[511], 0xfeedface);

	/* Remap to another frame: the TLB must not keep the old one. */
	uint64_t old = 0;
	KT_EXPECT_EQ(ks_paging_unmap(TEST_VA, &old), 0);
	KT_EXPECT_EQ(old, f1);
	uint64_t tmp;
	KT_EXPECT_EQ(ks_probe_read64(v, &tmp), -1);
	KT_EXPECT_EQ(ks_probe_last_cr2(), TEST_VA);
	p2[0] = 42;
	KT_ASSERT_EQ(ks_paging_map(TEST_VA, f2, KS_MAP_WRITE), 0);
	KT_EXPECT_EQ(v[0], 42);

	KT_EXPECT_EQ(ks_paging_unmap(TEST_VA, &old), 0);
	KT_EXPECT_EQ(old, f2);
	KT_EXPECT_EQ(ks_paging_unmap(TEST_VA, &old), 1);
	KT_EXPECT_EQ(ks_paging_query(TEST_VA, NULL, NULL), 0);
	ks_frame_free(f1, 1);
	ks_frame_free(f2, 1);
}

KS_SELFTEST("paging: unmapping inside a 2 MiB page splits it and keeps the rest")
{
	struct ks_paging_stats s0, s1;
	ks_paging_stats(&s0);
	/* A free frame is identity mapped by a 2 MiB page (unless an earlier
	 * split already covers it: look for one that is still large). */
	uint64_t f = 0, fl = 0;
	uint64_t held[8];
	int nheld = 0;
	for (;;) {
		f = ks_frame_alloc(1, KS_FRAME_SIZE);
		KT_ASSERT(f != 0);
		KT_ASSERT_EQ(ks_paging_query(f, NULL, &fl), 1);
		if ((fl & KS_PTE_LARGE) || nheld == 8)
			break;
		held[nheld++] = f;
	}
	if (!(fl & KS_PTE_LARGE))
		KT_FAIL("no frame under a 2 MiB page found");
	uint64_t neighbour = (f & (KS_PAGE_2M - 1)) ? f - KS_PAGE_4K :
	                                              f + KS_PAGE_4K;
	*(volatile uint64_t *)(uintptr_t)f = 0x1234;
	KT_ASSERT_EQ(ks_paging_unmap(f, NULL), 0);
	ks_paging_stats(&s1);
	KT_EXPECT_EQ(s1.splits, s0.splits + 1);
	KT_EXPECT_EQ(ks_paging_query(f, NULL, NULL), 0);
	uint64_t pa = 0;
	KT_EXPECT_EQ(ks_paging_query(neighbour, &pa, &fl), 1);
	KT_EXPECT_EQ(pa, neighbour);
	KT_EXPECT(!(fl & KS_PTE_LARGE));
	uint64_t v;
	KT_EXPECT_EQ(ks_probe_read64((void *)(uintptr_t)f, &v), -1);
	KT_EXPECT_EQ(ks_probe_read64((void *)(uintptr_t)neighbour, &v), 0);
	/* Map it back (now a 4 KiB entry in the split table). */
	KT_ASSERT_EQ(ks_paging_map(f, f, KS_MAP_WRITE), 0);
	KT_EXPECT_EQ(*(volatile uint64_t *)(uintptr_t)f, 0x1234);
	ks_frame_free(f, 1);
	while (nheld > 0)
		ks_frame_free(held[--nheld], 1);
}
