/*
 * Host tests for the generated size-class tables (mm/sizeclass.{h,c}).
 *
 * Everything is checked against first principles (linear searches, plain
 * division), not against the generator's own arithmetic, and the table is
 * compared with Go 1.10's published class sizes and pages per span: the
 * sizes are Go's, and each span is the fewest pages, at least Go's, that
 * hold a batch, min(32, 64 KiB / size) objects, with at most 1/8 waste.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "mm/sizeclass.h"

#define PAGE KS_SIZECLASS_PAGE_SIZE

static uint64_t span_bytes(unsigned c)
{
	return (uint64_t)ks_class_to_npages[c] * PAGE;
}

/* The smallest class holding size, by linear search (size 0 -> class 1). */
static unsigned linear_class(size_t size)
{
	for (unsigned c = 1; c < KS_NUM_SIZE_CLASSES; c++)
		if (ks_class_to_size[c] >= size)
			return c;
	fail_msg("no class holds %zu bytes", size);
	return 0;
}

static void test_matches_go_1_10(void **state)
{
	(void)state;
	static const uint16_t go_sizes[67] = {
		0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192,
		208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512,
		576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
		2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
		6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568,
		14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
		32768,
	};
	static const uint8_t go_npages[67] = {
		0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1,
		3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9,
		7, 5, 8, 3, 10, 7, 4,
	};
	assert_int_equal(KS_NUM_SIZE_CLASSES, 67);
	assert_int_equal(KS_NUM_SIZE_CLASSES, KSPAN_NUM_CLASSES);
	assert_int_equal(KS_MAX_SMALL_SIZE, KSPAN_MAX_SMALL);
	assert_int_equal(KS_SIZECLASS_PAGE_SIZE, KSPAN_PAGE_SIZE);
	assert_memory_equal(ks_class_to_size, go_sizes, sizeof(go_sizes));
	assert_int_equal(ks_class_to_npages[0], 0);
	for (unsigned c = 1; c < KS_NUM_SIZE_CLASSES; c++) {
		uint64_t size = go_sizes[c], batch = 65536 / size;
		if (batch > 32)
			batch = 32;
		if (batch < 1)
			batch = 1;
		unsigned n = go_npages[c];
		while ((n * PAGE) / size < batch || (n * PAGE) % size > (n * PAGE) / 8)
			n++;
		assert_int_equal(ks_class_to_npages[c], n);
	}
	/* Go's spans where they already hold 32 objects (up to 256 B). */
	assert_memory_equal(ks_class_to_npages, go_npages, 18);
	assert_int_equal(ks_class_to_size[KS_TINY_SIZE_CLASS], KS_TINY_SIZE);
	assert_int_equal(ks_class_to_size[KS_NUM_SIZE_CLASSES - 1],
	                 KS_MAX_SMALL_SIZE);
}

static void test_every_size_gets_smallest_class(void **state)
{
	(void)state;
	for (size_t size = 0; size <= KS_MAX_SMALL_SIZE; size++) {
		unsigned c = ks_size_to_class(size);
		assert_true(c >= 1 && c < KS_NUM_SIZE_CLASSES);
		if (ks_class_to_size[c] < size)
			fail_msg("size %zu: class %u holds only %u", size, c,
			         ks_class_to_size[c]);
		if (c > 1 && ks_class_to_size[c - 1] >= size)
			fail_msg("size %zu: class %u (%u) but %u would do", size,
			         c, ks_class_to_size[c], ks_class_to_size[c - 1]);
		assert_int_equal(c, linear_class(size));
	}
	assert_int_equal(ks_size_to_class(0), 1);
	assert_int_equal(ks_size_to_class(1), 1);
	assert_int_equal(ks_size_to_class(9), 2);
	assert_int_equal(ks_size_to_class(17), 3);   /* no 24-byte class */
	assert_int_equal(ks_size_to_class(1016), 31);
	assert_int_equal(ks_size_to_class(1017), 31);
	assert_int_equal(ks_size_to_class(1024), 31);
	assert_int_equal(ks_size_to_class(1025), 32);
	assert_int_equal(ks_size_to_class(32767), 66);
	assert_int_equal(ks_size_to_class(32768), 66);
}

static void test_lookup_tables_vs_linear_search(void **state)
{
	(void)state;
	size_t n8 = KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1;
	size_t n128 = (KS_MAX_SMALL_SIZE - KS_SMALL_SIZE_MAX) /
	              KS_LARGE_SIZE_DIV + 1;
	assert_int_equal(sizeof(ks_size_to_class8), n8);
	assert_int_equal(sizeof(ks_size_to_class128), n128);
	assert_int_equal(ks_size_to_class8[0], 1);
	for (size_t i = 0; i < n8; i++)
		assert_int_equal(ks_size_to_class8[i],
		                 linear_class(i * KS_SMALL_SIZE_DIV));
	for (size_t i = 0; i < n128; i++)
		assert_int_equal(ks_size_to_class128[i],
		                 linear_class(KS_SMALL_SIZE_MAX +
		                              i * KS_LARGE_SIZE_DIV));
}

static void test_divmul_exact(void **state)
{
	(void)state;
	assert_int_equal(ks_class_to_divmul[0], 0);
	for (unsigned c = 1; c < KS_NUM_SIZE_CLASSES; c++) {
		uint64_t size = ks_class_to_size[c];
		uint64_t m = ks_class_to_divmul[c];
		/* ceil(2^32 / size) */
		assert_int_equal(m, (((uint64_t)1 << 32) + size - 1) / size);
		for (uint64_t off = 0; off < span_bytes(c); off++)
			if (((off * m) >> 32) != off / size)
				fail_msg("class %u: divmul wrong at offset %llu",
				         c, (unsigned long long)off);
	}
}

static void test_spans(void **state)
{
	(void)state;
	unsigned most = 0;
	for (unsigned c = 1; c < KS_NUM_SIZE_CLASSES; c++) {
		uint64_t size = ks_class_to_size[c], span = span_bytes(c);
		assert_true(span >= size);
		assert_int_equal(ks_class_to_nelems[c], span / size);
		assert_true(ks_class_to_nelems[c] <= KS_MAX_OBJS_PER_SPAN);
		if (ks_class_to_nelems[c] > most)
			most = ks_class_to_nelems[c];
		/* Tail waste at most 1/8 of the span... */
		assert_true((span % size) * 8 <= span);
		/* Sizes grow; 16-byte multiples from class 2 on. */
		assert_true(size > ks_class_to_size[c - 1]);
		if (c >= 2)
			assert_int_equal(size % 16, 0);
	}
	assert_int_equal(most, KS_MAX_OBJS_PER_SPAN);
	assert_int_equal(ks_class_to_nelems[0], 0);
	assert_int_equal(ks_class_to_npages[0], 0);
}

/* Go's alignment step at size s: what the next candidate size after s
 * would have been had no classes merged. */
static uint64_t go_align_after(uint64_t s)
{
	if (s < 16)
		return 8;
	if (s < 128)
		return 16;
	uint64_t p = 1;
	while (p * 2 <= s)
		p *= 2;
	return p >= 2048 ? 256 : p / 8;
}

/*
 * Internal fragmentation: an object of prev+1 bytes (prev = the class
 * below) wastes (size - prev - 1) / size of its slot.  The 12.5% bound
 * holds for classes 9..29 (128 B .. 768 B) without exception; below 128 B
 * the 16-byte alignment makes it impossible (8 -> 16 wastes 43%), and above
 * 768 B it fails exactly at classes 30, 36, 39, 43, 44, 50, 51 (896, 1792,
 * 2688, 4096, 4864, 8192, 9472 B): each swallowed candidate sizes that fit
 * the same number of objects per span, so its gap to the class below is
 * more than one alignment step.  Wherever the gap is one step, the bound
 * holds (step <= prev/8); that is asserted too.
 */
static void test_internal_fragmentation(void **state)
{
	(void)state;
	static const unsigned fails_above_128[] = { 30, 36, 39, 43, 44, 50, 51 };
	size_t nf = 0;
	for (unsigned c = 1; c < KS_NUM_SIZE_CLASSES; c++) {
		uint64_t size = ks_class_to_size[c];
		uint64_t prev = ks_class_to_size[c - 1];
		int holds = (size - prev - 1) * 8 <= size;
		if (size < 128) {
			assert_false(holds);
			continue;
		}
		if (c <= 29)
			assert_true(holds);
		if (size - prev <= go_align_after(prev))
			assert_true(holds);
		if (!holds) {
			assert_true(nf < sizeof(fails_above_128) /
			                 sizeof(fails_above_128[0]));
			assert_int_equal(c, fails_above_128[nf]);
			nf++;
			/* It merged: more than one step from the class below. */
			assert_true(size - prev > go_align_after(prev));
		}
	}
	assert_int_equal(nf, sizeof(fails_above_128) / sizeof(fails_above_128[0]));
	assert_int_equal(ks_class_to_size[9], 128);
	assert_int_equal(ks_class_to_size[29], 768);
}

static void test_check_passes(void **state)
{
	(void)state;
	char err[160] = "";
	assert_int_equal(ks_sizeclass_verify(&ks_sizeclass_tables, err,
	                                     sizeof(err)), 0);
	ks_sizeclass_check();   /* would abort the test on a mismatch */
}

/* Mutable copies of the tables, corrupted one way per case. */
static uint16_t c_size[KS_NUM_SIZE_CLASSES];
static uint8_t  c_npages[KS_NUM_SIZE_CLASSES];
static uint16_t c_nelems[KS_NUM_SIZE_CLASSES];
static uint32_t c_divmul[KS_NUM_SIZE_CLASSES];
static uint8_t  c_class8[sizeof(ks_size_to_class8)];
static uint8_t  c_class128[sizeof(ks_size_to_class128)];
static const struct ks_sizeclass_tables copy = {
	c_size, c_npages, c_nelems, c_divmul, c_class8, c_class128,
};

static void reset_copy(void)
{
	memcpy(c_size, ks_class_to_size, sizeof(c_size));
	memcpy(c_npages, ks_class_to_npages, sizeof(c_npages));
	memcpy(c_nelems, ks_class_to_nelems, sizeof(c_nelems));
	memcpy(c_divmul, ks_class_to_divmul, sizeof(c_divmul));
	memcpy(c_class8, ks_size_to_class8, sizeof(c_class8));
	memcpy(c_class128, ks_size_to_class128, sizeof(c_class128));
}

static void expect_caught(const char *what, const char *want)
{
	char err[160] = "";
	if (ks_sizeclass_verify(&copy, err, sizeof(err)) != -1)
		fail_msg("corruption not caught: %s", what);
	if (!strstr(err, want))
		fail_msg("%s: message \"%s\" lacks \"%s\"", what, err, want);
	reset_copy();
}

static void test_check_catches_corruption(void **state)
{
	(void)state;
	char err[160];
	reset_copy();
	assert_int_equal(ks_sizeclass_verify(&copy, err, sizeof(err)), 0);

	c_size[20] = c_size[19];
	expect_caught("size not increasing", "class_to_size[20] = 320");
	c_size[12] += 8;
	expect_caught("size not a multiple of 16", "class_to_size[12] = 184");
	c_size[1] = 4;
	expect_caught("class 1 not 8 bytes", "class_to_size[1] = 4");
	c_npages[40] = 2;
	expect_caught("npages changed", "class_to_nelems[40] = 21, want 5");
	c_npages[63] = 7;
	c_nelems[63] = 2;
	expect_caught("npages and nelems changed together", "tail waste");
	c_npages[31] = 1;
	c_nelems[31] = 8;
	expect_caught("Go's span, less than a batch",
	              "class 31: a span of 1 pages holds 8 objects, less than a batch of 32");
	c_nelems[5] = 127;
	expect_caught("nelems off by one", "class_to_nelems[5] = 127");
	c_divmul[7] -= 1;
	expect_caught("divmul too small", "class_to_divmul[7]");
	c_divmul[66] = 0;   /* exact for 1 object a span, but not ceil() */
	expect_caught("divmul zero", "class_to_divmul[66] = 0 is not");
	c_class8[0] = 0;
	expect_caught("size 0 -> class 0", "size_to_class8[0] = 0, want 1");
	c_class8[50] = (uint8_t)(c_class8[50] + 1);
	expect_caught("class8 too big", "size_to_class8[50]");
	c_class128[100] = (uint8_t)(c_class128[100] - 1);
	expect_caught("class128 too small", "size_to_class128[100]");
	c_class128[sizeof(c_class128) - 1] = 65;
	expect_caught("class128 last entry", "size_to_class128[248]");
	c_npages[0] = 1;
	expect_caught("class 0 not empty", "class 0");
	c_npages[66] = 0;
	expect_caught("no pages", "class_to_npages[66] = 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_go_1_10),
		cmocka_unit_test(test_every_size_gets_smallest_class),
		cmocka_unit_test(test_lookup_tables_vs_linear_search),
		cmocka_unit_test(test_divmul_exact),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_internal_fragmentation),
		cmocka_unit_test(test_check_passes),
		cmocka_unit_test(test_check_catches_corruption),
	};
	return cmocka_run_group_tests_name("sizeclass", tests, NULL, NULL);
}
