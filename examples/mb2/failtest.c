/*
 * Deliberate failures, chosen with failtest=NAME on the kernel command
 * line.  Each one does something wrong that must stop the kernel with a
 * message and QEMU's failure status; the runner (run.sh, called by
 * mk/example.mk) checks the status and the message.  They prove that the
 * failure paths work: a kernel that silently survived a double free or
 * rebooted on a page fault would fail these tests.
 *
 *   nullderef      write through NULL: #PF report with CR2 = 0
 *   stackoverflow  unbounded recursion: #PF on the stack guard page
 *   badfree        kfree of an interior pointer: kspan panics naming it
 *   doublefree     kfree twice: kspan panics naming the address
 *   wildfree       kfree of an address outside the heap: kspan panics
 *   badcommit      ks_plat_commit of a misaligned range: the hook panics
 *
 * Before the bad call each test prints "failtest: <what> <address>" so the
 * runner can check that the panic names that address.
 */
#include <stdint.h>
#include <kspan/fmt.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "kernel.h"

static void nullderef(void)
{
	ks_printf("failtest: writing through address 0x0\n");
	*(volatile uint64_t *)(uintptr_t)0 = 1;
}

/* Far deeper than the 64 KiB stack; volatile so the compiler cannot
 * prove the recursion endless or turn it into a loop. */
static volatile uint64_t recurse_limit = (uint64_t)1 << 40;

__attribute__((noinline)) static uint64_t recurse(volatile uint64_t *prev)
{
	volatile uint64_t frame[64];
	frame[0] = prev ? prev[0] + 1 : 0;
	if (frame[0] >= recurse_limit)
		return frame[0];
	return recurse(frame) + frame[1];
}

static void stackoverflow(void)
{
	ks_printf("failtest: recursing below the stack at %p, guard page %p\n",
	          (void *)boot_stack_bottom, (void *)boot_stack_guard);
	recurse(0);
}

static void badfree(void)
{
	char *p = kmalloc(64);
	if (!p)
		panic("failtest: kmalloc(64) returned NULL");
	ks_printf("failtest: kfree of interior pointer %p\n", (void *)(p + 16));
	kfree(p + 16);
}

static void doublefree(void)
{
	void *keep = kmalloc(48);       /* keeps the span in use */
	void *p = kmalloc(48);
	if (!p || !keep)
		panic("failtest: kmalloc(48) returned NULL");
	kfree(p);
	ks_printf("failtest: second kfree of %p\n", p);
	kfree(p);
}

static void wildfree(void)
{
	void *p = (void *)(uintptr_t)0x200000;
	ks_printf("failtest: kfree of non-heap address %p\n", p);
	kfree(p);
}

static void badcommit(void)
{
	void *p = (void *)(uintptr_t)(HEAP_WINDOW_BASE + 0x10);
	ks_printf("failtest: ks_plat_commit of misaligned %p\n", p);
	ks_plat_commit(p, 4096);
}

static const struct {
	const char *name;
	void (*run)(void);
} tests[] = {
	{ "nullderef", nullderef },   { "stackoverflow", stackoverflow },
	{ "badfree", badfree },       { "doublefree", doublefree },
	{ "wildfree", wildfree },     { "badcommit", badcommit },
};

/* The rest of s after prefix, or NULL if s does not start with it. */
static const char *skip_prefix(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return s;
}

void failtest_run(const char *cmdline)
{
	const char *arg = 0;
	for (const char *p = cmdline; *p && !arg; p++)
		if (p == cmdline || p[-1] == ' ')
			arg = skip_prefix(p, "failtest=");
	if (!arg)
		return;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		const char *end = skip_prefix(arg, tests[i].name);
		if (!end || (*end && *end != ' '))
			continue;
		ks_printf("failtest: %s\n", tests[i].name);
		tests[i].run();
		ks_printf("failtest: %s: the bad operation went unnoticed\n"
		          "failtest: FAILED\n", tests[i].name);
		/* Report with a status the runner cannot confuse with the
		 * expected failure: the pass code, but without the expected
		 * message. */
		qemu_exit(QEMU_EXIT_PASS);
	}
	panic("failtest: unknown test in the command line \"%s\"", cmdline);
}
