/*
 * Kernels that must fail, for `make test-boot-runner`: built with exactly
 * one KSPAN_VARIANT_* define (mk/kernel.mk), each adds a self-test that
 * ends the run badly in one way.  scripts/run-qemu.sh has to report every
 * one of them as a failure.  Never linked into the normal kernel.
 */
#include "kernel/selftest.h"

#include "arch/x86_64/cpu.h"
#include "kernel/kernel.h"

#if defined(KSPAN_VARIANT_FAIL)
KS_SELFTEST("variant: a self-test that fails on purpose")
{
	KT_ASSERT_EQ(1 + 1, 3);
}
#elif defined(KSPAN_VARIANT_PANIC)
KS_SELFTEST("variant: panic on purpose")
{
	kpanic("deliberate panic (test-boot-runner variant)");
}
#elif defined(KSPAN_VARIANT_PAGEFAULT)
KS_SELFTEST("variant: page fault on purpose")
{
	/* Canonical, far above the identity map and the page source. */
	volatile uint64_t *p = (volatile uint64_t *)0x7ff000000000ull;
	*p = 1;
}
#elif defined(KSPAN_VARIANT_TRIPLEFAULT)
KS_SELFTEST("variant: triple fault on purpose")
{
	/* With an empty IDT nothing can be delivered: #BP -> #GP -> #DF ->
	 * shutdown, which QEMU with -no-reboot turns into exit status 0. */
	struct ks_dtr empty = { 0, 0 };
	lidt(&empty);
	__asm__ volatile("int3");
}
#elif defined(KSPAN_VARIANT_HANG)
KS_SELFTEST("variant: hang on purpose")
{
	cpu_cli();
	for (;;)
		cpu_hlt();
}
#elif defined(KSPAN_VARIANT_GUARD)
#include <kspan/kmalloc.h>
KS_SELFTEST("variant: use after free of a guarded object")
{
	volatile char *p = kmalloc_guarded(100);
	KT_ASSERT(p != 0);
	p[0] = 1;
	kfree((void *)p);
	p[7] = 2;   /* the page is gone: faults, and the report says why:
	               "kspan: use-after-free write at 0x...: object 0x... of 100
	               bytes allocated at 0x..., freed at 0x..." */
}
#else
#error "test_variant.c needs one KSPAN_VARIANT_* define"
#endif
