/*
 * Guarded allocations (mm/guard.c): an overflow into the guard page and a
 * use after free both fault at once, and the fault handler's report names
 * the object, its size and where it was allocated (and freed).  On the
 * host the "fault handler" is a SIGSEGV handler that asks
 * kspan_guard_describe, as the kernel's page-fault handler does.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	char msg[300];
	if (kspan_guard_describe((uintptr_t)si->si_addr, msg, sizeof(msg))) {
		fprintf(stderr, "kspan: %s\n", msg);
	} else {
		fprintf(stderr, "segfault at %p outside the guarded pool\n", si->si_addr);
	}
	abort();
}

static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
}

static void test_guarded_objects_work(void **state)
{
	(void)state;
	for (size_t n = 1; n <= 4080; n = n * 3 + 1) {
		char *p = kmalloc_guarded(n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		assert_int_equal(ksize(p), n);
		memset(p, 0x5A, n);                       /* all of it usable */
		/* The object ends at most 15 bytes before the guard page. */
		assert_true(((uintptr_t)p + n + 15) / 4096 * 4096 >= (uintptr_t)p + n);
		kfree(p);
	}
	assert_null(kmalloc_guarded(5000));
	char buf[200];
	int x;
	assert_int_equal(kspan_guard_describe((uintptr_t)&x, buf, sizeof(buf)), 0);
}

static void test_pool_exhaustion(void **state)
{
	(void)state;
	void *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = kmalloc_guarded(100);
		assert_non_null(p[i]);
	}
	assert_null(kmalloc_guarded(100));        /* full: NULL, no crash */
	for (int i = 0; i < 64; i++)
		kfree(p[i]);
	void *q = kmalloc_guarded(100);            /* slots come back */
	assert_non_null(q);
	kfree(q);
}

static void overflow(void *arg)
{
	(void)arg;
	install_handler();
	char *p = kmalloc_guarded(4000);
	volatile char *end = p + 4000;
	for (int i = 0; i < 200; i++)
		end[i] = 1;                             /* runs into the guard */
}

static void use_after_free(void *arg)
{
	(void)arg;
	install_handler();
	volatile char *p = kmalloc_guarded(64);
	kfree((void *)p);
	p[3] = 1;
}

static void double_free(void *arg)
{
	(void)arg;
	char *p = kmalloc_guarded(64);
	kfree(p);
	kfree(p);
}

static void test_overflow_faults(void **state)
{
	(void)state;
	ks_expect_abort(overflow, NULL, "out-of-bounds at");
	ks_expect_abort(overflow, NULL, "of 4000 bytes allocated at");
	ks_expect_abort(overflow, NULL, "allocated at 0x");
}

static void test_use_after_free_faults(void **state)
{
	(void)state;
	ks_expect_abort(use_after_free, NULL, "use-after-free at");
	ks_expect_abort(use_after_free, NULL, "of 64 bytes allocated at");
}

static void test_double_free(void **state)
{
	(void)state;
	ks_expect_abort(double_free, NULL, "double free of a guarded object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guarded_objects_work),
		cmocka_unit_test(test_pool_exhaustion),
		cmocka_unit_test(test_overflow_faults),
		cmocka_unit_test(test_use_after_free_faults),
		cmocka_unit_test(test_double_free),
	};
	return KS_TEST_MAIN("guard", tests, heap_fixture_setup, NULL);
}
