/*
 * Host tests for phys/memmap.c: ks_memmap_normalize() and its helpers.
 *
 * Every guarantee of include/kspan/memmap.h is checked on every result by
 * check_normalized(); the cases cover each error, every shape of overlap,
 * merging, alignment, two realistic firmware maps, and a randomized
 * comparison against a brute-force model that assigns each 4 KiB frame the
 * most restrictive type covering it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/memmap.h>
#include "tests/host/support.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define FRAME  KS_FRAME_SIZE

#define R(b, l, t) { (b), (l), (t), 0 }

/* Assert every guarantee of the header on map[0..n). */
static void check_normalized(const struct ks_memrange *map, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ks_memrange *r = &map[i];
		assert_true(r->type >= KS_MEM_USABLE && r->type < KS_MEM_TYPE_MAX);
		assert_true(r->len > 0);
		assert_int_equal(r->base % FRAME, 0);
		assert_int_equal(r->len % FRAME, 0);
		assert_int_equal(r->flags, 0);
		assert_true(r->len <= UINT64_MAX - r->base);
		if (i > 0) {
			const struct ks_memrange *p = &map[i - 1];
			assert_true(p->base + p->len <= r->base);
			if (p->base + p->len == r->base)
				assert_int_not_equal(p->type, r->type);
		}
	}
}

/* Normalize in[0..n) (copied into a buffer of cap entries) and compare
 * with want[0..wn). */
static void expect_normalized(const struct ks_memrange *in, size_t n,
                              size_t cap, const struct ks_memrange *want,
                              size_t wn)
{
	struct ks_memrange buf[256];
	assert_true(cap <= 256 && n <= cap);
	memcpy(buf, in, n * sizeof(*in));
	size_t err = 12345;
	long got = ks_memmap_normalize(buf, n, cap, &err);
	if (got != (long)wn) {
		for (long i = 0; i < got; i++)
			print_message("  got %#llx +%#llx %s\n",
			              (unsigned long long)buf[i].base,
			              (unsigned long long)buf[i].len,
			              ks_memtype_name(buf[i].type));
		fail_msg("normalize returned %ld, want %zu", got, wn);
	}
	assert_int_equal(err, 12345);    /* untouched on success */
	check_normalized(buf, (size_t)got);
	for (size_t i = 0; i < wn; i++) {
		if (buf[i].base != want[i].base || buf[i].len != want[i].len ||
		    buf[i].type != want[i].type)
			fail_msg("entry %zu: got %#llx +%#llx %s, want %#llx +%#llx %s",
			         i, (unsigned long long)buf[i].base,
			         (unsigned long long)buf[i].len,
			         ks_memtype_name(buf[i].type),
			         (unsigned long long)want[i].base,
			         (unsigned long long)want[i].len,
			         ks_memtype_name(want[i].type));
	}
}

#define EXPECT(in, want) \
	expect_normalized(in, sizeof(in) / sizeof(in[0]), 64, want, \
	                  sizeof(want) / sizeof(want[0]))
#define EXPECT_EMPTY(in) \
	expect_normalized(in, sizeof(in) / sizeof(in[0]), 64, NULL, 0)

/* ---- Helpers ---------------------------------------------------------- */

static void test_names_and_free(void **state)
{
	(void)state;
	assert_string_equal(ks_memtype_name(KS_MEM_USABLE), "usable");
	assert_string_equal(ks_memtype_name(KS_MEM_RESERVED), "reserved");
	assert_string_equal(ks_memtype_name(KS_MEM_MMIO), "mmio");
	assert_string_equal(ks_memtype_name(KS_MEM_BAD), "bad");
	assert_string_equal(ks_memtype_name(0), "unknown");
	assert_string_equal(ks_memtype_name(KS_MEM_TYPE_MAX), "unknown");
	assert_string_equal(ks_memtype_name(0xffffffffu), "unknown");
	for (uint32_t t = KS_MEM_USABLE; t < KS_MEM_TYPE_MAX; t++) {
		const char *name = ks_memtype_name(t);
		assert_string_not_equal(name, "unknown");
		for (uint32_t u = KS_MEM_USABLE; u < t; u++)
			assert_string_not_equal(name, ks_memtype_name(u));
	}

	assert_int_equal(ks_memtype_is_free(KS_MEM_USABLE, 0), 1);
	assert_int_equal(ks_memtype_is_free(KS_MEM_USABLE, 1), 1);
	assert_int_equal(ks_memtype_is_free(KS_MEM_RECLAIMABLE, 0), 0);
	assert_int_equal(ks_memtype_is_free(KS_MEM_RECLAIMABLE, 1), 1);
	for (uint32_t t = KS_MEM_ACPI_RECLAIM; t <= KS_MEM_TYPE_MAX; t++) {
		assert_int_equal(ks_memtype_is_free(t, 0), 0);
		assert_int_equal(ks_memtype_is_free(t, 1), 0);
	}
	assert_int_equal(ks_memtype_is_free(0, 1), 0);
}

static void test_total(void **state)
{
	(void)state;
	struct ks_memrange m[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), KiB(8), KS_MEM_RESERVED),
		R(MiB(2), MiB(3), KS_MEM_USABLE),
	};
	assert_int_equal(ks_memmap_total(m, 3, KS_MEM_USABLE), MiB(4));
	assert_int_equal(ks_memmap_total(m, 3, KS_MEM_RESERVED), KiB(8));
	assert_int_equal(ks_memmap_total(m, 3, KS_MEM_MMIO), 0);
	assert_int_equal(ks_memmap_total(m, 0, KS_MEM_USABLE), 0);
}

/* ---- Errors ----------------------------------------------------------- */

static void test_empty(void **state)
{
	(void)state;
	struct ks_memrange m[1];
	assert_int_equal(ks_memmap_normalize(m, 0, 1, NULL), 0);
	assert_int_equal(ks_memmap_normalize(NULL, 0, 0, NULL), 0);
}

static void test_zero_length_dropped(void **state)
{
	(void)state;
	struct ks_memrange in[] = {
		R(MiB(1), 0, KS_MEM_USABLE),
		R(0, FRAME * 4, KS_MEM_USABLE),
		R(UINT64_MAX, 0, KS_MEM_RESERVED),     /* empty: cannot wrap */
		R(MiB(2), 0, KS_MEM_MMIO),
	};
	struct ks_memrange want[] = { R(0, FRAME * 4, KS_MEM_USABLE) };
	EXPECT(in, want);

	struct ks_memrange only[] = { R(0x1234, 0, KS_MEM_USABLE) };
	EXPECT_EMPTY(only);
}

static void expect_error(struct ks_memrange *in, size_t n, long want_err,
                         size_t want_index)
{
	struct ks_memrange copy[16];
	assert_true(n <= 16);
	memcpy(copy, in, n * sizeof(*in));
	size_t idx = 999;
	assert_int_equal(ks_memmap_normalize(in, n, n, &idx), want_err);
	assert_int_equal(idx, want_index);
	/* A rejected map is left as it was. */
	assert_memory_equal(copy, in, n * sizeof(*in));
	/* err_index may be NULL. */
	assert_int_equal(ks_memmap_normalize(in, n, n, NULL), want_err);
}

static void test_bad_type(void **state)
{
	(void)state;
	struct ks_memrange a[] = {
		R(0, FRAME, KS_MEM_USABLE),
		R(FRAME, FRAME, 0),
	};
	expect_error(a, 2, KS_MEMMAP_ETYPE, 1);

	struct ks_memrange b[] = {
		R(MiB(4), FRAME, KS_MEM_RESERVED),
		R(0, FRAME, KS_MEM_USABLE),
		R(MiB(8), FRAME, KS_MEM_TYPE_MAX),
		R(MiB(9), FRAME, 77),
	};
	expect_error(b, 4, KS_MEMMAP_ETYPE, 2);

	/* An unknown type is an error even on an empty entry: it means the
	 * map was built wrongly. */
	struct ks_memrange c[] = { R(0, 0, 0xdeadu) };
	expect_error(c, 1, KS_MEMMAP_ETYPE, 0);
}

static void test_wrapping(void **state)
{
	(void)state;
	struct ks_memrange a[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(UINT64_MAX - FRAME + 1, FRAME * 2, KS_MEM_RESERVED),
	};
	expect_error(a, 2, KS_MEMMAP_ERANGE, 1);

	/* Ending exactly at 2^64 does not fit in 64 bits either. */
	struct ks_memrange b[] = {
		R(UINT64_MAX - FRAME + 1, FRAME, KS_MEM_MMIO),
	};
	expect_error(b, 1, KS_MEMMAP_ERANGE, 0);

	/* A reserved range in the last frame would have to grow to 2^64. */
	struct ks_memrange c[] = {
		R(UINT64_MAX - 100, 50, KS_MEM_RESERVED),
	};
	expect_error(c, 1, KS_MEMMAP_ERANGE, 0);

	/* The first bad entry is reported, whatever its kind. */
	struct ks_memrange d[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(UINT64_MAX, 2, KS_MEM_USABLE),
		R(0, MiB(1), 42),
	};
	expect_error(d, 3, KS_MEMMAP_ERANGE, 1);

	/* Near the top but valid: a usable range there shrinks to nothing,
	 * a reserved one just below the last frame is kept. */
	struct ks_memrange e[] = {
		R(UINT64_MAX - 100, 50, KS_MEM_USABLE),
		R(UINT64_MAX - 2 * FRAME + 1, FRAME - 1, KS_MEM_RESERVED),
	};
	struct ks_memrange want[] = {
		R(UINT64_MAX - 2 * FRAME + 1, FRAME, KS_MEM_RESERVED),
	};
	EXPECT(e, want);
}

static void test_cap_smaller_than_n(void **state)
{
	(void)state;
	struct ks_memrange m[] = {
		R(0, FRAME, KS_MEM_USABLE),
		R(FRAME, FRAME, KS_MEM_USABLE),
	};
	assert_int_equal(ks_memmap_normalize(m, 2, 1, NULL), KS_MEMMAP_ENOSPC);
}

/* ---- Alignment -------------------------------------------------------- */

static void test_alignment(void **state)
{
	(void)state;
	/* Usable-like ranges shrink to whole frames inside them. */
	struct ks_memrange a[] = {
		R(0x1001, 0x5fff - 0x1001, KS_MEM_USABLE),
		R(0x10000 + 0x800, 0x3000, KS_MEM_RECLAIMABLE),
		R(0x20010, 0x2ff0, KS_MEM_ACPI_RECLAIM),
	};
	struct ks_memrange wa[] = {
		R(0x2000, 0x3000, KS_MEM_USABLE),
		R(0x11000, 0x2000, KS_MEM_RECLAIMABLE),
		R(0x21000, 0x2000, KS_MEM_ACPI_RECLAIM),
	};
	EXPECT(a, wa);

	/* Everything else grows to the frames it touches. */
	struct ks_memrange b[] = {
		R(0x1001, 1, KS_MEM_RESERVED),
		R(0x10fff, 2, KS_MEM_KERNEL),
		R(0x30000, 0x800, KS_MEM_MMIO),
		R(0x40800, 0x800, KS_MEM_ACPI_NVS),
	};
	struct ks_memrange wb[] = {
		R(0x1000, 0x1000, KS_MEM_RESERVED),
		R(0x10000, 0x2000, KS_MEM_KERNEL),
		R(0x30000, 0x1000, KS_MEM_MMIO),
		R(0x40000, 0x1000, KS_MEM_ACPI_NVS),
	};
	EXPECT(b, wb);

	/* Usable ranges smaller than a frame once aligned are dropped. */
	struct ks_memrange c[] = {
		R(0x1001, 0x1000, KS_MEM_USABLE),     /* 0x2000..0x2001 */
		R(0x5000, 0xfff, KS_MEM_USABLE),
		R(0x7800, 0x1000, KS_MEM_RECLAIMABLE),
	};
	EXPECT_EMPTY(c);

	/* Frame-aligned input passes through. */
	struct ks_memrange d[] = { R(MiB(1), MiB(2), KS_MEM_USABLE) };
	EXPECT(d, d);

	/* An unaligned reserved range takes the partial frames from the
	 * usable ranges around it, so no frame is both. */
	struct ks_memrange e[] = {
		R(0, 0x10000, KS_MEM_USABLE),
		R(0x3800, 0x1000, KS_MEM_RESERVED),
	};
	struct ks_memrange we[] = {
		R(0, 0x3000, KS_MEM_USABLE),
		R(0x3000, 0x2000, KS_MEM_RESERVED),
		R(0x5000, 0xb000, KS_MEM_USABLE),
	};
	EXPECT(e, we);

	/* Alignment is per range: two usable halves meeting inside a frame
	 * each lose their part of it (no range covers it whole). */
	struct ks_memrange f[] = {
		R(0, 0x1800, KS_MEM_USABLE),
		R(0x1800, 0x1800, KS_MEM_USABLE),
	};
	struct ks_memrange wf[] = {
		R(0, 0x1000, KS_MEM_USABLE),
		R(0x2000, 0x1000, KS_MEM_USABLE),
	};
	EXPECT(f, wf);
}

/* ---- Sorting and merging ---------------------------------------------- */

static void test_sorts(void **state)
{
	(void)state;
	struct ks_memrange in[] = {
		R(MiB(8), MiB(1), KS_MEM_MMIO),
		R(MiB(2), MiB(1), KS_MEM_USABLE),
		R(0, MiB(1), KS_MEM_RESERVED),
		R(MiB(5), MiB(1), KS_MEM_ACPI_NVS),
		R(MiB(4), FRAME, KS_MEM_KERNEL),
	};
	struct ks_memrange want[] = {
		R(0, MiB(1), KS_MEM_RESERVED),
		R(MiB(2), MiB(1), KS_MEM_USABLE),
		R(MiB(4), FRAME, KS_MEM_KERNEL),
		R(MiB(5), MiB(1), KS_MEM_ACPI_NVS),
		R(MiB(8), MiB(1), KS_MEM_MMIO),
	};
	EXPECT(in, want);
}

static void test_merges(void **state)
{
	(void)state;
	/* Adjacent ranges of one type merge, in any input order. */
	struct ks_memrange a[] = {
		R(MiB(2), MiB(1), KS_MEM_USABLE),
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_USABLE),
		R(MiB(3), MiB(1), KS_MEM_RESERVED),
		R(MiB(4), MiB(1), KS_MEM_RESERVED),
	};
	struct ks_memrange wa[] = {
		R(0, MiB(3), KS_MEM_USABLE),
		R(MiB(3), MiB(2), KS_MEM_RESERVED),
	};
	EXPECT(a, wa);

	/* Adjacent ranges of different types do not. */
	struct ks_memrange b[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_RECLAIMABLE),
		R(MiB(2), MiB(1), KS_MEM_USABLE),
	};
	EXPECT(b, b);

	/* A gap keeps same-type ranges apart. */
	struct ks_memrange c[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1) + FRAME, MiB(1), KS_MEM_USABLE),
	};
	EXPECT(c, c);

	/* Ranges that touch only after alignment merge too. */
	struct ks_memrange d[] = {
		R(0x1000, 0x1800, KS_MEM_RESERVED),   /* -> 0x1000..0x3000 */
		R(0x3000, 0x1000, KS_MEM_RESERVED),
	};
	struct ks_memrange wd[] = { R(0x1000, 0x3000, KS_MEM_RESERVED) };
	EXPECT(d, wd);

	/* Overlapping ranges of one type become their union. */
	struct ks_memrange e[] = {
		R(MiB(1), MiB(2), KS_MEM_USABLE),
		R(0, MiB(2), KS_MEM_USABLE),
		R(MiB(2), MiB(4), KS_MEM_USABLE),
		R(MiB(2), FRAME, KS_MEM_USABLE),
	};
	struct ks_memrange we[] = { R(0, MiB(6), KS_MEM_USABLE) };
	EXPECT(e, we);
}

/* ---- Overlaps ---------------------------------------------------------- */

static void test_overlap_contained(void **state)
{
	(void)state;
	/* A stronger range inside a weaker one splits it in three. */
	struct ks_memrange a[] = {
		R(0, MiB(4), KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_RESERVED),
	};
	struct ks_memrange wa[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_RESERVED),
		R(MiB(2), MiB(2), KS_MEM_USABLE),
	};
	EXPECT(a, wa);

	/* A weaker range inside a stronger one disappears. */
	struct ks_memrange b[] = {
		R(MiB(1), MiB(1), KS_MEM_USABLE),
		R(0, MiB(4), KS_MEM_MMIO),
	};
	struct ks_memrange wb[] = { R(0, MiB(4), KS_MEM_MMIO) };
	EXPECT(b, wb);

	/* Sharing the start or the end. */
	struct ks_memrange c[] = {
		R(0, MiB(4), KS_MEM_USABLE),
		R(0, MiB(1), KS_MEM_KERNEL),
		R(MiB(3), MiB(1), KS_MEM_BAD),
	};
	struct ks_memrange wc[] = {
		R(0, MiB(1), KS_MEM_KERNEL),
		R(MiB(1), MiB(2), KS_MEM_USABLE),
		R(MiB(3), MiB(1), KS_MEM_BAD),
	};
	EXPECT(c, wc);
}

static void test_overlap_partial(void **state)
{
	(void)state;
	/* Stronger range overlapping the left end of a weaker one. */
	struct ks_memrange l[] = {
		R(MiB(1), MiB(3), KS_MEM_USABLE),
		R(0, MiB(2), KS_MEM_RESERVED),
	};
	struct ks_memrange wl[] = {
		R(0, MiB(2), KS_MEM_RESERVED),
		R(MiB(2), MiB(2), KS_MEM_USABLE),
	};
	EXPECT(l, wl);

	/* ... and the right end. */
	struct ks_memrange r[] = {
		R(0, MiB(3), KS_MEM_USABLE),
		R(MiB(2), MiB(2), KS_MEM_FIRMWARE),
	};
	struct ks_memrange wr[] = {
		R(0, MiB(2), KS_MEM_USABLE),
		R(MiB(2), MiB(2), KS_MEM_FIRMWARE),
	};
	EXPECT(r, wr);

	/* Weaker range overlapping a stronger one: it keeps only its part
	 * outside, whichever comes first in the input. */
	struct ks_memrange w[] = {
		R(MiB(2), MiB(2), KS_MEM_USABLE),
		R(0, MiB(3), KS_MEM_ACPI_NVS),
	};
	struct ks_memrange ww[] = {
		R(0, MiB(3), KS_MEM_ACPI_NVS),
		R(MiB(3), MiB(1), KS_MEM_USABLE),
	};
	EXPECT(w, ww);
}

static void test_overlap_identical(void **state)
{
	(void)state;
	for (uint32_t t = KS_MEM_USABLE; t < KS_MEM_TYPE_MAX; t++) {
		for (uint32_t u = KS_MEM_USABLE; u < KS_MEM_TYPE_MAX; u++) {
			struct ks_memrange in[] = {
				R(MiB(1), MiB(1), t),
				R(MiB(1), MiB(1), u),
			};
			struct ks_memrange want[] = {
				R(MiB(1), MiB(1), t > u ? t : u),
			};
			EXPECT(in, want);
		}
	}
}

static void test_overlap_chains(void **state)
{
	(void)state;
	/* Each range overlaps the next; types go up and down. */
	struct ks_memrange a[] = {
		R(0, MiB(3), KS_MEM_USABLE),
		R(MiB(2), MiB(3), KS_MEM_RESERVED),
		R(MiB(4), MiB(3), KS_MEM_RECLAIMABLE),
		R(MiB(6), MiB(3), KS_MEM_MMIO),
		R(MiB(8), MiB(3), KS_MEM_USABLE),
	};
	struct ks_memrange wa[] = {
		R(0, MiB(2), KS_MEM_USABLE),
		R(MiB(2), MiB(3), KS_MEM_RESERVED),
		R(MiB(5), MiB(1), KS_MEM_RECLAIMABLE),
		R(MiB(6), MiB(3), KS_MEM_MMIO),
		R(MiB(9), MiB(2), KS_MEM_USABLE),
	};
	EXPECT(a, wa);

	/* Nested like an onion: every layer shows on both sides. */
	struct ks_memrange b[] = {
		R(0, MiB(10), KS_MEM_USABLE),
		R(MiB(1), MiB(8), KS_MEM_RECLAIMABLE),
		R(MiB(2), MiB(6), KS_MEM_KERNEL),
		R(MiB(3), MiB(4), KS_MEM_BAD),
	};
	struct ks_memrange wb[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), MiB(1), KS_MEM_RECLAIMABLE),
		R(MiB(2), MiB(1), KS_MEM_KERNEL),
		R(MiB(3), MiB(4), KS_MEM_BAD),
		R(MiB(7), MiB(1), KS_MEM_KERNEL),
		R(MiB(8), MiB(1), KS_MEM_RECLAIMABLE),
		R(MiB(9), MiB(1), KS_MEM_USABLE),
	};
	EXPECT(b, wb);

	/* Many stronger holes in one weak range, and a weak range covered by
	 * a union of stronger ones (it must vanish). */
	struct ks_memrange c[] = {
		R(0, MiB(8), KS_MEM_USABLE),
		R(MiB(1), FRAME, KS_MEM_RESERVED),
		R(MiB(3), FRAME, KS_MEM_MMIO),
		R(MiB(5), FRAME, KS_MEM_RESERVED),
		R(MiB(10), MiB(2), KS_MEM_RECLAIMABLE),
		R(MiB(9), MiB(2), KS_MEM_KERNEL),
		R(MiB(11), MiB(2), KS_MEM_ACPI_NVS),
	};
	struct ks_memrange wc[] = {
		R(0, MiB(1), KS_MEM_USABLE),
		R(MiB(1), FRAME, KS_MEM_RESERVED),
		R(MiB(1) + FRAME, MiB(2) - FRAME, KS_MEM_USABLE),
		R(MiB(3), FRAME, KS_MEM_MMIO),
		R(MiB(3) + FRAME, MiB(2) - FRAME, KS_MEM_USABLE),
		R(MiB(5), FRAME, KS_MEM_RESERVED),
		R(MiB(5) + FRAME, MiB(3) - FRAME, KS_MEM_USABLE),
		R(MiB(9), MiB(2), KS_MEM_KERNEL),
		R(MiB(11), MiB(2), KS_MEM_ACPI_NVS),
	};
	EXPECT(c, wc);
}

/* ---- Capacity ----------------------------------------------------------- */

static void test_enospc(void **state)
{
	(void)state;
	/* Three holes in one range: 4 entries in, 7 out. */
	const struct ks_memrange in[] = {
		R(0, MiB(8), KS_MEM_USABLE),
		R(MiB(1), FRAME, KS_MEM_RESERVED),
		R(MiB(3), FRAME, KS_MEM_RESERVED),
		R(MiB(5), FRAME, KS_MEM_RESERVED),
	};
	struct ks_memrange buf[8];
	for (size_t cap = 4; cap < 7; cap++) {
		memcpy(buf, in, sizeof(in));
		assert_int_equal(ks_memmap_normalize(buf, 4, cap, NULL),
		                 KS_MEMMAP_ENOSPC);
	}
	memcpy(buf, in, sizeof(in));
	assert_int_equal(ks_memmap_normalize(buf, 4, 7, NULL), 7);
	check_normalized(buf, 7);

	/* Ranges that vanish do not need room while the others split: 3
	 * holes split one range (7 out) and 3 ranges under the holes vanish,
	 * so 7 entries fit in 7. */
	const struct ks_memrange in2[] = {
		R(MiB(1), FRAME, KS_MEM_RESERVED),
		R(MiB(3), FRAME, KS_MEM_RESERVED),
		R(MiB(5), FRAME, KS_MEM_RESERVED),
		R(0, MiB(8), KS_MEM_KERNEL),
		R(MiB(1), FRAME, KS_MEM_USABLE),
		R(MiB(3), FRAME, KS_MEM_USABLE),
		R(MiB(5), FRAME, KS_MEM_USABLE),
	};
	struct ks_memrange buf2[7];
	memcpy(buf2, in2, sizeof(in2));
	assert_int_equal(ks_memmap_normalize(buf2, 7, 7, NULL), 7);
	check_normalized(buf2, 7);
	assert_int_equal(buf2[0].type, KS_MEM_KERNEL);
	assert_int_equal(buf2[1].type, KS_MEM_RESERVED);
}

/* ---- Realistic maps ------------------------------------------------------ */

/* What boot/ makes of OVMF's map on q35 with 512 MiB (UEFI types already
 * translated; loader and boot-services memory is "reclaimable"), plus the
 * legacy ranges a BIOS-style map adds unaligned and overlapping. */
static void test_q35_ovmf_map(void **state)
{
	(void)state;
	struct ks_memrange in[] = {
		R(0x0, 0xa0000, KS_MEM_USABLE),
		R(0x9fc00, 0x400, KS_MEM_RESERVED),          /* EBDA, unaligned */
		R(0xa0000, 0x60000, KS_MEM_RESERVED),        /* VGA + BIOS ROM */
		R(0x100000, 0x700000, KS_MEM_USABLE),
		R(0x800000, 0x8000, KS_MEM_ACPI_NVS),
		R(0x808000, 0x3000, KS_MEM_USABLE),
		R(0x80b000, 0x1000, KS_MEM_ACPI_NVS),
		R(0x80c000, 0x5000, KS_MEM_USABLE),
		R(0x811000, 0xef000, KS_MEM_ACPI_NVS),
		R(0x900000, 0x1c6b9000, KS_MEM_USABLE),
		R(0x1cfb9000, 0x20000, KS_MEM_RECLAIMABLE),
		R(0x1cfd9000, 0x2b000, KS_MEM_USABLE),
		R(0x1d004000, 0x1c00000, KS_MEM_RECLAIMABLE),
		R(0x1ec04000, 0x1a000, KS_MEM_KERNEL),       /* kspan image */
		R(0x1ec1e000, 0x8e2000, KS_MEM_RECLAIMABLE),
		R(0x1f500000, 0x2c000, KS_MEM_FIRMWARE),     /* runtime data */
		R(0x1f52c000, 0x1e000, KS_MEM_FIRMWARE),     /* runtime code */
		R(0x1f54a000, 0x1000, KS_MEM_ACPI_RECLAIM),
		R(0x1f54b000, 0x22000, KS_MEM_ACPI_RECLAIM),
		R(0x1f56d000, 0x80000, KS_MEM_ACPI_NVS),
		R(0x1f5ed000, 0xa13000, KS_MEM_USABLE),
		R(0x20000000 - 0x4000, 0x4000, KS_MEM_RESERVED),
		R(0xb0000000, 0x10000000, KS_MEM_RESERVED),  /* PCIe ECAM */
		R(0xfec00000, 0x1000, KS_MEM_MMIO),          /* IOAPIC */
		R(0xfee00000, 0x1000, KS_MEM_MMIO),          /* LAPIC */
		R(0xffc00000, 0x400000, KS_MEM_MMIO),        /* flash */
		R(0xfd00000000ull, 0x300000000ull, KS_MEM_RESERVED),
	};
	struct ks_memrange want[] = {
		R(0x0, 0x9f000, KS_MEM_USABLE),
		R(0x9f000, 0x61000, KS_MEM_RESERVED),
		R(0x100000, 0x700000, KS_MEM_USABLE),
		R(0x800000, 0x8000, KS_MEM_ACPI_NVS),
		R(0x808000, 0x3000, KS_MEM_USABLE),
		R(0x80b000, 0x1000, KS_MEM_ACPI_NVS),
		R(0x80c000, 0x5000, KS_MEM_USABLE),
		R(0x811000, 0xef000, KS_MEM_ACPI_NVS),
		R(0x900000, 0x1c6b9000, KS_MEM_USABLE),
		R(0x1cfb9000, 0x20000, KS_MEM_RECLAIMABLE),
		R(0x1cfd9000, 0x2b000, KS_MEM_USABLE),
		R(0x1d004000, 0x1c00000, KS_MEM_RECLAIMABLE),
		R(0x1ec04000, 0x1a000, KS_MEM_KERNEL),
		R(0x1ec1e000, 0x8e2000, KS_MEM_RECLAIMABLE),
		R(0x1f500000, 0x4a000, KS_MEM_FIRMWARE),
		R(0x1f54a000, 0x23000, KS_MEM_ACPI_RECLAIM),
		R(0x1f56d000, 0x80000, KS_MEM_ACPI_NVS),
		R(0x1f5ed000, 0xa0f000, KS_MEM_USABLE),
		R(0x1fffc000, 0x4000, KS_MEM_RESERVED),
		R(0xb0000000, 0x10000000, KS_MEM_RESERVED),
		R(0xfec00000, 0x1000, KS_MEM_MMIO),
		R(0xfee00000, 0x1000, KS_MEM_MMIO),
		R(0xffc00000, 0x400000, KS_MEM_MMIO),
		R(0xfd00000000ull, 0x300000000ull, KS_MEM_RESERVED),
	};
	EXPECT(in, want);

	/* Nothing usable went missing except what stronger types took. */
	struct ks_memrange buf[64];
	memcpy(buf, in, sizeof(in));
	long n = ks_memmap_normalize(buf, sizeof(in) / sizeof(in[0]), 64, NULL);
	assert_true(n > 0);
	assert_int_equal(ks_memmap_total(buf, (size_t)n, KS_MEM_USABLE),
	                 ks_memmap_total(in, sizeof(in) / sizeof(in[0]),
	                                 KS_MEM_USABLE) - 0x1000 - 0x4000);
}

/* 6 GiB of RAM on q35: 2 GiB below the 32-bit PCI hole and 4 GiB above
 * 4 GiB, with firmware reports overlapping at the edges. */
static void test_6gib_pci_hole(void **state)
{
	(void)state;
	struct ks_memrange in[] = {
		R(GiB(4), GiB(4), KS_MEM_USABLE),
		R(0, 0x9fc00, KS_MEM_USABLE),
		R(0x9fc00, 0x60400, KS_MEM_RESERVED),
		R(MiB(1), GiB(2) - MiB(1), KS_MEM_USABLE),
		R(GiB(2) - MiB(1), MiB(1), KS_MEM_RESERVED), /* overlaps RAM */
		R(GiB(2), GiB(1), KS_MEM_MMIO),              /* PCI window */
		R(0xb0000000, 0x10000000, KS_MEM_RESERVED),  /* ECAM, in it */
		R(0xfec00000, 0x1000, KS_MEM_MMIO),
		R(0xfee00000, 0x1000, KS_MEM_MMIO),
		R(0xff000000, 0x1000000, KS_MEM_RESERVED),
		R(GiB(6), MiB(2), KS_MEM_BAD),               /* bad DIMM page */
		R(GiB(8) - MiB(1), MiB(2), KS_MEM_RESERVED), /* past the end */
	};
	struct ks_memrange want[] = {
		R(0, 0x9f000, KS_MEM_USABLE),
		R(0x9f000, 0x61000, KS_MEM_RESERVED),
		R(MiB(1), GiB(2) - MiB(2), KS_MEM_USABLE),
		R(GiB(2) - MiB(1), MiB(1), KS_MEM_RESERVED),
		R(GiB(2), GiB(1), KS_MEM_MMIO),
		R(0xfec00000, 0x1000, KS_MEM_MMIO),
		R(0xfee00000, 0x1000, KS_MEM_MMIO),
		R(0xff000000, 0x1000000, KS_MEM_RESERVED),
		R(GiB(4), GiB(2), KS_MEM_USABLE),
		R(GiB(6), MiB(2), KS_MEM_BAD),
		R(GiB(6) + MiB(2), GiB(2) - MiB(3), KS_MEM_USABLE),
		R(GiB(8) - MiB(1), MiB(2), KS_MEM_RESERVED),
	};
	EXPECT(in, want);
	/* ECAM lies inside the MMIO window, which is stronger: it vanished. */
	uint64_t usable = 0x9f000 + (GiB(2) - MiB(2)) + GiB(4) - MiB(3);
	struct ks_memrange buf[64];
	memcpy(buf, in, sizeof(in));
	long n = ks_memmap_normalize(buf, sizeof(in) / sizeof(in[0]), 64, NULL);
	assert_int_equal(ks_memmap_total(buf, (size_t)n, KS_MEM_USABLE), usable);
}

/* ---- Randomized comparison with a per-frame model ----------------------- */

#define MODEL_FRAMES 1536      /* 6 MiB */

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return ks_test_rand(s) % n;
}

/* The model: frame f has the most restrictive type of the ranges that
 * cover it once each range is aligned by the header's rules; 0 = none. */
static void model_apply(uint8_t *model, const struct ks_memrange *r)
{
	if (r->len == 0)
		return;
	uint64_t end = r->base + r->len, first, last;
	if (r->type <= KS_MEM_ACPI_RECLAIM) {
		first = (r->base + FRAME - 1) / FRAME;
		last = end / FRAME;
	} else {
		first = r->base / FRAME;
		last = (end + FRAME - 1) / FRAME;
	}
	for (uint64_t f = first; f < last; f++) {
		assert_true(f < MODEL_FRAMES);
		if (model[f] < r->type)
			model[f] = (uint8_t)r->type;
	}
}

static void test_random_vs_model(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed0001;
	struct ks_memrange in[40], buf[200], want[200];
	uint8_t model[MODEL_FRAMES];
	unsigned checked_enospc = 0, max_out = 0;

	for (int iter = 0; iter < 4000; iter++) {
		size_t n = 1 + rnd(&seed, 40);
		/* Vary how crowded the map is so that every shape shows up:
		 * uniform ranges of any type, or (every other map) a few large
		 * weak ranges punched by many small strong ones. */
		int holes = (int)rnd(&seed, 2);
		size_t nbig = 1 + rnd(&seed, 4);
		uint64_t span = MiB(1 + rnd(&seed, 4));
		uint64_t maxlen = FRAME * (1 + rnd(&seed, 256));
		for (size_t i = 0; i < n; i++) {
			uint64_t base, len, ml = maxlen;
			uint32_t type = KS_MEM_USABLE +
			                (uint32_t)rnd(&seed, KS_MEM_TYPE_MAX - 1);
			if (holes) {
				ml = i < nbig ? MiB(1) : FRAME * 4;
				type = i < nbig
				       ? KS_MEM_USABLE + (uint32_t)rnd(&seed, 3)
				       : KS_MEM_KERNEL +
				         (uint32_t)rnd(&seed, KS_MEM_TYPE_MAX -
				                              KS_MEM_KERNEL);
			}
			if (rnd(&seed, 2)) {   /* frame-aligned */
				base = rnd(&seed, span / FRAME) * FRAME;
				len = rnd(&seed, ml / FRAME + 1) * FRAME;
			} else {
				base = rnd(&seed, span);
				len = rnd(&seed, ml + 1);
			}
			if (rnd(&seed, 16) == 0)
				len = 0;
			in[i].base = base;
			in[i].len = len;
			in[i].type = type;
			in[i].flags = 0;
		}

		memset(model, 0, sizeof(model));
		for (size_t i = 0; i < n; i++)
			model_apply(model, &in[i]);
		size_t wn = 0;
		for (uint64_t f = 0; f < MODEL_FRAMES; f++) {
			if (!model[f])
				continue;
			if (wn && want[wn - 1].type == model[f] &&
			    want[wn - 1].base + want[wn - 1].len == f * FRAME) {
				want[wn - 1].len += FRAME;
				continue;
			}
			want[wn].base = f * FRAME;
			want[wn].len = FRAME;
			want[wn].type = model[f];
			want[wn].flags = 0;
			wn++;
		}
		if (wn > max_out)
			max_out = (unsigned)wn;

		/* With plenty of room: exactly the model. */
		memcpy(buf, in, n * sizeof(in[0]));
		long got = ks_memmap_normalize(buf, n, 200, NULL);
		if (got != (long)wn)
			fail_msg("iteration %d: %ld entries, model has %zu",
			         iter, got, wn);
		check_normalized(buf, (size_t)got);
		for (size_t i = 0; i < wn; i++)
			if (buf[i].base != want[i].base ||
			    buf[i].len != want[i].len ||
			    buf[i].type != want[i].type)
				fail_msg("iteration %d entry %zu differs", iter, i);

		/* Room for exactly the result (or the input) is enough... */
		size_t tight = wn > n ? wn : n;
		memcpy(buf, in, n * sizeof(in[0]));
		assert_int_equal(ks_memmap_normalize(buf, n, tight, NULL),
		                 (long)wn);
		assert_memory_equal(buf, want, wn * sizeof(want[0]));
		/* ...and one entry less is not, when the result is the larger. */
		if (wn > n) {
			memcpy(buf, in, n * sizeof(in[0]));
			assert_int_equal(ks_memmap_normalize(buf, n, wn - 1, NULL),
			                 KS_MEMMAP_ENOSPC);
			checked_enospc++;
		}
	}
	print_message("random: %u of 4000 maps split beyond their input, largest result %u\n", checked_enospc, max_out);
	/* The generator really produced maps that split. */
	assert_true(checked_enospc > 500);
	assert_true(max_out > 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_free),
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_zero_length_dropped),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_wrapping),
		cmocka_unit_test(test_cap_smaller_than_n),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_sorts),
		cmocka_unit_test(test_merges),
		cmocka_unit_test(test_overlap_contained),
		cmocka_unit_test(test_overlap_partial),
		cmocka_unit_test(test_overlap_identical),
		cmocka_unit_test(test_overlap_chains),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_q35_ovmf_map),
		cmocka_unit_test(test_6gib_pci_hole),
		cmocka_unit_test(test_random_vs_model),
	};
	return KS_TEST_MAIN("memmap", tests, NULL, NULL);
}
