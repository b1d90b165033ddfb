/*
 * In-kernel self-tests.
 *
 *   KS_SELFTEST("frame map: totals match the memory map") {
 *           KT_ASSERT(x != 0);
 *           KT_ASSERT_EQ(a, b);
 *   }
 *
 * Each KS_SELFTEST places a descriptor in the .kspan_tests section
 * (bounded by __kspan_tests_start / __kspan_tests_end in linker.ld), so a
 * test registers itself by being linked in.  ks_selftest_run() runs them
 * sorted by source file name and line, after the kernel is up, and prints TAP: a plan line "1..N",
 * then "ok N - name" or "not ok N - name # file:line message" per test, and
 * finally the plain line "P passed, F failed".
 *
 * KT_ASSERT* record the first failure (file:line and message) and return
 * from the test; KT_EXPECT* record it and carry on.  A failed test never
 * stops the run -- but a CPU exception or panic inside a test does (that is
 * fatal by design, see arch/x86_64/trap.h).
 *
 * Tests run one at a time on one CPU; no locks.
 */
#ifndef KSPAN_KERNEL_SELFTEST_H
#define KSPAN_KERNEL_SELFTEST_H

#include <stdint.h>

struct ks_test {
	const char *name;
	int failures;           /* failed checks in this test */
	const char *file;       /* of the first failure */
	int line;
	char msg[192];
};

#define KS_SELFTEST_MAGIC 0x6b7374u  /* "kst" */

struct ks_selftest {
	uint32_t magic;
	uint32_t line;
	const char *name;
	const char *file;
	void (*fn)(struct ks_test *kt);
};

void kt_fail(struct ks_test *kt, const char *file, int line,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Run every registered test; returns the number that failed.  *total gets
 * the number run. */
int ks_selftest_run(int *total);

/* The boot's seed: fw_cfg file opt/kspan/seed (scripts/run-qemu.sh passes
 * KSPAN_TEST_SEED or a fresh one), else one from the TSC.  Printed once
 * ("# KSPAN_TEST_SEED=N") so that a failed boot can be replayed; the heap
 * (kspan_config.seed) and every randomised self-test derive from it. */
uint64_t ks_selftest_seed(void);
/* A random-number state for one use (a test, a CPU): the seed mixed with
 * tag, never 0. */
uint64_t ks_selftest_rng(uint64_t tag);

#define KS_CAT_(a, b) a##b
#define KS_CAT(a, b) KS_CAT_(a, b)
#define KS_SELFTEST(name) KS_SELFTEST_(name, __COUNTER__)
#define KS_SELFTEST_(name, n) KS_SELFTEST__(name, KS_CAT(ks_selftest_fn_, n), \
                                            KS_CAT(ks_selftest_desc_, n))
#define KS_SELFTEST__(name, fn, desc)                                       \
	static void fn(struct ks_test *kt);                                 \
	static struct ks_selftest desc                                      \
	__attribute__((used, section(".kspan_tests"), aligned(8))) = {      \
		KS_SELFTEST_MAGIC, __LINE__, name, __FILE__, fn };          \
	static void fn(struct ks_test *kt __attribute__((unused)))

#define KT_EXPECT(cond)                                                     \
	((cond) ? 1 : (kt_fail(kt, __FILE__, __LINE__, "%s", #cond), 0))

#define KT_ASSERT(cond)                                                     \
	do {                                                                \
		if (!KT_EXPECT(cond))                                       \
			return;                                             \
	} while (0)

#define KT_EXPECT_EQ(a, b)                                                  \
	({                                                                  \
		uint64_t kt_a_ = (uint64_t)(a), kt_b_ = (uint64_t)(b);      \
		int kt_ok_ = kt_a_ == kt_b_;                                \
		if (!kt_ok_)                                                \
			kt_fail(kt, __FILE__, __LINE__,                     \
			        "%s == %s: 0x%llx (%llu) != 0x%llx (%llu)", \
			        #a, #b, (unsigned long long)kt_a_,          \
			        (unsigned long long)kt_a_,                  \
			        (unsigned long long)kt_b_,                  \
			        (unsigned long long)kt_b_);                 \
		kt_ok_;                                                     \
	})

#define KT_ASSERT_EQ(a, b)                                                  \
	do {                                                                \
		if (!KT_EXPECT_EQ(a, b))                                    \
			return;                                             \
	} while (0)

/* Fail with a formatted message and return from the test. */
#define KT_FAIL(...)                                                        \
	do {                                                                \
		kt_fail(kt, __FILE__, __LINE__, __VA_ARGS__);               \
		return;                                                     \
	} while (0)

#endif
