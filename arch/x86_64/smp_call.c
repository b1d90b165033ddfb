/*
 * Cross-CPU calls (smp.h): what the kernel and the heap ask of the other
 * CPUs once smp_boot.c has started them.
 *
 *   call     ks_smp_call_all: one call at a time (call_busy); per target a
 *            call_pending flag and a CALL IPI; fn runs in the target's
 *            interrupt handler; call_left counts down, and the target
 *            that brings it to 0 kicks the caller.
 *   stop     stop_world: stop_epoch becomes odd, STOP IPI to each other
 *            CPU, which acknowledges once per epoch (stop_acked) and parks
 *            with interrupts off until the epoch changes; start_world
 *            kicks them.  A CPU only takes the IPI with interrupts on, i.e.
 *            outside the allocator (whose every lock and fast path runs
 *            with interrupts off).
 *   run      ks_smp_run: a work slot per CPU, run by its idle loop with
 *            interrupts on; a WAKE IPI ends its park; it kicks whoever
 *            waits in ks_smp_wait when the work is done.
 *   tlb      ks_smp_flush_tlb_others: tlb_gen++, NMI to each other CPU
 *            that is running, which reloads CR3 and records the generation
 *            it saw; a CPU parked in its halt window is spared the NMI and
 *            flushes when it leaves (park.h).  NMIs arrive even with
 *            interrupts off, so this works from under any lock, and while
 *            the world is stopped.
 *   halt     ks_smp_halt_others (panics): NMI, the target halts for good.
 *
 * Waiting.  Every wait parks the CPU (park.h: hlt until a kick or an
 * interrupt) instead of spinning, so that with more virtual CPUs than host
 * cores the CPU that is waited for gets the host's time.  A wait that may
 * run with interrupts off (call and run waits, the stop lock) also serves
 * this CPU's own pending call and stop requests, as the IPI handler would,
 * and whoever posts a request to a CPU kicks it if it is parked: two CPUs
 * waiting on each other with interrupts off both make progress.  Waits
 * with a time limit (call and run waits) end in a panic naming the CPU
 * that did not answer (run waits: return -1); with interrupts on they park
 * under a one-shot LAPIC timer, with interrupts off they poll.  A stop
 * pauses the clocks of waits it interrupts.  The stopper itself polls for
 * the acknowledgements (interrupts are off there, and its time limit is
 * the report of a CPU stuck with interrupts off).
 *
 * Locks: call_busy and stop_lock are test-and-set flags taken as above
 * (never across an allocator call); nothing here allocates.  ks_percpu
 * mailboxes are written with atomics (release) and read with acquire.
 */
#include "smp.h"

#include <kspan/platform.h>
#include "cpu.h"
#include "lapic.h"
#include "park.h"
#include "percpu.h"
#include "smp_internal.h"
#include "trap.h"
#include "tsc.h"
#include "lib/fmt.h"
#include "lib/spinlock.h"

#define CALL_TIMEOUT_US    60000000ull
#define STOP_TIMEOUT_US    60000000ull
#define NMI_TIMEOUT_US     10000000ull

static unsigned ncpus = 1;              /* online, published atomically */
static int smp_nmis;                    /* 1 once NMIs may be ours */

static uint32_t call_busy;
static void (*call_fn)(void *);
static void *call_arg;
static uint32_t call_left;

static uint32_t stop_lock;
static uint32_t stop_epoch;             /* odd: the world is stopped */
static uint32_t stop_acks;
static int stop_owner = -1;
static ks_irqstate_t stop_irq;

static uint64_t tlb_gen;
static int halt_cpu = -1;

unsigned ks_smp_ncpus(void)
{
	return __atomic_load_n(&ncpus, __ATOMIC_ACQUIRE);
}

void ks_smp_call_set_online(unsigned n)
{
	__atomic_store_n(&ncpus, n, __ATOMIC_RELEASE);
	ks_park_set_cpus(n);
}

void ks_smp_call_prepare_cpu(struct ks_percpu *pc)
{
	pc->tlb_done = __atomic_load_n(&tlb_gen, __ATOMIC_ACQUIRE);
	/* Kicks may go to it as soon as it runs (its slot reads "not
	 * parked" until then). */
	ks_park_set_cpus(pc->index + 1);
}

static void ipi(unsigned cpu, uint32_t icr)
{
	if (ks_lapic_send_ipi(ks_percpu_area[cpu].apic_id, icr) != 0)
		ks_panic("smp: IPI 0x%x to CPU %u (APIC id %u) never left this "
		         "CPU's LAPIC (delivery status stuck for 100 ms)", icr, cpu,
		         ks_percpu_area[cpu].apic_id);
}

/* ---- requests served by handlers and by wait loops ---------------------- */

static void run_call(struct ks_percpu *pc)
{
	if (!__atomic_load_n(&pc->call_pending, __ATOMIC_RELAXED))
		return;
	if (!__atomic_exchange_n(&pc->call_pending, 0, __ATOMIC_ACQUIRE))
		return;
	void (*fn)(void *) = call_fn;
	void *arg = call_arg;
	ks_irqstate_t st = ks_plat_irq_save();
	fn(arg);
	ks_plat_irq_restore(st);
	if (__atomic_sub_fetch(&call_left, 1, __ATOMIC_SEQ_CST) == 0)
		ks_park_kick(&call_left);
}

/* Acknowledge a stop in progress (once per epoch) and park until the
 * world restarts.  Returns 1 if it stopped. */
static int stop_here(struct ks_percpu *pc)
{
	if (!(__atomic_load_n(&stop_epoch, __ATOMIC_RELAXED) & 1))
		return 0;
	/* Check and acknowledge with interrupts off: a STOP interrupt
	 * between the two would acknowledge the same epoch twice. */
	ks_irqstate_t st = ks_plat_irq_save();
	uint32_t e = __atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE);
	if (!(e & 1) || pc->stop_acked == e) {
		ks_plat_irq_restore(st);
		return 0;
	}
	pc->stop_acked = e;
	__atomic_store_n(&pc->stopped, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&stop_acks, 1, __ATOMIC_RELEASE);
	for (;;) {
		uint32_t seq = ks_park_prepare(&stop_epoch, 0);
		if (__atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) != e) {
			ks_park_cancel();
			break;
		}
		ks_park_wait(&stop_epoch, e, seq);
	}
	__atomic_store_n(&pc->stopped, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(st);
	return 1;
}

/* Serve this CPU's own requests from a wait loop.  Returns POLL_CALLED
 * and/or POLL_STOPPED for what it did: a wait that announced a park must
 * then announce it again (the call or the stop may have parked on
 * something else meanwhile). */
#define POLL_CALLED  1
#define POLL_STOPPED 2
static int poll_requests(struct ks_percpu *pc)
{
	int did = __atomic_load_n(&pc->call_pending, __ATOMIC_ACQUIRE) ? POLL_CALLED : 0;
	run_call(pc);
	return did | (stop_here(pc) ? POLL_STOPPED : 0);
}

/* ---- interrupt handlers -------------------------------------------------- */

static void on_wake(struct ks_trapframe *tf)
{
	(void)tf;
	ks_this_cpu()->n_ipi++;
	ks_lapic_eoi();
}

static void on_call(struct ks_trapframe *tf)
{
	(void)tf;
	struct ks_percpu *pc = ks_this_cpu();
	pc->n_ipi++;
	run_call(pc);
	ks_lapic_eoi();
}

static void on_stop(struct ks_trapframe *tf)
{
	(void)tf;
	struct ks_percpu *pc = ks_this_cpu();
	pc->n_ipi++;
	stop_here(pc);
	ks_lapic_eoi();
}

static void on_timer(struct ks_trapframe *tf)
{
	(void)tf;
	struct ks_percpu *pc = ks_this_cpu();
	pc->n_timer++;
	void (*fn)(void) = __atomic_load_n(&pc->timer_fn, __ATOMIC_ACQUIRE);
	if (fn)
		fn();
	ks_lapic_eoi();
}

static void on_spurious(struct ks_trapframe *tf)
{
	(void)tf;
	ks_this_cpu()->n_stray++;   /* LAPIC spurious vector: no EOI */
}

int ks_smp_nmi(void)
{
	if (!__atomic_load_n(&smp_nmis, __ATOMIC_ACQUIRE))
		return 0;
	struct ks_percpu *pc = ks_this_cpu();
	pc->n_nmi++;
	int h = __atomic_load_n(&halt_cpu, __ATOMIC_ACQUIRE);
	if (h >= 0 && h != (int)pc->index)
		for (;;)        /* NMIs stay blocked: no iret */
			cpu_hlt();
	uint64_t g = __atomic_load_n(&tlb_gen, __ATOMIC_ACQUIRE);
	if (pc->tlb_done < g) {
		flush_tlb_local();
		__atomic_store_n(&pc->tlb_done, g, __ATOMIC_RELEASE);
	}
	/* Also an NMI with nothing left to do: a kick (park.h), or two
	 * requests that arrived as one NMI, the second then finding the work
	 * done. */
	return 1;
}

/* ---- the primitives ------------------------------------------------------ */

/* Post a request to cpu: its IPI, and a kick in case it is parked with
 * interrupts off (in a wait that serves requests; one that does not just
 * parks again).  The IPI itself ends a park with interrupts on. */
static void post(unsigned cpu, uint32_t vector)
{
	ipi(cpu, KS_ICR_FIXED | vector);
	ks_park_kick_cpu(cpu);
}

static void call_timeout(void (*fn)(void *), unsigned me, unsigned n)
{
	char who[256];
	int at = 0;
	for (unsigned i = 0; i < n && at < 200; i++)
		if (i != me && __atomic_load_n(&ks_percpu_area[i].call_pending,
		                               __ATOMIC_RELAXED))
			at += ks_snprintf(who + at, sizeof(who) - (size_t)at, " %u", i);
	who[at] = 0;
	ks_panic("ks_smp_call_all(%p) from CPU %u: %u CPU(s) did not finish "
	         "within %llu s; not even started:%s", (void *)fn, me, call_left,
	         (unsigned long long)(CALL_TIMEOUT_US / 1000000), at ? who : " none");
}

static void call(void (*fn)(void *), void *arg, int self)
{
	struct ks_percpu *pc = ks_this_cpu();
	if (pc->irq_depth)
		ks_panic("ks_smp_call_all(%p) on CPU %u from an interrupt handler: "
		         "it could wait for the code it interrupted", (void *)fn,
		         pc->index);
	unsigned n = ks_smp_ncpus(), me = pc->index;
	if (n > 1) {
		while (__atomic_exchange_n(&call_busy, 1, __ATOMIC_ACQUIRE)) {
			uint32_t seq = ks_park_prepare(&call_busy, 0);
			if (poll_requests(pc) ||
			    !__atomic_load_n(&call_busy, __ATOMIC_ACQUIRE)) {
				ks_park_cancel();
				continue;
			}
			ks_park_wait(&call_busy, 1, seq);
		}
		call_fn = fn;
		call_arg = arg;
		__atomic_store_n(&call_left, n - 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < n; i++) {
			if (i == me)
				continue;
			__atomic_store_n(&ks_percpu_area[i].call_pending, 1,
			                 __ATOMIC_SEQ_CST);
			post(i, KS_VEC_CALL);
		}
	}
	if (self) {
		ks_irqstate_t st = ks_plat_irq_save();
		fn(arg);
		ks_plat_irq_restore(st);
	}
	if (n > 1) {
		uint64_t d = ks_smp_deadline(CALL_TIMEOUT_US);
		for (;;) {
			uint32_t left = __atomic_load_n(&call_left, __ATOMIC_ACQUIRE);
			if (!left)
				break;
			uint32_t seq = ks_park_prepare(&call_left, 0);
			if (stop_here(pc)) {
				ks_park_cancel();
				d = ks_smp_deadline(CALL_TIMEOUT_US);
				continue;
			}
			if (ks_park_wait_until(&call_left, left, seq, d) &&
			    __atomic_load_n(&call_left, __ATOMIC_ACQUIRE))
				call_timeout(fn, me, n);
		}
		__atomic_store_n(&call_busy, 0, __ATOMIC_SEQ_CST);
		ks_park_kick(&call_busy);
	}
}

void ks_smp_call_all(void (*fn)(void *), void *arg)
{
	call(fn, arg, 0);
}

void ks_smp_call_all_self(void (*fn)(void *), void *arg)
{
	call(fn, arg, 1);
}

void ks_smp_stop_world(void)
{
	unsigned n = ks_smp_ncpus();
	if (n <= 1)
		return;
	ks_irqstate_t st = ks_plat_irq_save();
	struct ks_percpu *pc = ks_this_cpu();
	while (__atomic_exchange_n(&stop_lock, 1, __ATOMIC_ACQUIRE)) {
		stop_here(pc);
		cpu_pause();
	}
	stop_owner = (int)pc->index;
	stop_irq = st;
	__atomic_store_n(&stop_acks, 0, __ATOMIC_RELAXED);
	uint32_t e = __atomic_load_n(&stop_epoch, __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&stop_epoch, e, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		if (i != pc->index)
			post(i, KS_VEC_STOP);
	uint64_t d = ks_smp_deadline(STOP_TIMEOUT_US);
	while (__atomic_load_n(&stop_acks, __ATOMIC_ACQUIRE) != n - 1) {
		if (ks_smp_expired(d)) {
			char who[256];
			int at = 0;
			for (unsigned i = 0; i < n && at < 200; i++)
				if (i != pc->index &&
				    __atomic_load_n(&ks_percpu_area[i].stop_acked,
				                    __ATOMIC_RELAXED) != e)
					at += ks_snprintf(who + at, sizeof(who) - (size_t)at,
					                  " %u", i);
			who[at] = 0;
			ks_panic("stop_world from CPU %u: CPU(s)%s did not stop within "
			         "%llu s (interrupts off all that time: spinning on a "
			         "lock taken with interrupts off?)", pc->index, who,
			         (unsigned long long)(STOP_TIMEOUT_US / 1000000));
		}
		cpu_pause();
	}
}

void ks_smp_start_world(void)
{
	if (ks_smp_ncpus() <= 1)
		return;
	unsigned me = ks_cpu_index();
	if (stop_owner != (int)me)
		ks_panic("start_world on CPU %u, but the world was %s", me,
		         stop_owner < 0 ? "not stopped" : "stopped by another CPU");
	ks_irqstate_t st = stop_irq;
	stop_owner = -1;
	__atomic_store_n(&stop_epoch, stop_epoch + 1, __ATOMIC_SEQ_CST);
	ks_park_kick(&stop_epoch);
	__atomic_store_n(&stop_lock, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(st);
}

int ks_smp_world_stopped(void)
{
	return (int)(__atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) & 1);
}

int ks_smp_run(unsigned cpu, void (*fn)(void *), void *arg)
{
	if (cpu >= ks_smp_ncpus() || cpu == ks_cpu_index())
		return -1;
	struct ks_percpu *pc = &ks_percpu_area[cpu];
	uint32_t posted = __atomic_load_n(&pc->work_posted, __ATOMIC_RELAXED);
	if (__atomic_load_n(&pc->work_done, __ATOMIC_ACQUIRE) != posted)
		return -1;
	pc->work_fn = fn;
	pc->work_arg = arg;
	__atomic_store_n(&pc->work_posted, posted + 1, __ATOMIC_SEQ_CST);
	ipi(cpu, KS_ICR_FIXED | KS_VEC_WAKE);
	return 0;
}

int ks_smp_idle(unsigned cpu)
{
	struct ks_percpu *pc = &ks_percpu_area[cpu];
	return __atomic_load_n(&pc->work_done, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&pc->work_posted, __ATOMIC_ACQUIRE);
}

int ks_smp_wait(unsigned cpu, uint64_t timeout_us)
{
	if (cpu >= ks_smp_ncpus())
		return -1;
	struct ks_percpu *me = ks_this_cpu(), *pc = &ks_percpu_area[cpu];
	uint64_t d = ks_smp_deadline(timeout_us);
	for (;;) {
		uint32_t done = __atomic_load_n(&pc->work_done, __ATOMIC_ACQUIRE);
		if (done == __atomic_load_n(&pc->work_posted, __ATOMIC_ACQUIRE))
			return 0;
		uint32_t seq = ks_park_prepare(&pc->work_done, 0);
		int did = poll_requests(me);
		if (did) {
			ks_park_cancel();
			if (did & POLL_STOPPED)
				d = ks_smp_deadline(timeout_us);
			continue;
		}
		if (ks_park_wait_until(&pc->work_done, done, seq, d))
			return ks_smp_idle(cpu) ? 0 : -1;
	}
}

__attribute__((noreturn)) void ks_smp_idle_loop(struct ks_percpu *pc)
{
	for (;;) {
		cpu_sti();      /* the WAKE IPI ends the park */
		uint32_t seq = ks_park_prepare(&pc->work_posted, 0);
		uint32_t posted = __atomic_load_n(&pc->work_posted, __ATOMIC_ACQUIRE);
		if (posted == pc->work_done) {
			ks_park_wait(&pc->work_posted, posted, seq);
			continue;
		}
		ks_park_cancel();
		void (*fn)(void *) = pc->work_fn;
		void *arg = pc->work_arg;
		fn(arg);
		__atomic_store_n(&pc->work_done, posted, __ATOMIC_SEQ_CST);
		ks_park_kick(&pc->work_done);
	}
}

void ks_smp_flush_tlb_others(void)
{
	unsigned n = ks_smp_ncpus();
	if (n <= 1)
		return;
	unsigned me = ks_cpu_index();
	uint64_t g = __atomic_add_fetch(&tlb_gen, 1, __ATOMIC_SEQ_CST);
	uint64_t spared[(KSPAN_MAX_CPUS + 63) / 64] = { 0 };
	for (unsigned i = 0; i < n; i++) {
		if (i == me || __atomic_load_n(&ks_percpu_area[i].tlb_done,
		                               __ATOMIC_ACQUIRE) >= g)
			continue;
		if (ks_park_defer_flush(i))
			spared[i / 64] |= 1ull << (i % 64);
		else
			ipi(i, KS_ICR_NMI);
	}
	uint64_t d = ks_smp_deadline(NMI_TIMEOUT_US);
	for (unsigned i = 0; i < n; i++) {
		if (i == me || (spared[i / 64] >> (i % 64) & 1))
			continue;
		while (__atomic_load_n(&ks_percpu_area[i].tlb_done,
		                       __ATOMIC_ACQUIRE) < g) {
			if (ks_smp_expired(d))
				ks_panic("TLB shootdown from CPU %u: CPU %u (APIC id %u) "
				         "did not answer the NMI within %llu s", me, i,
				         ks_percpu_area[i].apic_id,
				         (unsigned long long)(NMI_TIMEOUT_US / 1000000));
			cpu_pause();
		}
	}
}

void ks_smp_halt_others(void)
{
	unsigned n = ks_smp_ncpus();
	if (n <= 1 || !__atomic_load_n(&smp_nmis, __ATOMIC_ACQUIRE))
		return;
	unsigned me = ks_cpu_index();
	int expect = -1;
	if (!__atomic_compare_exchange_n(&halt_cpu, &expect, (int)me, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	for (unsigned i = 0; i < n; i++)
		if (i != me)
			(void)ks_lapic_send_ipi(ks_percpu_area[i].apic_id, KS_ICR_NMI);
	ks_delay_us(10000);     /* let them stop before the report */
}

void ks_smp_timer(unsigned hz, void (*fn)(void))
{
	struct ks_percpu *pc = ks_this_cpu();
	if (!fn) {
		ks_lapic_timer_stop();
		__atomic_store_n(&pc->timer_fn, NULL, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&pc->timer_fn, fn, __ATOMIC_RELEASE);
	ks_lapic_timer_start(hz);
}

void ks_smp_cpu_stats(unsigned cpu, struct ks_smp_cpu_stats *out)
{
	const struct ks_percpu *pc = &ks_percpu_area[cpu];
	out->ipis = pc->n_ipi;
	out->nmis = pc->n_nmi;
	out->timer_ticks = pc->n_timer;
	out->stray = pc->n_stray;
	out->parks = pc->n_park;
	out->kicks = pc->n_kick;
	out->tlb_deferred = pc->n_tlb_deferred;
}

/* ---- set-up ---------------------------------------------------------------- */

static const struct ks_spin_parking spin_parking = {
	.prepare = ks_park_prepare,
	.cancel = ks_park_cancel,
	.wait = ks_park_wait,
	.kick = ks_park_kick_tag,
};

void ks_smp_call_setup(void)
{
	ks_irq_set_handler(KS_VEC_WAKE, on_wake);
	ks_irq_set_handler(KS_VEC_CALL, on_call);
	ks_irq_set_handler(KS_VEC_STOP, on_stop);
	ks_irq_set_handler(KS_VEC_TIMER, on_timer);
	ks_irq_set_handler(KS_VEC_SPURIOUS, on_spurious);
	ks_trap_set_smp_hooks(ks_smp_nmi, ks_smp_halt_others);
	__atomic_store_n(&smp_nmis, 1, __ATOMIC_RELEASE);
	/* Spinlock waiters park from now on; kicks reach only the CPUs
	 * ks_smp_call_set_online has announced. */
	ks_spin_set_parking(&spin_parking);
}
