/*
 * kspan's platform interface (include/kspan/platform.h) on x86_64, for
 * kspan's own kernel.  The page-source half (ks_plat_reserve / commit /
 * decommit) lives in kernel/pagesrc.c because it needs the frame map.
 *
 *   write     the COM1 UART, whole messages under console_lock
 *   abort     the first CPU to abort halts the others (NMI, smp_call.c), writes
 *             "kspan: <msg>" and a backtrace straight to the UART (no
 *             lock: the aborting code may hold it), then takes QEMU's
 *             failure exit; a second CPU that aborts meanwhile halts, and
 *             an abort inside the abort exits at once
 *   slots     own_slot and cpu_id read the per-CPU block GS points at
 *             (percpu.h): the CPU's index, or inside a trap handler
 *             KSPAN_MAX_CPUS and the CPU's interrupt slot; one load each
 *   irq       pushfq / cli / popfq: restore puts IF back as it was, so
 *             guards nest
 *   relax     pause;   now: rdtsc
 *
 * Locks: console_lock orders output lines; it ranks below every mm/ lock
 * (ks_plat_write is called with them held) and takes none itself.
 */
#include <kspan/platform.h>

#include "cpu.h"
#include "percpu.h"
#include "qemu_exit.h"
#include "serial.h"
#include "smp.h"
#include "lib/fmt.h"
#include "lib/spinlock.h"
#include "trap.h"

static struct ks_spinlock console_lock = KS_SPINLOCK_INIT("console", KS_RANK_CONSOLE);
static volatile int aborting;
static int abort_cpu = -1;

void ks_plat_write(const char *s, size_t n)
{
	if (aborting) {                 /* the lock may be held forever */
		ks_serial_write(s, n);
		return;
	}
	ks_irqstate_t f = ks_spin_lock_irqsave(&console_lock);
	ks_serial_write(s, n);
	ks_spin_unlock_irqrestore(&console_lock, f);
}

void ks_plat_abort(const char *msg)
{
	cpu_cli();
	int me = (int)ks_cpu_index(), expect = -1;
	if (!__atomic_compare_exchange_n(&abort_cpu, &expect, me, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (expect == me) {
			static const char again[] = "\nkspan: abort while aborting\n";
			ks_serial_write(again, sizeof(again) - 1);
			ks_qemu_exit(0);
		}
		for (;;)        /* another CPU is reporting; it ends the run */
			cpu_hlt();
	}
	aborting = 1;
	ks_smp_halt_others();
	static const char prefix[] = "\nkspan: ";
	ks_serial_write(prefix, sizeof(prefix) - 1);
	size_t n = 0;
	while (msg[n])
		n++;
	ks_serial_write(msg, n);
	ks_serial_write("\n", 1);
	if (ks_smp_ncpus() > 1) {
		char where[48];
		int k = ks_snprintf(where, sizeof(where), "kspan: (on CPU %d of %u)\n",
		                    me, ks_smp_ncpus());
		ks_serial_write(where, (size_t)k);
	}
	ks_backtrace((uint64_t)(uintptr_t)__builtin_frame_address(0));
	ks_qemu_exit(0);
}

unsigned ks_plat_cpu_id(void)
{
	return KS_PERCPU_READ(kspan_slot);
}

unsigned ks_plat_own_slot(void)
{
	return KS_PERCPU_READ(kspan_own);
}

unsigned ks_plat_irq_slot(unsigned cpu)
{
	return cpu < KS_MAX_CPUS ? KS_IRQ_SLOT(cpu) : KSPAN_MAX_CPUS;
}

ks_irqstate_t ks_plat_irq_save(void)
{
	uint64_t f = read_rflags();
	cpu_cli();
	return (ks_irqstate_t)f;
}

void ks_plat_irq_restore(ks_irqstate_t st)
{
	write_rflags((uint64_t)st);     /* popfq: IF back as it was */
}

void ks_plat_cpu_relax(void)
{
	cpu_pause();
}

uint64_t ks_plat_now(void)
{
	return rdtsc();
}
