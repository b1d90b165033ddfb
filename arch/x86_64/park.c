/*
 * Parking a CPU (park.h): announce, check, hlt; kick with an NMI.
 *
 * Per-CPU state (struct ks_percpu; the halt window is park_halt.S):
 *   park_word, park_tag, park_irqs_off
 *                        the announcement: written by this CPU (the word
 *                        last, with an atomic exchange, a full barrier),
 *                        read by kickers.  NULL: not parked.
 *   wake_seq             bumped by ks_park_trap_entry for every interrupt
 *                        and NMI on this CPU; the halt window halts only
 *                        if it has not moved since prepare.
 *   park_halted          0 running; 1 in the halt window (park_halt.S), where
 *                        the CPU touches nothing but this block and the
 *                        word; 2 = a TLB shootdown was deferred to it.
 *                        1 -> 2 by other CPUs (compare-and-swap), -> 0 by
 *                        this CPU (exchange; it flushes if it saw 2).
 *
 * Why a kick cannot be lost: the waiter stores its announcement, then
 * (barrier) reads its conditions; the waker stores its change, then
 * (barrier) reads the announcements.  So either the waiter sees the change
 * or the waker sees the announcement and sends an NMI.  That NMI (like any
 * interrupt) bumps wake_seq: arriving before the window's checks, it makes
 * them fail; inside the window, ks_park_trap_entry moves RIP past the hlt;
 * during the hlt, it ends it.
 *
 * Counters (this CPU): n_park halt windows entered, n_kick kicks sent,
 * n_tlb_deferred shootdowns it was spared.
 */
#include "park.h"

#include <kspan/platform.h>
#include "cpu.h"
#include "lapic.h"
#include "percpu.h"
#include "trap.h"
#include "tsc.h"

extern char ks_park_window[], ks_park_window_end[];
uint32_t ks_park_halt(const uint32_t *word, uint32_t val, uint32_t seq,
                      uint32_t *halted, const uint32_t *wake_seq);

/* Longest one-shot a timed park arms: a CPU that is kicked late still
 * looks at its deadline this often. */
#define TIMED_SLICE_US 20000u

static unsigned park_cpus;      /* CPUs kicks may go to; 0 or 1: none */

void ks_park_set_cpus(unsigned n)
{
	if (n > __atomic_load_n(&park_cpus, __ATOMIC_RELAXED))
		__atomic_store_n(&park_cpus, n, __ATOMIC_RELEASE);
}

uint32_t ks_park_prepare(const void *word, uint32_t tag)
{
	struct ks_percpu *pc = ks_this_cpu();
	pc->park_tag = tag;
	pc->park_irqs_off = !(read_rflags() & KS_RFLAGS_IF);
	(void)__atomic_exchange_n(&pc->park_word, word, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&pc->wake_seq, __ATOMIC_ACQUIRE);
}

void ks_park_cancel(void)
{
	__atomic_store_n(&ks_this_cpu()->park_word, NULL, __ATOMIC_RELEASE);
}

static void halt_once(struct ks_percpu *pc, const uint32_t *word, uint32_t val,
                      uint32_t seq)
{
	pc->n_park++;
	if (ks_park_halt(word, val, seq, &pc->park_halted, &pc->wake_seq) == 2) {
		flush_tlb_local();
		pc->n_tlb_deferred++;
	}
}

void ks_park_wait(const uint32_t *word, uint32_t val, uint32_t seq)
{
	struct ks_percpu *pc = ks_this_cpu();
	halt_once(pc, word, val, seq);
	__atomic_store_n(&pc->park_word, NULL, __ATOMIC_RELEASE);
}

int ks_park_wait_until(const uint32_t *word, uint32_t val, uint32_t seq,
                       uint64_t deadline)
{
	struct ks_percpu *pc = ks_this_cpu();
	int64_t left = (int64_t)(deadline - rdtsc());
	if (left <= 0) {
		ks_park_cancel();
		return 1;
	}
	if (!(read_rflags() & KS_RFLAGS_IF) || !ks_lapic_ready()) {
		ks_park_cancel();
		cpu_pause();
		return 0;
	}
	/* A periodic timer of ks_smp_timer wakes the hlt anyway; otherwise
	 * arm a one-shot and take it back after. */
	int periodic = __atomic_load_n(&pc->timer_fn, __ATOMIC_RELAXED) != NULL;
	if (!periodic) {
		uint64_t us = ks_tsc_to_us((uint64_t)left) + 1;
		ks_lapic_timer_oneshot(us < TIMED_SLICE_US ? us : TIMED_SLICE_US);
	}
	halt_once(pc, word, val, seq);
	if (!periodic)
		ks_lapic_timer_stop();
	__atomic_store_n(&pc->park_word, NULL, __ATOMIC_RELEASE);
	return (int64_t)(deadline - rdtsc()) <= 0;
}

static void kick(unsigned cpu)
{
	struct ks_percpu *pc = &ks_percpu_area[cpu];
	ks_this_cpu()->n_kick++;
	/* An NMI: it ends a hlt with interrupts off too.  A send that never
	 * leaves the LAPIC is reported by whoever waits too long. */
	(void)ks_lapic_send_ipi(pc->apic_id, KS_ICR_NMI);
}

/* Kick the CPUs announced on word (all of them, or those whose tag is in
 * [lo, lo + n)). */
static void kick_word(const void *word, int all, uint32_t lo, uint32_t n)
{
	unsigned cpus = __atomic_load_n(&park_cpus, __ATOMIC_ACQUIRE);
	if (cpus <= 1)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	unsigned me = ks_cpu_index();
	for (unsigned i = 0; i < cpus; i++) {
		struct ks_percpu *pc = &ks_percpu_area[i];
		if (i == me || __atomic_load_n(&pc->park_word, __ATOMIC_ACQUIRE) != word)
			continue;
		if (all || __atomic_load_n(&pc->park_tag, __ATOMIC_RELAXED) - lo < n)
			kick(i);
	}
}

void ks_park_kick_tag(const void *word, uint32_t lo, uint32_t n)
{
	kick_word(word, 0, lo, n);
}

void ks_park_kick(const void *word)
{
	kick_word(word, 1, 0, 0);
}

void ks_park_kick_cpu(unsigned cpu)
{
	unsigned cpus = __atomic_load_n(&park_cpus, __ATOMIC_ACQUIRE);
	if (cpu >= cpus || cpu == ks_cpu_index())
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	struct ks_percpu *pc = &ks_percpu_area[cpu];
	/* With interrupts on, the request's own interrupt ends the park. */
	if (__atomic_load_n(&pc->park_word, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&pc->park_irqs_off, __ATOMIC_RELAXED))
		kick(cpu);
}

int ks_park_defer_flush(unsigned cpu)
{
	uint32_t *h = &ks_percpu_area[cpu].park_halted;
	uint32_t s = __atomic_load_n(h, __ATOMIC_ACQUIRE);
	while (s == 1)
		if (__atomic_compare_exchange_n(h, &s, 2, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			return 1;
	return s == 2;
}

void ks_park_trap_entry(struct ks_trapframe *tf)
{
	struct ks_percpu *pc = ks_this_cpu();
	__atomic_fetch_add(&pc->wake_seq, 1, __ATOMIC_SEQ_CST);
	uint64_t lo = (uint64_t)(uintptr_t)ks_park_window;
	uint64_t hi = (uint64_t)(uintptr_t)ks_park_window_end;
	if (tf->rip >= lo && tf->rip < hi)
		tf->rip = hi;
	if (__atomic_load_n(&pc->park_halted, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&pc->park_halted, 0, __ATOMIC_ACQ_REL) == 2) {
		flush_tlb_local();
		pc->n_tlb_deferred++;
	}
}
