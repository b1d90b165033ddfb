/*
 * Host tests for boot/efi_memmap.c: UEFI memory map -> kspan memory map.
 *
 * Synthetic firmware maps are laid out with the descriptor stride a
 * firmware chooses (40, 48, 56 bytes; the bytes past the 40-byte descriptor
 * are filled with junk so a walk that ignores the stride reads garbage),
 * unsorted, overlapping, with zero-length entries, unknown and OEM types and
 * kernel carve-outs.  Every successful result is checked against the
 * guarantees of include/kspan/memmap.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/memmap.h>
#include "boot/efi_memmap.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define PAGE   4096u

/* A firmware map under construction. */
struct fwmap {
	unsigned char buf[64 * 64];
	size_t stride;
	size_t n;
};

static void fw_init(struct fwmap *m, size_t stride)
{
	memset(m->buf, 0xa5, sizeof(m->buf));
	m->stride = stride;
	m->n = 0;
}

static void fw_add(struct fwmap *m, uint32_t type, uint64_t base,
                   uint64_t pages)
{
	assert_true((m->n + 1) * m->stride <= sizeof(m->buf));
	struct ks_efi_desc d = {
		.type = type, .pad = 0x5a5a5a5a, .phys_start = base,
		.virt_start = 0xdeadbeef000ull, .npages = pages,
		.attribute = 0xf,
	};
	memcpy(m->buf + m->n * m->stride, &d, sizeof(d));
	m->n++;
}

static size_t fw_size(const struct fwmap *m)
{
	return m->n * m->stride;
}

static void check_normalized(const struct ks_memrange *map, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(map[i].type >= KS_MEM_USABLE &&
		            map[i].type < KS_MEM_TYPE_MAX);
		assert_true(map[i].len > 0);
		assert_int_equal(map[i].base % PAGE, 0);
		assert_int_equal(map[i].len % PAGE, 0);
		assert_int_equal(map[i].flags, 0);
		if (i > 0) {
			uint64_t prev_end = map[i - 1].base + map[i - 1].len;
			assert_true(prev_end <= map[i].base);
			assert_false(prev_end == map[i].base &&
			             map[i - 1].type == map[i].type);
		}
	}
}

static long translate(const struct fwmap *m, const struct ks_memrange *carve,
                      size_t ncarve, struct ks_memrange *out, size_t cap,
                      struct ks_efi_map_error *err)
{
	long n = ks_efi_memmap_translate(m->buf, fw_size(m), m->stride, carve,
	                                 ncarve, out, cap, err);
	if (n >= 0)
		check_normalized(out, (size_t)n);
	return n;
}

static void expect_range(const struct ks_memrange *r, uint64_t base,
                         uint64_t len, uint32_t type)
{
	assert_int_equal(r->base, base);
	assert_int_equal(r->len, len);
	assert_int_equal(r->type, type);
}

/* ---- Types ------------------------------------------------------------ */

static void test_type_table(void **state)
{
	(void)state;
	static const struct { uint32_t efi, ks; } t[] = {
		{ KS_EFI_RESERVED, KS_MEM_RESERVED },
		{ KS_EFI_LOADER_CODE, KS_MEM_RECLAIMABLE },
		{ KS_EFI_LOADER_DATA, KS_MEM_RECLAIMABLE },
		{ KS_EFI_BOOT_SERVICES_CODE, KS_MEM_RECLAIMABLE },
		{ KS_EFI_BOOT_SERVICES_DATA, KS_MEM_RECLAIMABLE },
		{ KS_EFI_RUNTIME_SERVICES_CODE, KS_MEM_FIRMWARE },
		{ KS_EFI_RUNTIME_SERVICES_DATA, KS_MEM_FIRMWARE },
		{ KS_EFI_CONVENTIONAL, KS_MEM_USABLE },
		{ KS_EFI_UNUSABLE, KS_MEM_BAD },
		{ KS_EFI_ACPI_RECLAIM, KS_MEM_ACPI_RECLAIM },
		{ KS_EFI_ACPI_NVS, KS_MEM_ACPI_NVS },
		{ KS_EFI_MMIO, KS_MEM_MMIO },
		{ KS_EFI_MMIO_PORT_SPACE, KS_MEM_MMIO },
		{ KS_EFI_PAL_CODE, KS_MEM_RESERVED },
		{ KS_EFI_PERSISTENT, KS_MEM_PERSISTENT },
		{ KS_EFI_UNACCEPTED, KS_MEM_RESERVED },
		{ 16, KS_MEM_RESERVED },
		{ 0x6fffffff, KS_MEM_RESERVED },
		{ 0x70000000, KS_MEM_RESERVED },          /* OEM */
		{ 0x80000000, KS_MEM_RESERVED },          /* OS vendor */
		{ 0xffffffff, KS_MEM_RESERVED },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(ks_efi_memtype(t[i].efi), t[i].ks);
}

/* One descriptor of every type, spaced apart, through the full path. */
static void test_every_type_translated(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	uint32_t types[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	                     15, 0x70000001, 0x80000002 };
	size_t nt = sizeof(types) / sizeof(types[0]);
	for (size_t i = 0; i < nt; i++)
		fw_add(&m, types[i], MiB(2) * (i + 1), 4);
	struct ks_memrange out[64];
	long n = translate(&m, NULL, 0, out, 64, NULL);
	assert_int_equal(n, (long)nt);
	for (size_t i = 0; i < nt; i++)
		expect_range(&out[i], MiB(2) * (i + 1), 4 * PAGE,
		             ks_efi_memtype(types[i]));
}

/* ---- Stride ---------------------------------------------------------- */

static void build_sample(struct fwmap *m, size_t stride)
{
	/* Out of order on purpose. */
	fw_init(m, stride);
	fw_add(m, KS_EFI_CONVENTIONAL, MiB(1), (MiB(7)) / PAGE);
	fw_add(m, KS_EFI_CONVENTIONAL, 0x1000, 0x9f);
	fw_add(m, KS_EFI_ACPI_NVS, MiB(8), 8);
	fw_add(m, KS_EFI_BOOT_SERVICES_DATA, MiB(8) + 8 * PAGE, 24);
	fw_add(m, KS_EFI_MMIO, 0xffc00000ull, MiB(4) / PAGE);
	fw_add(m, KS_EFI_RESERVED, 0, 1);
	fw_add(m, KS_EFI_CONVENTIONAL, GiB(4), GiB(2) / PAGE);
}

static void test_stride_40_48_56_agree(void **state)
{
	(void)state;
	struct ks_memrange ref[32], out[32];
	struct fwmap m;
	build_sample(&m, 40);
	long nref = translate(&m, NULL, 0, ref, 32, NULL);
	assert_int_equal(nref, 7);
	size_t strides[] = { 48, 56, 64, 120 };
	for (size_t s = 0; s < 4; s++) {
		build_sample(&m, strides[s]);
		long n = translate(&m, NULL, 0, out, 32, NULL);
		assert_int_equal(n, nref);
		assert_memory_equal(out, ref, (size_t)n * sizeof(out[0]));
	}
	expect_range(&ref[0], 0, PAGE, KS_MEM_RESERVED);
	expect_range(&ref[1], PAGE, 0x9f * PAGE, KS_MEM_USABLE);
	expect_range(&ref[2], MiB(1), MiB(7), KS_MEM_USABLE);
	expect_range(&ref[3], MiB(8), 8 * PAGE, KS_MEM_ACPI_NVS);
	expect_range(&ref[4], MiB(8) + 8 * PAGE, 24 * PAGE, KS_MEM_RECLAIMABLE);
	expect_range(&ref[5], 0xffc00000ull, MiB(4), KS_MEM_MMIO);
	expect_range(&ref[6], GiB(4), GiB(2), KS_MEM_USABLE);
}

/* A walk with the wrong stride must not be what happens: with stride 56
 * and only the junk-filled tail differing, a sizeof-stride walk would read
 * 0xa5a5a5a5 as a type and junk as addresses. */
static void test_stride_junk_ignored(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 56);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(16), 256);
	fw_add(&m, KS_EFI_LOADER_CODE, MiB(32), 16);
	struct ks_memrange out[8];
	long n = translate(&m, NULL, 0, out, 8, NULL);
	assert_int_equal(n, 2);
	expect_range(&out[0], MiB(16), MiB(1), KS_MEM_USABLE);
	expect_range(&out[1], MiB(32), 16 * PAGE, KS_MEM_RECLAIMABLE);
}

/* ---- Shapes --------------------------------------------------------- */

static void test_overlap_more_restrictive_wins(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	fw_add(&m, KS_EFI_CONVENTIONAL, 0, MiB(16) / PAGE);
	fw_add(&m, KS_EFI_RESERVED, MiB(4), MiB(1) / PAGE);
	fw_add(&m, KS_EFI_BOOT_SERVICES_CODE, MiB(12), MiB(8) / PAGE);
	struct ks_memrange out[16];
	long n = translate(&m, NULL, 0, out, 16, NULL);
	assert_int_equal(n, 4);
	expect_range(&out[0], 0, MiB(4), KS_MEM_USABLE);
	expect_range(&out[1], MiB(4), MiB(1), KS_MEM_RESERVED);
	expect_range(&out[2], MiB(5), MiB(7), KS_MEM_USABLE);
	expect_range(&out[3], MiB(12), MiB(8), KS_MEM_RECLAIMABLE);
}

static void test_zero_length_and_merge(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 0);           /* empty */
	fw_add(&m, KS_EFI_RESERVED, MiB(100), 0);             /* empty */
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(2), 256);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(3), 256);         /* adjacent */
	fw_add(&m, KS_EFI_LOADER_DATA, MiB(4), 1);
	fw_add(&m, KS_EFI_BOOT_SERVICES_DATA, MiB(4) + PAGE, 1); /* same ks type */
	struct ks_memrange out[16];
	long n = translate(&m, NULL, 0, out, 16, NULL);
	assert_int_equal(n, 2);
	expect_range(&out[0], MiB(2), MiB(2), KS_MEM_USABLE);
	expect_range(&out[1], MiB(4), 2 * PAGE, KS_MEM_RECLAIMABLE);
}

static void test_empty_map(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	struct ks_memrange out[4];
	assert_int_equal(translate(&m, NULL, 0, out, 4, NULL), 0);
}

/* ---- Carve-outs ----------------------------------------------------- */

static void test_kernel_carveouts(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 56);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), MiB(63) / PAGE);
	fw_add(&m, KS_EFI_LOADER_CODE, MiB(64), MiB(2) / PAGE);    /* image */
	fw_add(&m, KS_EFI_LOADER_DATA, MiB(70), 64);
	/* The kernel keeps: the image (unaligned size), a stack inside
	 * LoaderData, a page-table pool that the firmware had reported as
	 * conventional (allocated after the probe), and an ACPI frame. */
	struct ks_memrange carve[] = {
		{ MiB(64), MiB(1) + 100, KS_MEM_KERNEL, 0 },
		{ MiB(70) + 4 * PAGE, 8 * PAGE, KS_MEM_KERNEL, 0 },
		{ MiB(32), 16 * PAGE, KS_MEM_KERNEL, 0 },
		{ MiB(70) + 40 * PAGE + 20, 36, KS_MEM_ACPI_RECLAIM, 0 },
	};
	struct ks_memrange out[32];
	size_t cap = ks_efi_memmap_cap(m.n, 4);
	assert_true(cap <= 32);
	long n = translate(&m, carve, 4, out, cap, NULL);
	assert_int_equal(n, 8);
	expect_range(&out[0], MiB(1), MiB(31), KS_MEM_USABLE);
	expect_range(&out[1], MiB(32), 16 * PAGE, KS_MEM_KERNEL);
	expect_range(&out[2], MiB(32) + 16 * PAGE, MiB(32) - 16 * PAGE,
	             KS_MEM_USABLE);
	expect_range(&out[3], MiB(64), MiB(1) + PAGE, KS_MEM_KERNEL);
	expect_range(&out[4], MiB(65) + PAGE, MiB(1) - PAGE, KS_MEM_RECLAIMABLE);
	expect_range(&out[5], MiB(70), 4 * PAGE, KS_MEM_RECLAIMABLE);
	expect_range(&out[6], MiB(70) + 4 * PAGE, 8 * PAGE, KS_MEM_KERNEL);
	/* ACPI reclaim shrinks inwards: 36 bytes inside one frame hold no
	 * whole frame, so it disappears and the frame stays reclaimable.
	 * (boot/efi_main.c carves the RSDP's whole frames for that reason.) */
	expect_range(&out[7], MiB(70) + 12 * PAGE, 52 * PAGE,
	             KS_MEM_RECLAIMABLE);
}

/* Carving many disjoint holes out of one range needs the documented
 * capacity, and fails cleanly with less. */
static void test_carve_capacity(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	fw_add(&m, KS_EFI_CONVENTIONAL, 0, MiB(64) / PAGE);
	struct ks_memrange carve[6];
	for (int i = 0; i < 6; i++)
		carve[i] = (struct ks_memrange){ MiB(4) + MiB(8) * (uint64_t)i,
		                                 PAGE, KS_MEM_KERNEL, 0 };
	struct ks_memrange out[32];
	size_t cap = ks_efi_memmap_cap(1, 6);
	long n = translate(&m, carve, 6, out, cap, NULL);
	assert_int_equal(n, 13);
	struct ks_efi_map_error err;
	assert_int_equal(ks_efi_memmap_translate(m.buf, fw_size(&m), m.stride,
	                                         carve, 6, out, 12, &err),
	                 KS_MEMMAP_ENOSPC);
	assert_int_equal(err.code, KS_MEMMAP_ENOSPC);
	/* Not even room for the inputs. */
	assert_int_equal(ks_efi_memmap_translate(m.buf, fw_size(&m), m.stride,
	                                         carve, 6, out, 6, &err),
	                 KS_MEMMAP_ENOSPC);
}

/* ---- Errors --------------------------------------------------------- */

static void test_bad_layout(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 1);
	struct ks_memrange out[4];
	struct ks_efi_map_error err;
	assert_int_equal(ks_efi_memmap_translate(m.buf, 48, 32, NULL, 0, out, 4,
	                                         &err), KS_EFI_EDESCSIZE);
	assert_int_equal(err.code, KS_EFI_EDESCSIZE);
	assert_int_equal(ks_efi_memmap_translate(m.buf, 44, 44, NULL, 0, out, 4,
	                                         &err), KS_EFI_EDESCSIZE);
	assert_int_equal(ks_efi_memmap_translate(m.buf, 50, 48, NULL, 0, out, 4,
	                                         &err), KS_EFI_EMAPSIZE);
	assert_int_equal(ks_efi_memmap_translate(m.buf, 48, 0, NULL, 0, out, 4,
	                                         &err), KS_EFI_EDESCSIZE);
	/* err may be NULL. */
	assert_int_equal(ks_efi_memmap_translate(m.buf, 50, 48, NULL, 0, out, 4,
	                                         NULL), KS_EFI_EMAPSIZE);
}

static void test_range_errors_name_the_descriptor(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 56);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 16);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(2), UINT64_MAX >> 10); /* pages*4K overflows */
	struct ks_memrange out[8];
	struct ks_efi_map_error err = { 0 };
	assert_int_equal(translate(&m, NULL, 0, out, 8, &err), KS_MEMMAP_ERANGE);
	assert_int_equal(err.in_carve, 0);
	assert_int_equal(err.index, 1);

	fw_init(&m, 56);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 16);
	fw_add(&m, KS_EFI_RESERVED, MiB(2), 16);
	fw_add(&m, KS_EFI_CONVENTIONAL, UINT64_MAX - 2 * PAGE + 1, 4); /* wraps */
	assert_int_equal(translate(&m, NULL, 0, out, 8, &err), KS_MEMMAP_ERANGE);
	assert_int_equal(err.in_carve, 0);
	assert_int_equal(err.index, 2);
}

static void test_bad_carve_type(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 48);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 16);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(4), 16);
	struct ks_memrange carve[] = {
		{ MiB(1), PAGE, KS_MEM_KERNEL, 0 },
		{ MiB(4), PAGE, 0, 0 },                         /* no type */
	};
	struct ks_memrange out[16];
	struct ks_efi_map_error err = { 0 };
	assert_int_equal(translate(&m, carve, 2, out, 16, &err), KS_MEMMAP_ETYPE);
	assert_int_equal(err.in_carve, 1);
	assert_int_equal(err.index, 1);
	carve[1].type = KS_MEM_TYPE_MAX;
	assert_int_equal(translate(&m, carve, 2, out, 16, &err), KS_MEMMAP_ETYPE);
	assert_int_equal(err.in_carve, 1);
	assert_int_equal(err.index, 1);
}

/* ---- A real map ----------------------------------------------------- */

/* OVMF's map for q35 with -m 512M as this kernel saw it (merged runs of
 * descriptors; DescriptorSize 48), with the loader's carve-outs. */
static void test_ovmf_like_map(void **state)
{
	(void)state;
	static const struct { uint32_t type; uint64_t base, pages; } d[] = {
		{ 3, 0x0, 1 }, { 7, 0x1000, 0x9f }, { 7, 0x100000, 0x706 },
		{ 10, 0x806000, 2 }, { 7, 0x808000, 8 }, { 10, 0x810000, 0xf0 },
		{ 4, 0x900000, 0xc00 }, { 7, 0x1500000, 0x1a675 },
		{ 4, 0x1bb75000, 0x20 }, { 7, 0x1bb95000, 0x2073 },
		{ 1, 0x1dc08000, 0x144 }, { 7, 0x1dd4c000, 0xd9 },
		{ 4, 0x1de25000, 0x3 }, { 2, 0x1de28000, 0x67 },
		{ 4, 0x1de8f000, 0x69f }, { 2, 0x1e52e000, 3 },
		{ 3, 0x1e531000, 0x56f }, { 5, 0x1eaa0000, 0x102 },
		{ 4, 0x1eba2000, 0x94a }, { 6, 0x1f4ec000, 0x200 },
		{ 0, 0x1f6ec000, 0x80 }, { 9, 0x1f76c000, 0x12 },
		{ 10, 0x1f77e000, 0x80 }, { 4, 0x1f7fe000, 0x602 },
		{ 7, 0x1fe00000, 0x81 }, { 4, 0x1fe81000, 0x73 },
		{ 6, 0x1fef4000, 0x84 }, { 10, 0x1ff78000, 0x88 },
		{ 0, 0xb0000000, 0x10000 }, { 11, 0xffc00000, 0x400 },
	};
	struct fwmap m;
	fw_init(&m, 48);
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		fw_add(&m, d[i].type, d[i].base, d[i].pages);
	struct ks_memrange carve[] = {
		{ 0x1dc08000, 0x144000, KS_MEM_KERNEL, 0 },   /* image */
		{ 0x1de28000, 0x67000, KS_MEM_KERNEL, 0 },    /* stack, pool, ... */
		{ 0x1e52e000, 0x3000, KS_MEM_KERNEL, 0 },
		{ 0x1f77d000, 0x1000, KS_MEM_ACPI_RECLAIM, 0 },
	};
	struct ks_memrange out[128];
	long n = translate(&m, carve, 4, out,
	                   ks_efi_memmap_cap(m.n, 4), NULL);
	assert_true(n > 0);
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_KERNEL),
	                 0x144000 + 0x67000 + 0x3000);
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_USABLE) >> 20, 463);
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_RESERVED),
	                 0x80000 + 0x10000000);
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_MMIO), MiB(4));
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_FIRMWARE),
	                 (0x102 + 0x200 + 0x84) * (uint64_t)PAGE);
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_ACPI_RECLAIM),
	                 0x12 * (uint64_t)PAGE);
	/* The usable + reclaimable + kernel total is unchanged by carving. */
	uint64_t ram = 0;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i].type >= 1 && d[i].type <= 4)
			ram += d[i].pages * PAGE;
		else if (d[i].type == 7)
			ram += d[i].pages * PAGE;
	assert_int_equal(ks_memmap_total(out, (size_t)n, KS_MEM_USABLE) +
	                 ks_memmap_total(out, (size_t)n, KS_MEM_RECLAIMABLE) +
	                 ks_memmap_total(out, (size_t)n, KS_MEM_KERNEL), ram);
}

/* ---- Highest address ------------------------------------------------ */

static void test_map_top(void **state)
{
	(void)state;
	struct fwmap m;
	fw_init(&m, 56);
	assert_int_equal(ks_efi_map_top(m.buf, 0, 56), 0);
	fw_add(&m, KS_EFI_CONVENTIONAL, MiB(1), 16);
	fw_add(&m, KS_EFI_MMIO, 0xfec00000ull, 1);
	fw_add(&m, KS_EFI_CONVENTIONAL, GiB(4), GiB(4) / PAGE);
	fw_add(&m, KS_EFI_RESERVED, UINT64_MAX - PAGE + 1, 4);    /* wraps */
	fw_add(&m, KS_EFI_RESERVED, GiB(1), UINT64_MAX);          /* overflows */
	fw_add(&m, KS_EFI_CONVENTIONAL, GiB(2), 0);
	assert_int_equal(ks_efi_map_top(m.buf, fw_size(&m), 56), GiB(8));
	assert_int_equal(ks_efi_map_top(m.buf, fw_size(&m), 40), 0);  /* not a multiple */
	assert_int_equal(ks_efi_map_top(m.buf, 56, 32), 0);           /* too small */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_every_type_translated),
		cmocka_unit_test(test_stride_40_48_56_agree),
		cmocka_unit_test(test_stride_junk_ignored),
		cmocka_unit_test(test_overlap_more_restrictive_wins),
		cmocka_unit_test(test_zero_length_and_merge),
		cmocka_unit_test(test_empty_map),
		cmocka_unit_test(test_kernel_carveouts),
		cmocka_unit_test(test_carve_capacity),
		cmocka_unit_test(test_bad_layout),
		cmocka_unit_test(test_range_errors_name_the_descriptor),
		cmocka_unit_test(test_bad_carve_type),
		cmocka_unit_test(test_ovmf_like_map),
		cmocka_unit_test(test_map_top),
	};
	return cmocka_run_group_tests_name("efi_memmap", tests, NULL, NULL);
}
