/*
 * Per-CPU data, reached through the GS base (IA32_GS_BASE).
 *
 * Every CPU owns one struct ks_percpu in ks_percpu_area[] (index = the
 * CPU's dense index 0..N-1: the boot CPU is 0, APs are numbered in the
 * order they came up).  The CPU's GS base points at its own entry, so
 *
 *   ks_cpu_index()     is  movl %gs:0, %eax      (the index field)
 *   ks_this_cpu()      is  movq %gs:8, %rax      (the self pointer)
 *
 * and kspan's slot hooks read two words of it (platform.c): kspan_own,
 * the CPU's index outside trap handlers and KSPAN_MAX_CPUS inside them
 * (ks_plat_own_slot: the fast paths' slot), and kspan_slot, the index
 * outside and the CPU's interrupt slot KS_IRQ_SLOT(index) inside
 * (ks_plat_cpu_id: the slow paths').  ks_trap sets both on entry and puts
 * them back on exit (trap.c), so a handler that allocates never touches
 * the cache of the code it interrupted.  The kernel therefore runs at
 * most KS_MAX_CPUS = KSPAN_MAX_CPUS / 2 CPUs: the other half of kspan's
 * slots are their interrupt slots.
 *
 * GS is set before anything on that CPU can call into mm/ (the boot CPU
 * does it first thing in kmain, an AP first thing in its C entry), and is
 * never changed afterwards: there is no user mode and no swapgs.
 *
 * Fields are written by their own CPU, except the mailboxes of
 * smp_boot.c and smp_call.c (state, call_pending, work_*, tlb_done) and
 * park.c's halt state, which other CPUs write with atomics as described
 * there; park.c's announcement (park_word, park_tag) is read by other
 * CPUs.  The array is defined in percpu.c.  No locks here.
 */
#ifndef KSPAN_ARCH_X86_64_PERCPU_H
#define KSPAN_ARCH_X86_64_PERCPU_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/platform.h>
#include "cpu.h"

#define KS_MSR_GS_BASE 0xc0000101u

struct __attribute__((packed)) ks_tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};

/* ks_percpu.state: the bring-up handshake (smp_boot.c). */
enum {
	KS_CPU_ABSENT = 0,    /* slot unused */
	KS_CPU_STARTING,      /* INIT-SIPI-SIPI sent, waiting for the CPU */
	KS_CPU_ONLINE,        /* running kernel code */
	KS_CPU_ABANDONED,     /* did not answer in time; must halt if it wakes */
};

struct ks_percpu {
	uint32_t index;               /* +0: read by ks_cpu_index() */
	uint32_t apic_id;             /* +4 */
	struct ks_percpu *self;       /* +8: read by ks_this_cpu() */
	uint32_t kspan_own;           /* ks_plat_own_slot() (see above) */
	uint32_t kspan_slot;          /* ks_plat_cpu_id() */
	uint32_t state;               /* KS_CPU_*, atomic */
	uint32_t irq_depth;           /* interrupt handlers running (nesting) */

	/* Descriptor tables: null, kernel code, kernel data, TSS (2 slots). */
	uint64_t gdt[5] __attribute__((aligned(16)));
	struct ks_tss64 tss __attribute__((aligned(16)));

	/* Stacks (APs: in the page-source window, each below a guard page). */
	uint64_t stack_lo, stack_hi;

	/* smp_call.c mailboxes. */
	uint32_t call_pending;        /* set by the caller of ks_smp_call_all */
	uint32_t stopped;             /* parked in the stop-the-world handler */
	uint32_t stop_acked;          /* last stop epoch this CPU acknowledged */
	uint32_t work_posted;         /* ks_smp_run: incremented by the poster */
	uint32_t work_done;           /* by this CPU when work_fn returned */
	uint64_t tlb_done;            /* last TLB shootdown generation done */
	void (*work_fn)(void *);      /* ks_smp_run: posted work */
	void *work_arg;

	/* park.c: how this CPU waits (halted until kicked). */
	const void *park_word;        /* announced: parked (or about to) on it */
	uint32_t park_tag;            /* what it waits for there (a ticket) */
	uint32_t park_halted;         /* 1 in the halt window, 2 = flush TLB */
	uint32_t wake_seq;            /* +1 on every interrupt and NMI */
	uint32_t park_irqs_off;       /* announced with interrupts off */
	uint64_t n_park, n_kick, n_tlb_deferred;

	/* Periodic LAPIC timer (smp_call.c): called from the timer interrupt. */
	void (*timer_fn)(void);

	/* The last fault a probe absorbed on this CPU (trap.c). */
	uint64_t probe_cr2;
	unsigned probe_vector;

	/* Counters (this CPU only). */
	uint64_t n_ipi, n_nmi, n_timer, n_stray;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct ks_percpu, index) == 0, "ks_cpu_index reads %gs:0");
_Static_assert(offsetof(struct ks_percpu, self) == 8, "ks_this_cpu reads %gs:8");

extern struct ks_percpu ks_percpu_area[KSPAN_MAX_CPUS];

static inline struct ks_percpu *ks_this_cpu(void)
{
	struct ks_percpu *p;
	__asm__ volatile("movq %%gs:8, %0" : "=r"(p));
	return p;
}

/* CPUs the kernel runs, and the kspan slot of CPU i's interrupt handlers. */
#define KS_MAX_CPUS (KSPAN_MAX_CPUS / 2)
#define KS_IRQ_SLOT(i) (KS_MAX_CPUS + (i))
_Static_assert(KS_MAX_CPUS >= 1, "KSPAN_MAX_CPUS must be at least 2");

/* A field of this CPU's block, read through GS (a plain load the compiler
 * may fold into an instruction; trap handlers put back what they change,
 * so interrupted code never sees a change). */
#define KS_PERCPU_READ(field) \
	(*(const __seg_gs __typeof__(((struct ks_percpu *)0)->field) *) \
	  (uintptr_t)offsetof(struct ks_percpu, field))

/* This CPU's dense index 0..ks_smp_ncpus()-1. */
static inline unsigned ks_cpu_index(void)
{
	return KS_PERCPU_READ(index);
}

/* Fill in the identity fields of CPU index's block. */
static inline void ks_percpu_identify(struct ks_percpu *pc, uint32_t index)
{
	pc->index = index;
	pc->self = pc;
	pc->kspan_own = index;
	pc->kspan_slot = index;
}

/* Point this CPU's GS base at pc (and make its identity valid). */
static inline void ks_percpu_install(struct ks_percpu *pc, uint32_t index)
{
	ks_percpu_identify(pc, index);
	wrmsr(KS_MSR_GS_BASE, (uint64_t)(uintptr_t)pc);
}

#endif
