/*
 * SMP bring-up (smp.h): find the CPUs, start them, leave them idling in
 * smp_call.c.  ks_smp_init, boot CPU, interrupts off:
 *
 *   1. ACPI: the MADT lists the CPUs (enabled LAPIC / x2APIC entries), the
 *      FADT the PM timer.  A malformed table is reported; then only the
 *      boot CPU runs.
 *   2. TSC calibrated against the PM timer (PIT channel 2 without one);
 *      the 8259 PICs remapped to 0x20-0x2f and masked, every I/O APIC
 *      redirection entry masked (nothing external interrupts us); the boot
 *      CPU's LAPIC enabled and its timer measured; smp_call.c's handlers
 *      and hooks installed (ks_smp_call_setup).
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
 *      into smp_call.c's idle loop (interrupts on, parked until work or a
 *      request comes).
 *
 * Everything it needs from the loader comes in struct ks_smp_boot; what
 * the rest of the kernel needs of it goes through smp_call.c
 * (ks_smp_call_set_online).
 *
 * State: written by the boot CPU during ks_smp_init (an AP writes only its
 * own ks_percpu state word, with an atomic compare-and-swap).  No locks.
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
#include "smp_internal.h"
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

extern char ks_trampoline_start[], ks_trampoline_end[];

static unsigned started = 1;            /* CPUs online so far */
static unsigned left_out;               /* CPUs that did not answer */
static struct ks_acpi_info acpi;
static uint64_t ap_ist[KSPAN_MAX_CPUS][3];
static uint64_t bsp_cr0, bsp_cr4, bsp_pat;

unsigned ks_smp_left_out(void)
{
	return left_out;
}

uint32_t ks_smp_apic_id(unsigned cpu)
{
	return cpu < KSPAN_MAX_CPUS ? ks_percpu_area[cpu].apic_id : 0xffffffffu;
}

void ks_smp_early_init(void)
{
	struct ks_percpu *pc = &ks_percpu_area[0];
	pc->state = KS_CPU_ONLINE;
	ks_percpu_install(pc, 0);
}

/* ---- the AP side ----------------------------------------------------------- */

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
	ks_smp_idle_loop(pc);
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
	ks_percpu_identify(pc, index);
	pc->apic_id = apic_id;
	pc->stack_lo = m->stack_lo;
	pc->stack_hi = m->stack_hi;
	ks_smp_call_prepare_cpu(pc);
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
	uint64_t d = ks_smp_deadline(CLAIM_TIMEOUT_US);
	while (__atomic_load_n(claim_word(tr), __ATOMIC_ACQUIRE) != KS_TR_CLAIM_TAKEN &&
	       !ks_smp_expired(d))
		cpu_pause();
	if (__atomic_exchange_n(claim_word(tr), KS_TR_CLAIM_NONE, __ATOMIC_ACQ_REL) !=
	    KS_TR_CLAIM_TAKEN) {
		ks_printf("smp: CPU with APIC id %u did not answer INIT-SIPI-SIPI "
		          "within %llu ms; left out\n", apic_id,
		          (unsigned long long)(CLAIM_TIMEOUT_US / 1000));
		__atomic_store_n(&pc->state, KS_CPU_ABSENT, __ATOMIC_RELEASE);
		return 1;
	}
	d = ks_smp_deadline(ONLINE_TIMEOUT_US);
	while (__atomic_load_n(&pc->state, __ATOMIC_ACQUIRE) != KS_CPU_ONLINE &&
	       !ks_smp_expired(d))
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

	ks_smp_call_setup();
	bsp_cr0 = read_cr0();
	bsp_cr4 = read_cr4() & (0x8u | 0x10u | 0x20u | 0x40u | 0x80u |
	                        0x200u | 0x400u);
	bsp_pat = rdmsr(KS_MSR_PAT);

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
		unsigned index = started;
		if (index >= KS_MAX_CPUS) {
			if (beyond++ == 0)
				ks_printf("smp: at most %u CPUs (KSPAN_MAX_CPUS / 2: the other "
				          "slots are their interrupt slots): APIC id %u and the "
				          "CPUs after it are ignored\n", KS_MAX_CPUS, id);
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
			started = index + 1;
			ks_smp_call_set_online(started);
		}
	}
	if (beyond > 1)
		ks_printf("smp: %u CPUs ignored in all (beyond KSPAN_MAX_CPUS / 2)\n",
		          beyond);

	unsigned n = started;
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
