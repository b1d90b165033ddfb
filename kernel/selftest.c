/*
 * Self-test runner (see selftest.h): sorts the .kspan_tests section by file
 * and line, runs each test with a fresh struct ks_test, and prints TAP lines and the
 * "P passed, F failed" summary.  A descriptor without KS_SELFTEST_MAGIC, or
 * a section whose size is not a whole number of descriptors, means the
 * linker script or the macro is broken: that panics instead of running
 * garbage.  fw_cfg file opt/kspan/only = PREFIX runs only the tests whose
 * name starts with PREFIX (scripts/run-qemu.sh --fw-cfg only=PREFIX).
 */
#include "selftest.h"

#include <stdarg.h>
#include <stddef.h>
#include <kspan/platform.h>
#include "kernel.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fwcfg.h"
#include "lib/bits.h"
#include "lib/fmt.h"

extern struct ks_selftest __kspan_tests_start[], __kspan_tests_end[];

void kt_fail(struct ks_test *kt, const char *file, int line,
             const char *fmt, ...)
{
	if (kt->failures++ == 0) {
		kt->file = file;
		kt->line = line;
		va_list ap;
		va_start(ap, fmt);
		ks_vsnprintf(kt->msg, sizeof(kt->msg), fmt, ap);
		va_end(ap);
	}
}

static uint64_t boot_seed;

uint64_t ks_selftest_seed(void)
{
	if (boot_seed)
		return boot_seed;
	uint64_t s = 0;
	if (ks_fwcfg_uint("opt/kspan/seed", &s) != 0 || s == 0)
		s = ks_mix64(rdtsc()) | 1;
	boot_seed = s;
	kprintf("# KSPAN_TEST_SEED=%llu\n", (unsigned long long)s);
	return s;
}

uint64_t ks_selftest_rng(uint64_t tag)
{
	uint64_t x = ks_mix64(ks_selftest_seed() ^ ks_mix64(tag));
	return x ? x : 1;
}

static int str_cmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int before(const struct ks_selftest *a, const struct ks_selftest *b)
{
	int c = str_cmp(a->file, b->file);
	return c < 0 || (c == 0 && a->line < b->line);
}

/* The compiler emits a file's descriptors in any order it likes; run them
 * by file name, then in source order (insertion sort: tens of tests). */
static void sort_tests(struct ks_selftest *t, int n)
{
	for (int i = 1; i < n; i++) {
		struct ks_selftest x = t[i];
		int j = i;
		for (; j > 0 && before(&x, &t[j - 1]); j--)
			t[j] = t[j - 1];
		t[j] = x;
	}
}

static int has_prefix(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

static const char *basename_of(const char *path)
{
	const char *b = path;
	for (const char *p = path; *p; p++)
		if (*p == '/')
			b = p + 1;
	return b;
}

int ks_selftest_run(int *total)
{
	uintptr_t bytes = (uintptr_t)__kspan_tests_end -
	                  (uintptr_t)__kspan_tests_start;
	if (bytes % sizeof(struct ks_selftest))
		kpanic("selftest: .kspan_tests is %lu bytes, not a multiple of "
		       "%lu", (unsigned long)bytes,
		       (unsigned long)sizeof(struct ks_selftest));
	int n = (int)(bytes / sizeof(struct ks_selftest));
	for (int i = 0; i < n; i++)
		if (__kspan_tests_start[i].magic != KS_SELFTEST_MAGIC)
			kpanic("selftest: descriptor %d at %p has bad magic 0x%x",
			       i, (void *)&__kspan_tests_start[i],
			       __kspan_tests_start[i].magic);

	sort_tests(__kspan_tests_start, n);
	char only[64] = "";
	if (ks_fwcfg_read("opt/kspan/only", only, sizeof(only)) > 0) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (has_prefix(__kspan_tests_start[i].name, only))
				__kspan_tests_start[k++] = __kspan_tests_start[i];
		kprintf("# only the %d tests named \"%s...\" (opt/kspan/only)\n", k, only);
		n = k;
	}
	kprintf("1..%d\n", n);
	int failed = 0;
	for (int i = 0; i < n; i++) {
		const struct ks_selftest *t = &__kspan_tests_start[i];
		struct ks_test kt = { .name = t->name };
		uint64_t t0 = ks_plat_now();
		t->fn(&kt);
		uint64_t dt = ks_plat_now() - t0;
		if (kt.failures) {
			failed++;
			kprintf("not ok %d - %s # %s:%d %s\n", i + 1, t->name,
			        basename_of(kt.file), kt.line, kt.msg);
			if (kt.failures > 1)
				kprintf("# (%d more failed checks in this test)\n",
				        kt.failures - 1);
		} else {
			kprintf("ok %d - %s\n", i + 1, t->name);
		}
		if (dt > 1000000000ull)
			kprintf("# %s took %llu Mcycles\n", t->name,
			        (unsigned long long)(dt / 1000000));
	}
	*total = n;
	return failed;
}
