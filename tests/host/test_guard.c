/*
 * The guarded pool (mm/guard.c) and the host's guard-mode fault handler
 * (ks_host_guard_faults, arch/host/platform.c): where objects go (against
 * the guard page above or below, natural or asked alignment, one page to
 * multi-page and large slots), the bounds (live objects, committed
 * memory, quarantine FIFO), the sampling rate, and death tests for every
 * report: the one-line fault report (read / write, out-of-bounds /
 * use-after-free, exact address, object, size and sites), double and
 * invalid frees naming the caller's function, slack overwritten, and
 * faults outside the pool keeping their behaviour.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "arch/host/platform.h"
#include "mm/guard.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

#define PAGE 4096u
#define SITE_A ((void *)(uintptr_t)0x5151000)
#define SITE_F ((void *)(uintptr_t)0xf4ee000)

static void configure(unsigned sample, int below, size_t max_live,
                      size_t max_committed, size_t quarantine)
{
	/* min_align 1: objects end exactly at their guard page. */
	struct kspan_guard_config cfg = {
		.sample = sample, .below = below, .max_live = max_live,
		.max_committed = max_committed, .quarantine = quarantine,
		.min_align = 1,
	};
	assert_int_equal(kspan_guard_configure(&cfg), 0);
}

static void defaults(void)
{
	configure(0, 0, 0, 0, 0);
}

static int count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* First: the pool in guard-marker mode when the kernel has guard markers
 * (Linux 6.13), so that the rest of the suite runs in it; 2000 live
 * objects then add no mapping.  Without them, PROT_NONE mode (dbg_guard
 * always runs in that one). */
static void test_marker_mode(void **state)
{
	(void)state;
	defaults();
	void *first = ks_guard_alloc(8, SITE_A);   /* creates the pool */
	struct kspan_guard_stats st;
	kspan_guard_stats(&st);
	assert_true(st.pool_base != 0 && st.pool_bytes >= (size_t)1 << 30);
	/* Not a whole fresh reservation: refused. */
	assert_int_equal(ks_host_guard_markers((void *)(uintptr_t)st.pool_base,
	                                       PAGE), -1);
	/* Something is committed in it: refused. */
	assert_int_equal(ks_host_guard_markers((void *)(uintptr_t)st.pool_base,
	                                       st.pool_bytes), -1);
	ks_guard_free_as((uintptr_t)first, "kfree", SITE_F);
	configure(0, 0, 0, 0, 0);
	int rc = ks_host_guard_markers((void *)(uintptr_t)st.pool_base, st.pool_bytes);
	print_message("guard markers: %s\n", rc == 0 ? "yes" : "no (PROT_NONE mode)");
	if (rc != 0)
		return;
	/* The first object's pages are decommitted already, so this fails
	 * only if something was still committed. */
	int before = count_mappings();
	static void *p[2000];
	for (int i = 0; i < 2000; i++) {
		p[i] = ks_guard_alloc((size_t)(i % 3000) + 1, SITE_A);
		assert_non_null(p[i]);
		memset(p[i], 1, (size_t)(i % 3000) + 1);
	}
	assert_true(count_mappings() < before + 10);
	for (int i = 0; i < 2000; i++)
		ks_guard_free_as((uintptr_t)p[i], "kfree", SITE_F);
}

static void test_kmalloc_guarded_contract(void **state)
{
	(void)state;
	defaults();
	for (size_t n = 0; n <= KS_GUARD_MAX; n = n * 3 + 1) {
		char *p = kmalloc_guarded(n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		assert_int_equal(ksize(p), n);
		memset(p, 0x5A, n);                       /* all of it usable */
		/* It ends at most 15 bytes before the guard page. */
		uintptr_t end = (uintptr_t)p + n;
		assert_true((end + PAGE - 1) / PAGE * PAGE - end <= 15);
		kfree(p);
	}
	assert_null(kmalloc_guarded(KS_GUARD_MAX + 1));
	char buf[200];
	int x;
	assert_int_equal(kspan_guard_fault((uintptr_t)&x, 1, buf, sizeof(buf)), 0);
	assert_int_equal(kspan_guard_describe((uintptr_t)&x, buf, sizeof(buf)), 0);
}

/* Natural alignment: the object ends exactly at its guard page, whatever
 * the size, from one byte to multi-page and large slots. */
static void test_placement_above(void **state)
{
	(void)state;
	defaults();
	static const size_t sizes[] = { 0, 1, 7, 13, 16, 24, 100, 1000, 4095, 4096,
		4097, 8191, 20000, 32768, 32769, 65536, 100000, (size_t)1 << 20,
		((size_t)3 << 20) + 5 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *p = ks_guard_alloc(n, SITE_A);
		assert_non_null(p);
		assert_true(ks_guard_owns((uintptr_t)p));
		uintptr_t end = (uintptr_t)p + n;
		assert_int_equal(end % PAGE, 0);
		size_t a = n ? (n & (~n + 1)) : 16;
		assert_int_equal((uintptr_t)p % (a < 16 ? a : 16), 0);
		assert_int_equal(ks_guard_size((uintptr_t)p), n);
		assert_ptr_equal(ks_guard_site((uintptr_t)p), SITE_A);
		if (n) {
			memset(p, 0x33, n);
			/* Fresh pages read as zero: check the last byte was ours. */
			assert_int_equal((unsigned char)p[n - 1], 0x33);
		}
		ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	}
	/* Explicit alignment is kept (slack before the guard is allowed). */
	for (size_t align = 1; align <= 65536; align <<= 1) {
		char *p = ks_guard_alloc_aligned(300, align, SITE_A);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % align, 0);
		if (300 % align == 0)   /* 1, 2, 4: no slack */
			assert_int_equal(((uintptr_t)p + 300) % PAGE, 0);
		memset(p, 1, 300);
		ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	}
	assert_null(ks_guard_alloc_aligned(10, 3, SITE_A));
}

static void test_placement_below(void **state)
{
	(void)state;
	configure(0, 1, 0, 0, 0);
	static const size_t sizes[] = { 1, 13, 64, 4096, 5000, 32768, (size_t)1 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = ks_guard_alloc(sizes[i], SITE_A);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % PAGE, 0);   /* right after the guard */
		memset(p, 7, sizes[i]);
		ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	}
	defaults();
}

static void test_min_align(void **state)
{
	(void)state;
	/* 0: kmalloc's alignment, 16 above 8 bytes, 8 below. */
	struct kspan_guard_config cfg = { .min_align = 0 };
	assert_int_equal(kspan_guard_configure(&cfg), 0);
	char *p = ks_guard_alloc(13, SITE_A);     /* 16-aligned, 3 bytes of slack */
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_int_equal(((uintptr_t)p + 13) % PAGE, PAGE - 3);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	p = ks_guard_alloc(5, SITE_A);            /* 8-aligned */
	assert_int_equal((uintptr_t)p % 8, 0);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	cfg.min_align = 8;
	assert_int_equal(kspan_guard_configure(&cfg), 0);
	p = ks_guard_alloc(13, SITE_A);           /* 8-aligned, 3 bytes of slack */
	assert_int_equal((uintptr_t)p % 8, 0);
	assert_int_equal(((uintptr_t)p + 13) % PAGE, PAGE - 3);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	p = ks_guard_alloc(5, SITE_A);            /* fewer than 8 bytes: 4 is enough */
	assert_int_equal((uintptr_t)p % 4, 0);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	cfg.min_align = 3;
	assert_int_equal(kspan_guard_configure(&cfg), -1);
	cfg.min_align = 32;
	assert_int_equal(kspan_guard_configure(&cfg), -1);
	struct kspan_guard_config bad = { .below = 2 };
	assert_int_equal(kspan_guard_configure(&bad), -1);
	struct kspan_guard_config small = { .pool_bytes = 1 << 20 };
	assert_int_equal(kspan_guard_configure(&small), -1);
	struct kspan_guard_config other = { .pool_bytes = (size_t)8 << 30 };
	assert_int_equal(kspan_guard_configure(&other), -1);   /* pool exists */
	defaults();
}

static void test_bounds(void **state)
{
	(void)state;
	struct kspan_guard_stats before, after;
	configure(0, 0, 0, 0, 0);
	kspan_guard_stats(&before);
	configure(0, 0, before.live + 10, 0, 0);
	void *p[11];
	for (int i = 0; i < 10; i++)
		assert_non_null(p[i] = ks_guard_alloc(100, SITE_A));
	assert_null(ks_guard_alloc(100, SITE_A));    /* 10 live: full */
	kspan_guard_stats(&after);
	assert_int_equal(after.fallbacks, before.fallbacks + 1);
	assert_int_equal(after.live, before.live + 10);
	ks_guard_free_as((uintptr_t)p[0], "kfree", SITE_F);
	assert_non_null(p[10] = ks_guard_alloc(100, SITE_A));
	for (int i = 1; i <= 10; i++)
		ks_guard_free_as((uintptr_t)p[i], "kfree", SITE_F);
	/* Committed memory: 3 pages allowed, a 2-page object fits once. */
	kspan_guard_stats(&before);
	configure(0, 0, 0, before.committed + 3 * PAGE, 0);
	void *a = ks_guard_alloc(2 * PAGE, SITE_A);
	assert_non_null(a);
	assert_null(ks_guard_alloc(2 * PAGE, SITE_A));
	void *b = ks_guard_alloc(PAGE, SITE_A);
	assert_non_null(b);
	kspan_guard_stats(&after);
	assert_int_equal(after.committed, before.committed + 3 * PAGE);
	ks_guard_free_as((uintptr_t)a, "kfree", SITE_F);
	ks_guard_free_as((uintptr_t)b, "kfree", SITE_F);
	kspan_guard_stats(&after);
	assert_int_equal(after.committed, before.committed);
	/* A size no slot holds is not guarded. */
	assert_null(ks_guard_alloc((size_t)1 << 40, SITE_A));
	/* The largest slots: one in the default pool.  Full, with nothing of
	 * its size in quarantine: not guarded, and the quarantine stays. */
	defaults();
	size_t huge = (size_t)200 << 20;
	void *h = ks_guard_alloc(huge, SITE_A);
	assert_non_null(h);
	void *s1 = ks_guard_alloc(64, SITE_A);
	ks_guard_free_as((uintptr_t)s1, "kfree", SITE_F);
	kspan_guard_stats(&before);
	assert_null(ks_guard_alloc(huge, SITE_A));
	kspan_guard_stats(&after);
	assert_int_equal(after.quarantined, before.quarantined);
	/* Its slot in quarantine: released early (with what is older) for it. */
	ks_guard_free_as((uintptr_t)h, "kfree", SITE_F);
	void *h2 = ks_guard_alloc(huge, SITE_A);
	assert_ptr_equal(h2, h);
	kspan_guard_stats(&after);
	assert_true(after.quarantined < before.quarantined);
	ks_guard_free_as((uintptr_t)h2, "kfree", SITE_F);
	defaults();
}

/* Freed slots stay out of use for exactly `quarantine` frees (FIFO), then
 * come back first (the free list is LIFO). */
static void test_quarantine_fifo(void **state)
{
	(void)state;
	configure(0, 0, 0, 0, 4);
	char *x = ks_guard_alloc(64, SITE_A);
	ks_guard_free_as((uintptr_t)x, "kfree", SITE_F);
	for (int i = 0; i < 4; i++) {
		void *y = ks_guard_alloc(64, SITE_A);
		assert_ptr_not_equal(y, x);
		ks_guard_free_as((uintptr_t)y, "kfree", SITE_F);
	}
	struct kspan_guard_stats st;
	kspan_guard_stats(&st);
	assert_int_equal(st.quarantined, 4);
	void *z = ks_guard_alloc(64, SITE_A);
	assert_ptr_equal(z, x);
	ks_guard_free_as((uintptr_t)z, "kfree", SITE_F);
	defaults();
}

/* The sampling rate: 1 in N on average, per CPU; all; none. */
static void test_sampling(void **state)
{
	(void)state;
	kspan_guard_sample(0);
	for (int i = 0; i < 1000; i++)
		assert_false(ks_guard_sample_now());
	kspan_guard_sample(1);
	for (int i = 0; i < 1000; i++)
		assert_true(ks_guard_sample_now());
	kspan_guard_sample(100);
	unsigned hits = 0;
	for (int i = 0; i < 200000; i++)
		hits += ks_guard_sample_now();
	/* Mean gap 100: 2000 expected; gaps are uniform in [1, 199]. */
	assert_true(hits > 1700 && hits < 2300);
	kspan_guard_sample(0);
}

/* ---- death tests ---------------------------------------------------------- */

struct access {
	volatile char *at;
	int write;
};

static void do_access(void *arg)
{
	struct access *a = arg;
	if (ks_host_guard_faults() != 0)
		abort();
	if (a->write)
		*a->at = 1;
	else
		(void)*a->at;
	fprintf(stderr, "no fault\n");
}

static void expect_line(struct access *a, const char *line)
{
	char want[400];
	snprintf(want, sizeof(want), "%s\n", line);
	ks_expect_abort(do_access, a, want);
}

static void test_report_out_of_bounds(void **state)
{
	(void)state;
	defaults();
	char line[300];
	char *p = ks_guard_alloc(100, SITE_A);
	struct access a = { p + 100, 1 };
	snprintf(line, sizeof(line), "kspan: out-of-bounds write at %p: object %p of "
	         "100 bytes allocated at %p", (void *)(p + 100), (void *)p, SITE_A);
	expect_line(&a, line);
	a.write = 0;
	snprintf(line, sizeof(line), "kspan: out-of-bounds read at %p: object %p of "
	         "100 bytes allocated at %p", (void *)(p + 100), (void *)p, SITE_A);
	expect_line(&a, line);
	/* Far past a multi-page object: still it. */
	char *q = ks_guard_alloc(20000, SITE_A);
	a = (struct access){ q + 20000 + 3000, 0 };
	snprintf(line, sizeof(line), "kspan: out-of-bounds read at %p: object %p of "
	         "20000 bytes allocated at %p", (void *)(q + 23000), (void *)q, SITE_A);
	expect_line(&a, line);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
	ks_guard_free_as((uintptr_t)q, "kfree", SITE_F);
}

static void test_report_use_after_free(void **state)
{
	(void)state;
	defaults();
	char line[300];
	char *p = ks_guard_alloc(48, SITE_A);
	ks_guard_free_as((uintptr_t)p, "free", SITE_F);
	struct access a = { p + 8, 0 };
	snprintf(line, sizeof(line), "kspan: use-after-free read at %p: object %p of "
	         "48 bytes allocated at %p, freed at %p", (void *)(p + 8), (void *)p,
	         SITE_A, SITE_F);
	expect_line(&a, line);
	a.write = 1;
	snprintf(line, sizeof(line), "kspan: use-after-free write at %p: object %p of "
	         "48 bytes allocated at %p, freed at %p", (void *)(p + 8), (void *)p,
	         SITE_A, SITE_F);
	expect_line(&a, line);
	char *big = ks_guard_alloc((size_t)1 << 20, SITE_A);
	ks_guard_free_as((uintptr_t)big, "free", SITE_F);
	a = (struct access){ big + 500000, 1 };
	snprintf(line, sizeof(line), "kspan: use-after-free write at %p: object %p of "
	         "1048576 bytes allocated at %p, freed at %p", (void *)(big + 500000),
	         (void *)big, SITE_A, SITE_F);
	expect_line(&a, line);
}

static void test_report_underflow(void **state)
{
	(void)state;
	configure(0, 1, 0, 0, 0);
	char line[300];
	char *p = ks_guard_alloc(32, SITE_A);
	defaults();
	struct access a = { p - 1, 0 };
	snprintf(line, sizeof(line), "kspan: out-of-bounds read at %p: object %p of "
	         "32 bytes allocated at %p", (void *)(p - 1), (void *)p, SITE_A);
	expect_line(&a, line);
	a = (struct access){ p - 100, 1 };
	snprintf(line, sizeof(line), "kspan: out-of-bounds write at %p: object %p of "
	         "32 bytes allocated at %p", (void *)(p - 100), (void *)p, SITE_A);
	expect_line(&a, line);
	ks_guard_free_as((uintptr_t)p, "kfree", SITE_F);
}

static void kmalloc_guarded_uaf(void *arg)
{
	(void)arg;
	ks_host_guard_faults();
	volatile char *p = kmalloc_guarded(64);
	kfree((void *)p);
	p[3] = 1;
}

static void test_report_kmalloc_guarded(void **state)
{
	(void)state;
	defaults();
	/* The sites are this file's call sites: kmalloc_guarded's and kfree's
	 * return addresses. */
	ks_expect_abort(kmalloc_guarded_uaf, NULL, "kspan: use-after-free write at 0x");
	ks_expect_abort(kmalloc_guarded_uaf, NULL, "of 64 bytes allocated at 0x");
}

/* A fault outside the pool keeps its behaviour: the handler installed
 * before ours, or the default action. */

static void user_handler(int sig)
{
	(void)sig;
	static const char msg[] = "user handler\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(42);
}

/* mode 0: a fault with the default action; 1: with a handler of the
 * program's; 2: SIGSEGV sent by kill(2), not a fault. */
static void fault_child(void *arg)
{
	int mode = (int)(intptr_t)arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mode == 1 ? user_handler : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	ks_host_guard_faults();
	if (mode == 2)
		kill(getpid(), SIGSEGV);
	else
		*(volatile char *)(uintptr_t)16 = 1;
	_exit(0);
}

static int run_child(int mode, char *err, size_t cap)
{
	return ks_run_child(fault_child, (void *)(intptr_t)mode, err, cap);
}

static void test_fault_outside_pool(void **state)
{
	(void)state;
	char err[2048];
	int st = run_child(0, err, sizeof(err));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
	assert_null(strstr(err, "kspan:"));
	st = run_child(1, err, sizeof(err));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	assert_non_null(strstr(err, "user handler"));
	st = run_child(2, err, sizeof(err));      /* kill(2)ed, not a fault */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

static void double_free(void *arg)
{
	(void)arg;
	uintptr_t p = (uintptr_t)ks_guard_alloc(64, SITE_A);
	ks_guard_free_as(p, "free", SITE_F);
	ks_guard_free_as(p, "free", SITE_F);
}

static void realloc_freed(void *arg)
{
	(void)arg;
	uintptr_t p = (uintptr_t)ks_guard_alloc(64, SITE_A);
	ks_guard_free_as(p, "free", SITE_F);
	(void)ks_guard_size_as(p, "realloc", true);
}

static void size_freed(void *arg)
{
	(void)arg;
	uintptr_t p = (uintptr_t)ks_guard_alloc(64, SITE_A);
	ks_guard_free_as(p, "free", SITE_F);
	(void)ks_guard_size_as(p, "malloc_usable_size", false);
}

static void interior_free(void *arg)
{
	(void)arg;
	uintptr_t p = (uintptr_t)ks_guard_alloc(64, SITE_A);
	ks_guard_free_as(p + 16, "cfree", SITE_F);
}

static void wild_free(void *arg)
{
	(void)arg;
	uintptr_t p = (uintptr_t)ks_guard_alloc(64, SITE_A);
	ks_guard_free_as(p - 4096 * 3, "free", SITE_F);
}

static void kfree_twice(void *arg)
{
	(void)arg;
	char *p = kmalloc_guarded(64);
	kfree(p);
	kfree(p);
}

static void slack_overflow(void *arg)
{
	(void)arg;
	char *p = kmalloc_guarded(13);   /* 16-aligned: 3 bytes of slack */
	p[14] = 0;
	kfree(p);
}

static void slack_underflow(void *arg)
{
	(void)arg;
	char *p = kmalloc_guarded(100);
	p[-2] = 0;
	kfree(p);
}

static void test_bad_frees(void **state)
{
	(void)state;
	defaults();
	char want[200];
	ks_expect_abort(double_free, NULL, "free(0x");
	ks_expect_abort(double_free, NULL, "double free of a guarded object (64 bytes");
	snprintf(want, sizeof(want), "allocated at %p, freed at %p)", SITE_A, SITE_F);
	ks_expect_abort(double_free, NULL, want);
	ks_expect_abort(realloc_freed, NULL, "kspan: realloc(0x");
	ks_expect_abort(realloc_freed, NULL, "double free of a guarded object");
	ks_expect_abort(size_freed, NULL, "kspan: malloc_usable_size(0x");
	ks_expect_abort(size_freed, NULL, "use after free of a guarded object");
	ks_expect_abort(interior_free, NULL, "kspan: cfree(0x");
	ks_expect_abort(interior_free, NULL, "interior pointer, 16 bytes into the live guarded object");
	ks_expect_abort(wild_free, NULL, "not the start of a live guarded object");
	ks_expect_abort(kfree_twice, NULL, "kspan: kfree(0x");
	ks_expect_abort(kfree_twice, NULL, "double free of a guarded object");
	ks_expect_abort(slack_overflow, NULL, "kfree(0x");
	ks_expect_abort(slack_overflow, NULL, "heap overflow: guarded object of 13 bytes");
	ks_expect_abort(slack_overflow, NULL, "written past its end at offset 14");
	ks_expect_abort(slack_underflow, NULL, "written before its start at offset -2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marker_mode),
		cmocka_unit_test(test_kmalloc_guarded_contract),
		cmocka_unit_test(test_placement_above),
		cmocka_unit_test(test_placement_below),
		cmocka_unit_test(test_min_align),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_quarantine_fifo),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_report_out_of_bounds),
		cmocka_unit_test(test_report_use_after_free),
		cmocka_unit_test(test_report_underflow),
		cmocka_unit_test(test_report_kmalloc_guarded),
		cmocka_unit_test(test_fault_outside_pool),
		cmocka_unit_test(test_bad_frees),
	};
	return KS_TEST_MAIN("guard", tests, heap_fixture_setup, NULL);
}
