/*
 * isa-debug-exit: the kernel's only way to report pass/fail to the runner
 * (see qemu_exit.h).  No state, no locks.
 */
#include "qemu_exit.h"

#include "cpu.h"

void ks_qemu_exit(int ok)
{
	cpu_cli();
	outl(KS_QEMU_EXIT_PORT, ok ? KS_QEMU_EXIT_PASS : KS_QEMU_EXIT_FAIL);
	for (;;)
		cpu_hlt();
}
