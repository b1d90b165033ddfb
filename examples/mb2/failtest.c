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
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "console.h"
#include "cpu.h"
#include "kernel.h"
#include "layout.h"

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Far deeper than the 64 KiB stack; volatile so the compiler cannot
 * prove the recursion endless or turn it into a loop. */
static volatile uint64_t recurse_limit = (uint64_t)1 << 40;

__attribute__((noinline)) uint64_t failtest_recurse(volatile uint64_t *prev);
__attribute__((noinline)) uint64_t failtest_recurse(volatile uint64_t *prev)
{
	volatile uint64_t frame[64];
	frame[0] = prev ? prev[0] + 1 : 0;
	if (frame[0] >= recurse_limit)
		return frame[0];
	return failtest_recurse(frame) + frame[1];
}

void failtest_run(const char *name)
{
	kprintf("failtest: %s\n", name);
	if (streq(name, "nullderef")) {
		kprintf("failtest: writing through address 0x0\n");
		*(volatile uint64_t *)(uintptr_t)0 = 1;
	} else if (streq(name, "stackoverflow")) {
		kprintf("failtest: recursing below the stack at %p, guard page %p\n",
		        (void *)boot_stack_bottom, (void *)boot_stack_guard);
		failtest_recurse(0);
	} else if (streq(name, "badfree")) {
		char *p = kmalloc(64);
		if (!p)
			kpanic("failtest: kmalloc(64) returned NULL");
		kprintf("failtest: kfree of interior pointer %p\n", (void *)(p + 16));
		kfree(p + 16);
	} else if (streq(name, "doublefree")) {
		void *keep = kmalloc(48);   /* keeps the span in use */
		void *p = kmalloc(48);
		if (!p || !keep)
			kpanic("failtest: kmalloc(48) returned NULL");
		kfree(p);
		kprintf("failtest: second kfree of %p\n", p);
		kfree(p);
	} else if (streq(name, "wildfree")) {
		void *p = (void *)(uintptr_t)0x200000;
		kprintf("failtest: kfree of non-heap address %p\n", p);
		kfree(p);
	} else if (streq(name, "badcommit")) {
		void *p = (void *)(uintptr_t)(HEAP_WINDOW_BASE + 0x10);
		kprintf("failtest: ks_plat_commit of misaligned %p\n", p);
		ks_plat_commit(p, 4096);
	} else {
		return;
	}
	kprintf("failtest: %s: the bad operation went unnoticed\n", name);
	kprintf("failtest: FAILED\n");
	/* Report with a status the runner cannot confuse with the expected
	 * failure: the pass code, but without the expected message. */
	qemu_exit(QEMU_EXIT_PASS);
}
