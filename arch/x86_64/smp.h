/*
 * Multiprocessor support: bring-up of the application processors
 * (smp_boot.c), and the cross-CPU primitives the kernel and the heap use
 * (smp_call.c; waits park the CPU, park.h).
 *
 * CPUs are named by their dense index 0..ks_smp_ncpus()-1 (ks_cpu_index),
 * the boot CPU being 0.  The set of online CPUs is fixed once ks_smp_init
 * returns.
 */
#ifndef KSPAN_ARCH_X86_64_SMP_H
#define KSPAN_ARCH_X86_64_SMP_H

#include <stdint.h>

/* Boot CPU, first thing in kmain after its GDT: per-CPU block 0 and GS. */
void ks_smp_early_init(void);

/* Boot CPU, once the frame map, paging and the page source are up and
 * before interrupts are enabled: ACPI (MADT, FADT), TSC calibration, the
 * legacy PIC and I/O APICs masked, the boot CPU's LAPIC, interrupt
 * handlers, then INIT-SIPI-SIPI for every other enabled CPU of the MADT
 * (at most KSPAN_MAX_CPUS in all).  Prints "cpus: N online ...".  A
 * missing or malformed table is reported and leaves the boot CPU alone;
 * a CPU that does not answer in time is reported and left out.  Returns
 * the number of CPUs online. */
struct ks_smp_boot {
	uint64_t rsdp;               /* ACPI RSDP (physical) */
	uint64_t identity_top;       /* [0, identity_top) is mapped 1:1 */
	uint64_t trampoline;         /* low frames reserved for the AP start-up */
	uint64_t trampoline_size;    /*   code (below 1 MiB), and their size */
};
unsigned ks_smp_init(const struct ks_smp_boot *b);

unsigned ks_smp_ncpus(void);
/* CPUs of the MADT that did not answer (or came too late) and were left
 * out. */
unsigned ks_smp_left_out(void);
uint32_t ks_smp_apic_id(unsigned cpu);

/*
 * Run fn(arg) on every other online CPU, from its CALL interrupt handler
 * (interrupts off there), and return when all have returned.  _self also
 * runs it here (interrupts off too), so every online CPU ran it once.
 * Calls from different CPUs are serialized.  A CPU that has interrupts
 * off runs fn as soon as it enables them (a CPU inside the allocator
 * finishes its operation first).  Not from an interrupt handler (panics:
 * that could wait on the CPU it interrupted).  A CPU that does not finish
 * within 60 s is a panic naming it.
 */
void ks_smp_call_all(void (*fn)(void *), void *arg);
void ks_smp_call_all_self(void (*fn)(void *), void *arg);

/*
 * Stop the world for the collector (kgc_config.stop_world): every other
 * online CPU takes the STOP interrupt -- which it can only do with
 * interrupts on, so never inside the allocator -- acknowledges, and spins
 * with interrupts off until ks_smp_start_world.  Returns when all have
 * acknowledged (panic naming the CPUs still running after 60 s).  May be
 * called with interrupts off; they stay off until start_world.  No-ops on
 * one CPU.
 */
void ks_smp_stop_world(void);
void ks_smp_start_world(void);
/* Is the world stopped right now (for tests)? */
int ks_smp_world_stopped(void);

/*
 * Post fn(arg) to run in CPU cpu's idle loop, with interrupts on (a
 * normal kernel context: it may allocate, be interrupted, be stopped).
 * Returns 0, or -1 if cpu is this CPU, not online, or still busy with
 * earlier work.  ks_smp_wait waits for it: 0 when done, -1 after
 * timeout_us.
 */
int ks_smp_run(unsigned cpu, void (*fn)(void *), void *arg);
int ks_smp_wait(unsigned cpu, uint64_t timeout_us);
/* Is cpu idle (no posted work pending)? */
int ks_smp_idle(unsigned cpu);

/* Flush the TLB of every other online CPU (NMI, so it works whatever the
 * other CPUs do, interrupts off or waiting for a lock) and wait; a CPU
 * parked in hlt is not woken, it flushes when it leaves the park.  Any
 * context.  Called by paging.c before a new mapping is installed after an
 * unmap. */
void ks_smp_flush_tlb_others(void);

/* Stop every other online CPU for good (NMI; they halt with interrupts
 * off).  For the panic and fatal-exception paths; returns at once. */
void ks_smp_halt_others(void);

/* NMI handler part (trap.c): 1 if the NMI was (or may have been) one of
 * ours and is handled, 0 if nobody asked for it. */
int ks_smp_nmi(void);

/* Periodic LAPIC timer on this CPU calling fn from the interrupt (NULL
 * fn: stop).  The handler runs with interrupts off and sends EOI. */
void ks_smp_timer(unsigned hz, void (*fn)(void));

/* Counters for tests: interrupts taken by cpu; halt windows it entered
 * (park.h), kicks it sent, TLB shootdowns it was spared while parked. */
struct ks_smp_cpu_stats {
	uint64_t ipis, nmis, timer_ticks, stray;
	uint64_t parks, kicks, tlb_deferred;
};
void ks_smp_cpu_stats(unsigned cpu, struct ks_smp_cpu_stats *out);

#endif
