/*
 * SMP: bring-up of the application processors (APs) and the cross-CPU
 * primitives (smp.h).
 *
 * Bring-up (ks_smp_init, boot CPU, interrupts off):
 *   1. ACPI: the MADT lists the CPUs (enabled LAPIC / x2APIC entries), the
 *      FADT the PM timer.  A malformed table is reported; then only the
 *      boot CPU runs.
 *   2. TSC calibrated against the PM timer (PIT channel 2 without one);
 *      the 8259 PICs remapped to 0x20-0x2f and masked, every I/O APIC
 *      redirection entry masked (nothing external interrupts us); the boot
 *      CPU's LAPIC enabled and its timer measured.
 *   3. The trampoline (trampoline.S) copied into the low frames boot/
 *      reserved, with the kernel's CR3, the boot CPU's EFER.NXE and the
 *      temporary page tables filled in.
 *   4. For each other CPU, in MADT order, one at a time: a stack (64 KiB)
 *      and three IST stacks (16 KiB), each above an unmapped guard page,
 *      from the page source; its struct ks_percpu (next dense index,
 *      state STARTING); the trampoline's data block (stack, per-CPU block,
 *      entry, and last the APIC id allowed to claim it); INIT, 10 ms,
 *      SIPI, 200 us, SIPI; then up to 2 s for the CPU to claim the
 *      trampoline and up to 3 s more for it to reach ap_entry and switch
 *      its state STARTING -> ONLINE.
 *      A CPU that never claims: the claim is withdrawn (atomic exchange,
 *      so it cannot claim later), it is reported and left out, and its
 *      index and memory go to the next CPU.  A CPU that claimed but never
 *      came online: its state is set ABANDONED (it halts if it ever gets
 *      there), it is reported, and no further CPU is started (it may still
 *      be reading the trampoline's data block).
 *   5. An AP in ap_entry: GS base, its GDT and TSS, the shared IDT, CR0,
 *      CR4 and PAT as on the boot CPU, its LAPIC enabled; then ONLINE, and
 *      into its idle loop (interrupts on, hlt until an IPI).
 *
 * Cross-CPU primitives, and why none can deadlock:
 *   call     ks_smp_call_all: one call at a time (call_busy); per target a
 *            call_pending flag and a CALL IPI; fn runs in the target's
 *            interrupt handler; call_left counts down.
 *   stop     stop_world: stop_epoch becomes odd, STOP IPI to each other
 *            CPU, which acknowledges once per epoch (stop_acked) and spins
 *            with interrupts off until the epoch changes.  A CPU only
 *            takes the IPI with interrupts on, i.e. outside the allocator
 *            (whose every lock and fast path runs with interrupts off).
 *   run      ks_smp_run: a work slot per CPU, run by its idle loop with
 *            interrupts on; WAKE IPI ends its hlt.
 *   tlb      ks_smp_flush_tlb_others: tlb_gen++, NMI to each other CPU,
 *            which reloads CR3 and records the generation it saw.  NMIs
 *            arrive even with interrupts off, so this works from under any
 *            lock, and while the world is stopped.
 *   halt     ks_smp_halt_others (panics): NMI, the target halts for good.
 *   Every wait loop that may run with interrupts off (call and run waits,
 *   the stop lock) also serves this CPU's own pending call and stop
 *   requests, as the IPI handler would: two CPUs waiting on each other
 *   with interrupts off both make progress.  Every wait has a time limit
 *   and ends in a panic naming the CPU that did not answer; a stop pauses
 *   the clocks of waits it interrupts.
 *
 * Locks: call_busy and stop_lock are test-and-set flags taken as above
 * (never across an allocator call); nothing here allocates.  ks_percpu
 * mailboxes are written with atomics (release) and read with acquire.
 */
#include "smp.h"

#include <kspan/platform.h>
#include "acpi.h"
#include "cpu.h"
#include "fwcfg.h"
#include "gdt.h"
#include "lapic.h"
#include "paging.h"
#include "percpu.h"
#include "trampoline.h"
#include "trap.h"
#include "tsc.h"
#include "lib/fmt.h"

#define AP_STACK       (64u << 10)
#define AP_IST         (16u << 10)
#define GUARD          4096u
#define AP_MEM         (GUARD + AP_STACK + 3 * (GUARD + AP_IST))

#define CLAIM_TIMEOUT_US   2000000ull
#define ONLINE_TIMEOUT_US  3000000ull
#define CALL_TIMEOUT_US    60000000ull
#define STOP_TIMEOUT_US    60000000ull
#define NMI_TIMEOUT_US     10000000ull

struct ks_percpu ks_percpu_area[KSPAN_MAX_CPUS];

extern char ks_trampoline_start[], ks_trampoline_end[];

static unsigned ncpus = 1;              /* online, published atomically */
static unsigned left_out;               /* CPUs that did not answer */
static int smp_nmis;                    /* 1 once NMIs may be ours */
static struct ks_acpi_info acpi;
static uint64_t ap_ist[KSPAN_MAX_CPUS][3];
static uint64_t bsp_cr0, bsp_cr4, bsp_pat;

static uint32_t call_busy;
static void (*call_fn)(void *);
static void *call_arg;
static uint32_t call_left;

static uint32_t stop_lock;
static uint64_t stop_epoch;             /* odd: the world is stopped */
static uint32_t stop_acks;
static int stop_owner = -1;
static ks_irqstate_t stop_irq;

static uint64_t tlb_gen;
static int halt_cpu = -1;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t deadline(uint64_t us)
{
	return rdtsc() + ks_tsc_from_us(us);
}

static int expired(uint64_t d)
{
	return (int64_t)(rdtsc() - d) > 0;
}

unsigned ks_smp_left_out(void)
{
	return left_out;
}

unsigned ks_smp_ncpus(void)
{
	return __atomic_load_n(&ncpus, __ATOMIC_ACQUIRE);
}

uint32_t ks_smp_apic_id(unsigned cpu)
{
	return cpu < KSPAN_MAX_CPUS ? ks_percpu_area[cpu].apic_id : 0xffffffffu;
}

static void ipi(unsigned cpu, uint32_t icr)
{
	if (ks_lapic_send_ipi(ks_percpu_area[cpu].apic_id, icr) != 0)
		ks_panic("smp: IPI 0x%x to CPU %u (APIC id %u) never left this "
		         "CPU's LAPIC (delivery status stuck for 100 ms)", icr, cpu,
		         ks_percpu_area[cpu].apic_id);
}

void ks_smp_early_init(void)
{
	struct ks_percpu *pc = &ks_percpu_area[0];
	pc->state = KS_CPU_ONLINE;
	ks_percpu_install(pc, 0);
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
	__atomic_fetch_sub(&call_left, 1, __ATOMIC_RELEASE);
}

/* Acknowledge a stop in progress (once per epoch) and spin until the
 * world restarts.  Returns 1 if it stopped. */
static int stop_here(struct ks_percpu *pc)
{
	if (!(__atomic_load_n(&stop_epoch, __ATOMIC_RELAXED) & 1))
		return 0;
	/* Check and acknowledge with interrupts off: a STOP interrupt
	 * between the two would acknowledge the same epoch twice. */
	ks_irqstate_t st = ks_plat_irq_save();
	uint64_t e = __atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE);
	if (!(e & 1) || pc->stop_acked == e) {
		ks_plat_irq_restore(st);
		return 0;
	}
	pc->stop_acked = e;
	__atomic_store_n(&pc->stopped, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&stop_acks, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) == e)
		cpu_pause();
	__atomic_store_n(&pc->stopped, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(st);
	return 1;
}

static int poll_requests(struct ks_percpu *pc)
{
	run_call(pc);
	return stop_here(pc);
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
	/* Also an NMI with nothing left to do: two requests can arrive as
	 * one NMI, and the second NMI then finds the work done. */
	return 1;
}

/* ---- the primitives ------------------------------------------------------ */

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
			poll_requests(pc);
			cpu_pause();
		}
		call_fn = fn;
		call_arg = arg;
		__atomic_store_n(&call_left, n - 1, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < n; i++) {
			if (i == me)
				continue;
			__atomic_store_n(&ks_percpu_area[i].call_pending, 1,
			                 __ATOMIC_RELEASE);
			ipi(i, KS_ICR_FIXED | KS_VEC_CALL);
		}
	}
	if (self) {
		ks_irqstate_t st = ks_plat_irq_save();
		fn(arg);
		ks_plat_irq_restore(st);
	}
	if (n > 1) {
		uint64_t d = deadline(CALL_TIMEOUT_US);
		while (__atomic_load_n(&call_left, __ATOMIC_ACQUIRE)) {
			if (stop_here(pc))
				d = deadline(CALL_TIMEOUT_US);
			if (expired(d)) {
				char who[256];
				int at = 0;
				for (unsigned i = 0; i < n && at < 200; i++)
					if (i != me && __atomic_load_n(&ks_percpu_area[i].call_pending,
					                               __ATOMIC_RELAXED))
						at += ks_snprintf(who + at, sizeof(who) - (size_t)at,
						                  " %u", i);
				who[at] = 0;
				ks_panic("ks_smp_call_all(%p) from CPU %u: %u CPU(s) did not "
				         "finish within %llu s; not even started:%s",
				         (void *)fn, me, call_left,
				         (unsigned long long)(CALL_TIMEOUT_US / 1000000),
				         at ? who : " none");
			}
			cpu_pause();
		}
		__atomic_store_n(&call_busy, 0, __ATOMIC_RELEASE);
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
	uint64_t e = __atomic_load_n(&stop_epoch, __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&stop_epoch, e, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		if (i != pc->index)
			ipi(i, KS_ICR_FIXED | KS_VEC_STOP);
	uint64_t d = deadline(STOP_TIMEOUT_US);
	while (__atomic_load_n(&stop_acks, __ATOMIC_ACQUIRE) != n - 1) {
		if (expired(d)) {
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
	unsigned me = ks_plat_cpu_id();
	if (stop_owner != (int)me)
		ks_panic("start_world on CPU %u, but the world was %s", me,
		         stop_owner < 0 ? "not stopped" : "stopped by another CPU");
	ks_irqstate_t st = stop_irq;
	stop_owner = -1;
	__atomic_store_n(&stop_epoch, stop_epoch + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&stop_lock, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(st);
}

int ks_smp_world_stopped(void)
{
	return (int)(__atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) & 1);
}

int ks_smp_run(unsigned cpu, void (*fn)(void *), void *arg)
{
	if (cpu >= ks_smp_ncpus() || cpu == ks_plat_cpu_id())
		return -1;
	struct ks_percpu *pc = &ks_percpu_area[cpu];
	uint64_t posted = __atomic_load_n(&pc->work_posted, __ATOMIC_RELAXED);
	if (__atomic_load_n(&pc->work_done, __ATOMIC_ACQUIRE) != posted)
		return -1;
	pc->work_fn = fn;
	pc->work_arg = arg;
	__atomic_store_n(&pc->work_posted, posted + 1, __ATOMIC_RELEASE);
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
	struct ks_percpu *me = ks_this_cpu();
	uint64_t d = deadline(timeout_us);
	while (!ks_smp_idle(cpu)) {
		if (poll_requests(me))
			d = deadline(timeout_us);
		if (expired(d))
			return -1;
		cpu_pause();
	}
	return 0;
}

void ks_smp_flush_tlb_others(void)
{
	unsigned n = ks_smp_ncpus();
	if (n <= 1)
		return;
	unsigned me = ks_plat_cpu_id();
	uint64_t g = __atomic_add_fetch(&tlb_gen, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		if (i != me && __atomic_load_n(&ks_percpu_area[i].tlb_done,
		                               __ATOMIC_ACQUIRE) < g)
			ipi(i, KS_ICR_NMI);
	uint64_t d = deadline(NMI_TIMEOUT_US);
	for (unsigned i = 0; i < n; i++) {
		if (i == me)
			continue;
		while (__atomic_load_n(&ks_percpu_area[i].tlb_done,
		                       __ATOMIC_ACQUIRE) < g) {
			if (expired(d))
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
	unsigned me = ks_plat_cpu_id();
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
}

/* ---- the AP side ----------------------------------------------------------- */

__attribute__((noreturn)) static void ap_idle(struct ks_percpu *pc)
{
	for (;;) {
		cpu_cli();
		uint64_t posted = __atomic_load_n(&pc->work_posted, __ATOMIC_ACQUIRE);
		if (posted != pc->work_done) {
			void (*fn)(void *) = pc->work_fn;
			void *arg = pc->work_arg;
			cpu_sti();
			fn(arg);
			__atomic_store_n(&pc->work_done, posted, __ATOMIC_RELEASE);
			continue;
		}
		cpu_sti_hlt();
	}
}

__attribute__((noreturn, used)) static void ap_entry(struct ks_percpu *pc)
{
	ks_percpu_install(pc, pc->index);
	ks_gdt_load_cpu(pc, ap_ist[pc->index]);
	ks_percpu_install(pc, pc->index);       /* the GS reload cleared it */
	ks_idt_load();
	write_cr0(bsp_cr0);
	write_cr4(bsp_cr4);
	wrmsr(KS_MSR_PAT, bsp_pat);
	ks_lapic_init_ap();
	uint32_t expect = KS_CPU_STARTING;
	if (!__atomic_compare_exchange_n(&pc->state, &expect, KS_CPU_ONLINE, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		for (;;) {      /* given up on: stay out of everything */
			cpu_cli();
			cpu_hlt();
		}
	ap_idle(pc);
}

/* ---- bring-up ---------------------------------------------------------------- */

struct ap_mem {
	uint64_t stack_lo, stack_hi;
	uint64_t ist[3];
};

static int alloc_ap_mem(struct ap_mem *m)
{
	uint8_t *base = ks_plat_reserve(AP_MEM, 4096);
	if (!base)
		return -1;
	uint64_t a = (uint64_t)(uintptr_t)base + GUARD;
	if (ks_plat_commit((void *)(uintptr_t)a, AP_STACK))
		return -1;
	m->stack_lo = a;
	m->stack_hi = a + AP_STACK;
	a += AP_STACK;
	for (int i = 0; i < 3; i++) {
		a += GUARD;
		if (ks_plat_commit((void *)(uintptr_t)a, AP_IST))
			return -1;
		a += AP_IST;
		m->ist[i] = a;
	}
	return 0;
}

static inline void put32(uint8_t *p, unsigned off, uint32_t v)
{
	__builtin_memcpy(p + off, &v, 4);
}

static inline uint32_t get32(const uint8_t *p, unsigned off)
{
	uint32_t v;
	__builtin_memcpy(&v, p + off, 4);
	return v;
}

static inline void put64(uint8_t *p, unsigned off, uint64_t v)
{
	__builtin_memcpy(p + off, &v, 8);
}

static uint8_t *setup_trampoline(uint64_t tr, uint64_t size)
{
	size_t blob = (size_t)(ks_trampoline_end - ks_trampoline_start);
	if (!tr) {
		ks_printf("smp: the loader reserved no low frames for the AP "
		          "trampoline; only the boot CPU runs\n");
		return NULL;
	}
	if ((tr & 0xfff) || tr < 0x1000 || tr + size > 0xa0000 ||
	    size < KS_TR_FRAMES * 4096ull || blob > 4096) {
		ks_printf("smp: AP trampoline at 0x%llx, %llu bytes, is unusable "
		          "(want %u 4 KiB-aligned frames in [0x1000, 0xa0000), "
		          "code %zu bytes); only the boot CPU runs\n",
		          (unsigned long long)tr, (unsigned long long)size,
		          KS_TR_FRAMES, blob);
		return NULL;
	}
	uint8_t *p = (uint8_t *)(uintptr_t)tr;
	__builtin_memset(p, 0, KS_TR_FRAMES * 4096);
	__builtin_memcpy(p, ks_trampoline_start, blob);
	put32(p, KS_TR_GDTR + 2, get32(p, KS_TR_GDTR + 2) + (uint32_t)tr);
	put32(p, KS_TR_FAR32, get32(p, KS_TR_FAR32) + (uint32_t)tr);
	put32(p, KS_TR_FAR64, get32(p, KS_TR_FAR64) + (uint32_t)tr);
	put32(p, KS_TR_TEMP_CR3, (uint32_t)tr + 4096);
	put32(p, KS_TR_EFER, (uint32_t)(rdmsr(KS_MSR_EFER) & (1u << 11)));
	put64(p, KS_TR_CR3, read_cr3());
	put64(p, KS_TR_ENTRY, (uint64_t)(uintptr_t)ap_entry);
	put32(p, KS_TR_CLAIM, KS_TR_CLAIM_NONE);
	/* Temporary tables: PML4[0] -> PDPT[0] -> PD[0] = 2 MiB at 0. */
	uint64_t *pml4 = (uint64_t *)(uintptr_t)(tr + 4096);
	uint64_t *pdpt = (uint64_t *)(uintptr_t)(tr + 8192);
	uint64_t *pd = (uint64_t *)(uintptr_t)(tr + 12288);
	pml4[0] = (tr + 8192) | KS_PTE_PRESENT | KS_PTE_WRITE;
	pdpt[0] = (tr + 12288) | KS_PTE_PRESENT | KS_PTE_WRITE;
	pd[0] = KS_PTE_PRESENT | KS_PTE_WRITE | KS_PTE_LARGE;
	return p;
}

static uint32_t *claim_word(uint8_t *tr)
{
	return (uint32_t *)(void *)(tr + KS_TR_CLAIM);
}

/* 0: online.  1: never answered (index and memory may be reused).
 * -1: claimed the trampoline but never came online (stop here). */
static int start_ap(uint8_t *tr, uint32_t apic_id, unsigned index,
                    const struct ap_mem *m)
{
	struct ks_percpu *pc = &ks_percpu_area[index];
	__builtin_memset(pc, 0, sizeof(*pc));
	pc->index = index;
	pc->apic_id = apic_id;
	pc->self = pc;
	pc->stack_lo = m->stack_lo;
	pc->stack_hi = m->stack_hi;
	pc->tlb_done = __atomic_load_n(&tlb_gen, __ATOMIC_ACQUIRE);
	for (int i = 0; i < 3; i++)
		ap_ist[index][i] = m->ist[i];
	__atomic_store_n(&pc->state, KS_CPU_STARTING, __ATOMIC_RELEASE);

	put64(tr, KS_TR_STACK, m->stack_hi);
	put64(tr, KS_TR_PERCPU, (uint64_t)(uintptr_t)pc);
	__atomic_store_n(claim_word(tr), apic_id, __ATOMIC_RELEASE);

	uint32_t vec = (uint32_t)((uintptr_t)tr >> 12);
	if (ks_lapic_send_ipi(apic_id, KS_ICR_INIT | KS_ICR_ASSERT) != 0)
		ks_printf("smp: INIT IPI to APIC id %u stuck\n", apic_id);
	ks_delay_us(10000);
	for (int sipi = 0; sipi < 2; sipi++) {
		if (__atomic_load_n(claim_word(tr), __ATOMIC_ACQUIRE) ==
		    KS_TR_CLAIM_TAKEN)
			break;
		if (ks_lapic_send_ipi(apic_id, KS_ICR_STARTUP | KS_ICR_ASSERT | vec))
			ks_printf("smp: SIPI to APIC id %u stuck\n", apic_id);
		ks_delay_us(200);
	}
	uint64_t d = deadline(CLAIM_TIMEOUT_US);
	while (__atomic_load_n(claim_word(tr), __ATOMIC_ACQUIRE) != KS_TR_CLAIM_TAKEN &&
	       !expired(d))
		cpu_pause();
	if (__atomic_exchange_n(claim_word(tr), KS_TR_CLAIM_NONE, __ATOMIC_ACQ_REL) !=
	    KS_TR_CLAIM_TAKEN) {
		ks_printf("smp: CPU with APIC id %u did not answer INIT-SIPI-SIPI "
		          "within %llu ms; left out\n", apic_id,
		          (unsigned long long)(CLAIM_TIMEOUT_US / 1000));
		__atomic_store_n(&pc->state, KS_CPU_ABSENT, __ATOMIC_RELEASE);
		return 1;
	}
	d = deadline(ONLINE_TIMEOUT_US);
	while (__atomic_load_n(&pc->state, __ATOMIC_ACQUIRE) != KS_CPU_ONLINE &&
	       !expired(d))
		cpu_pause();
	uint32_t expect = KS_CPU_STARTING;
	if (__atomic_compare_exchange_n(&pc->state, &expect, KS_CPU_ABANDONED,
	                                false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		ks_printf("smp: CPU with APIC id %u entered the trampoline but did "
		          "not reach the kernel within %llu ms; left out, and no "
		          "further CPU is started\n", apic_id,
		          (unsigned long long)(ONLINE_TIMEOUT_US / 1000));
		return -1;
	}
	return 0;
}

static void mask_legacy_interrupts(void)
{
	/* 8259 pair: ICW1-4 (vectors 0x20 / 0x28, cascade on IRQ 2, 8086
	 * mode), then every line masked.  Harmless when there is none. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	/* I/O APICs: mask every redirection entry (IOREGSEL at +0, IOWIN at
	 * +0x10; register 1 holds the highest entry number in bits 16-23). */
	for (unsigned i = 0; i < acpi.nioapic; i++) {
		uint64_t a = acpi.ioapic[i].addr;
		if (a < 4096 || a + 0x20 > (4ull << 30)) {
			ks_printf("smp: I/O APIC %u at 0x%llx is outside the low "
			          "4 GiB; not touched\n", acpi.ioapic[i].id,
			          (unsigned long long)a);
			continue;
		}
		volatile uint32_t *sel = (volatile uint32_t *)(uintptr_t)a;
		volatile uint32_t *win = (volatile uint32_t *)(uintptr_t)(a + 0x10);
		*sel = 1;
		unsigned max = (*win >> 16) & 0xff;
		for (unsigned r = 0; r <= max; r++) {
			*sel = 0x10 + 2 * r;
			*win = *win | (1u << 16);
		}
	}
}

unsigned ks_smp_init(const struct ks_smp_boot *bi)
{
	struct ks_percpu *bsp = &ks_percpu_area[0];
	char err[256];
	int have_acpi = ks_acpi_parse(bi->rsdp, bi->identity_top, &acpi, err,
	                              sizeof(err)) == 0;
	if (!have_acpi)
		ks_printf("acpi: %s; only the boot CPU runs\n", err);
	uint64_t hz = ks_tsc_calibrate(have_acpi ? acpi.pm_timer_port : 0,
	                               acpi.pm_timer_32bit);
	mask_legacy_interrupts();
	if (ks_lapic_init_bsp(have_acpi ? acpi.lapic_addr : 0) != 0)
		ks_panic("smp: the boot CPU has no usable local APIC");
	ks_lapic_timer_calibrate();
	bsp->apic_id = ks_lapic_id();

	ks_irq_set_handler(KS_VEC_WAKE, on_wake);
	ks_irq_set_handler(KS_VEC_CALL, on_call);
	ks_irq_set_handler(KS_VEC_STOP, on_stop);
	ks_irq_set_handler(KS_VEC_TIMER, on_timer);
	ks_irq_set_handler(KS_VEC_SPURIOUS, on_spurious);
	ks_trap_set_smp_hooks(ks_smp_nmi, ks_smp_halt_others);
	bsp_cr0 = read_cr0();
	bsp_cr4 = read_cr4() & (0x8u | 0x10u | 0x20u | 0x40u | 0x80u |
	                        0x200u | 0x400u);
	bsp_pat = rdmsr(KS_MSR_PAT);
	__atomic_store_n(&smp_nmis, 1, __ATOMIC_RELEASE);

	if (have_acpi) {
		ks_printf("acpi: RSDP rev %u \"%s\", %s at 0x%llx, MADT at 0x%llx: "
		          "%u enabled CPU entr%s, %u disabled, %u I/O APIC(s)%s\n",
		          acpi.revision, acpi.oem, acpi.use_xsdt ? "XSDT" : "RSDT",
		          (unsigned long long)acpi.root,
		          (unsigned long long)acpi.madt, acpi.ncpus,
		          acpi.ncpus == 1 ? "y" : "ies", acpi.disabled,
		          acpi.nioapic, acpi.pm_timer_port ? ", PM timer" : "");
		if (acpi.dropped)
			ks_printf("acpi: %u more enabled CPU entries beyond %u ignored\n",
			          acpi.dropped, KS_ACPI_MAX_CPUS);
		if (acpi.duplicates)
			ks_printf("acpi: %u CPU entries repeat an APIC id; counted "
			          "once\n", acpi.duplicates);
	}

	/* Test hook: the runner can name an APIC id no CPU has (fw_cfg
	 * opt/kspan/smp-phantom), appended to the MADT's list, to exercise
	 * the path of a CPU that never answers. */
	uint64_t phantom = 0;
	if (have_acpi && ks_fwcfg_uint("opt/kspan/smp-phantom", &phantom) == 0) {
		int real = phantom > 0xffffffffull;
		for (unsigned i = 0; i < acpi.ncpus; i++)
			if (acpi.cpu[i].apic_id == phantom)
				real = 1;
		if (real || acpi.ncpus == KS_ACPI_MAX_CPUS) {
			ks_printf("smp: phantom APIC id %llu is a real CPU or does not "
			          "fit; ignored\n", (unsigned long long)phantom);
		} else {
			acpi.cpu[acpi.ncpus++] = (struct ks_acpi_cpu){
				(uint32_t)phantom, 0xffffffffu, 0 };
			ks_printf("smp: test: also starting phantom APIC id %llu, which "
			          "no CPU has\n", (unsigned long long)phantom);
		}
	}

	int bsp_listed = 0;
	for (unsigned i = 0; have_acpi && i < acpi.ncpus; i++)
		if (acpi.cpu[i].apic_id == bsp->apic_id)
			bsp_listed = 1;
	if (have_acpi && !bsp_listed)
		ks_printf("smp: the boot CPU's APIC id %u is not in the MADT\n",
		          bsp->apic_id);

	uint8_t *tr = NULL;
	if (have_acpi && acpi.ncpus > (unsigned)bsp_listed)
		tr = setup_trampoline(bi->trampoline, bi->trampoline_size);

	unsigned beyond = 0;
	struct ap_mem mem;
	int have_mem = 0;
	for (unsigned i = 0; tr && i < acpi.ncpus; i++) {
		uint32_t id = acpi.cpu[i].apic_id;
		if (id == bsp->apic_id)
			continue;
		unsigned index = ks_smp_ncpus();
		if (index >= KSPAN_MAX_CPUS) {
			if (beyond++ == 0)
				ks_printf("smp: KSPAN_MAX_CPUS is %u: APIC id %u and the "
				          "CPUs after it are ignored\n", KSPAN_MAX_CPUS, id);
			continue;
		}
		if (id > ks_lapic_max_id()) {
			ks_printf("smp: APIC id %u cannot be addressed in %s mode; "
			          "left out\n", id, ks_lapic_x2apic() ? "x2APIC" : "xAPIC");
			continue;
		}
		if (!have_mem) {
			if (alloc_ap_mem(&mem) != 0) {
				ks_printf("smp: no memory for CPU %u's stacks; no further "
				          "CPU is started\n", index);
				break;
			}
			have_mem = 1;
		}
		int rc = start_ap(tr, id, index, &mem);
		if (rc != 0)
			left_out++;
		if (rc < 0)
			break;
		if (rc == 0) {
			have_mem = 0;
			__atomic_store_n(&ncpus, index + 1, __ATOMIC_RELEASE);
		}
	}
	if (beyond > 1)
		ks_printf("smp: %u CPUs ignored in all (beyond KSPAN_MAX_CPUS)\n",
		          beyond);

	unsigned n = ks_smp_ncpus();
	char ids[400];
	int at = 0;
	for (unsigned i = 0; i < n && at < 380; i++)
		at += ks_snprintf(ids + at, sizeof(ids) - (size_t)at, "%s%u",
		                  i ? " " : "", ks_percpu_area[i].apic_id);
	ids[at] = 0;
	ks_printf("cpus: %u online (APIC ids %s); TSC %llu.%03llu MHz from the "
	          "%s; %s at 0x%llx, LAPIC timer %llu kHz\n", n, ids,
	          (unsigned long long)(hz / 1000000),
	          (unsigned long long)(hz / 1000 % 1000), ks_tsc_source(),
	          ks_lapic_x2apic() ? "x2APIC" : "xAPIC",
	          (unsigned long long)ks_lapic_base(),
	          (unsigned long long)(ks_lapic_timer_hz() / 1000));
	return n;
}
