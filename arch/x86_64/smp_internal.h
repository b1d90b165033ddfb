/*
 * What the two halves of SMP support share (smp.h is the public side):
 *
 *   smp_boot.c  bring-up: ACPI MADT, timers, the trampoline,
 *               INIT-SIPI-SIPI, the AP's first C code;
 *   smp_call.c  cross-CPU calls: call_all, stop/start the world, posted
 *               work and the idle loop, TLB shootdown, halting the others,
 *               the interrupt handlers behind them, and the spinlocks'
 *               parking hooks.
 *
 * smp_boot.c calls into smp_call.c (below), never the other way round:
 * smp_call.c learns the online CPUs from ks_smp_call_set_online.
 */
#ifndef KSPAN_ARCH_X86_64_SMP_INTERNAL_H
#define KSPAN_ARCH_X86_64_SMP_INTERNAL_H

#include <stdint.h>
#include "cpu.h"
#include "percpu.h"
#include "tsc.h"

/* Boot CPU, before any other CPU starts and before interrupts are on:
 * interrupt handlers for the SMP vectors, the trap hooks (NMI requests,
 * halting the others), the spinlocks' parking hooks. */
void ks_smp_call_setup(void);

/* A CPU's call-side state before it starts (it is in no TLB shootdown
 * generation yet: it starts with a fresh TLB). */
void ks_smp_call_prepare_cpu(struct ks_percpu *pc);

/* CPUs 0..n-1 are online from now on (published with release). */
void ks_smp_call_set_online(unsigned n);

/* An AP's home once it is ONLINE: runs posted work (ks_smp_run) with
 * interrupts on, parks in between. */
__attribute__((noreturn)) void ks_smp_idle_loop(struct ks_percpu *pc);

/* TSC deadlines for the waits of both halves. */
static inline uint64_t ks_smp_deadline(uint64_t us)
{
	return rdtsc() + ks_tsc_from_us(us);
}

static inline int ks_smp_expired(uint64_t d)
{
	return (int64_t)(rdtsc() - d) > 0;
}

#endif
