/*
 * IDT setup, the exception handler and interrupt dispatch (see trap.h).
 *
 * All 256 vectors have interrupt gates (interrupts stay off in every
 * handler); double fault, NMI and machine check switch to their IST stacks
 * (gdt.c).  One IDT serves every CPU.
 *
 * ks_trap() sorts what arrived, after telling park.c (an interrupt or NMI
 * ends a park, park.h):
 *   vector >= 32  an interrupt: the handler registered for it (LAPIC timer,
 *                 IPIs; each sends its own EOI), or the stray-interrupt
 *                 report (counted, EOI if the LAPIC has it in service,
 *                 printed for the first few);
 *   NMI           smp_call.c's requests (TLB shootdown, halt, park.h's
 *                 kicks); an NMI nobody
 *                 asked for is fatal while only one CPU runs;
 *   a fault on a probe instruction (trap.h): resume at its fixup;
 *   anything else is fatal: the first CPU to get there halts the others
 *   (NMI), reports straight to the UART (no console lock, which the
 *   faulting code may hold) and exits QEMU with the failure status.  A
 *   fault inside the report itself ends the run at once; a CPU that faults
 *   while another is reporting halts.
 *
 * State: the IDT and the handler table (written at boot on the boot CPU,
 * before interrupts are enabled), per-CPU probe records and nesting depth
 * (in struct ks_percpu, written by their own CPU with interrupts off), and
 * fatal_cpu (atomic).
 */
#include "trap.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "gdt.h"
#include "lapic.h"
#include "park.h"
#include "percpu.h"
#include "qemu_exit.h"
#include "serial.h"
#include "lib/fmt.h"

/* Who can explain a page fault's address (the heap's guarded pool):
 * access 0 read, 1 write (the error code's W bit). */
static int (*fault_describer)(uintptr_t addr, int access, char *buf, size_t cap);

void ks_trap_set_fault_describer(int (*fn)(uintptr_t addr, int access, char *buf, size_t cap))
{
	fault_describer = fn;
}

struct __attribute__((packed)) idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static ks_irq_handler_t handlers[256];
extern const int64_t ks_isr_offsets[256];

extern char ks_probe_read64_insn[], ks_probe_read64_fixup[];
extern char ks_probe_write64_insn[], ks_probe_write64_fixup[];
extern char __image_start[], __image_end[];

static int fatal_cpu = -1;          /* CPU reporting a fatal exception */
static unsigned stray_reports;

static const char *const names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound range", "#UD invalid opcode",
	"#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved 15",
	"#MF x87 floating point", "#AC alignment check", "#MC machine check",
	"#XM SIMD floating point", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25",
	"reserved 26", "reserved 27", "#HV hypervisor injection",
	"#VC VMM communication", "#SX security", "reserved 31",
};

const char *ks_trap_name(unsigned vector)
{
	return vector < 32 ? names[vector] : "external interrupt";
}

void ks_idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t h = (uint64_t)(uintptr_t)ks_isr_offsets +
		             (uint64_t)ks_isr_offsets[v];
		uint8_t ist = 0;
		if (v == 8)
			ist = KS_IST_DOUBLE_FAULT;
		else if (v == 2)
			ist = KS_IST_NMI;
		else if (v == 18)
			ist = KS_IST_MACHINE_CHECK;
		idt[v] = (struct idt_gate){
			.off_lo = (uint16_t)h,
			.sel = KS_SEL_KCODE,
			.ist = ist,
			.type_attr = 0x8e,          /* present, DPL 0, interrupt gate */
			.off_mid = (uint16_t)(h >> 16),
			.off_hi = (uint32_t)(h >> 32),
			.zero = 0,
		};
	}
	ks_idt_load();
}

void ks_idt_load(void)
{
	struct ks_dtr d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	lidt(&d);
}

void ks_irq_set_handler(unsigned vector, ks_irq_handler_t fn)
{
	if (vector < 32 || vector > 255)
		ks_panic("ks_irq_set_handler: vector %u is not an interrupt "
		         "vector (32..255)", vector);
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_RELEASE);
}

uint64_t ks_probe_last_cr2(void) { return ks_this_cpu()->probe_cr2; }
unsigned ks_probe_last_vector(void) { return ks_this_cpu()->probe_vector; }

static int probe_fixup(struct ks_trapframe *tf)
{
	if (tf->vector != 14 && tf->vector != 13)
		return 0;
	uint64_t fix = 0;
	if (tf->rip == (uint64_t)(uintptr_t)ks_probe_read64_insn)
		fix = (uint64_t)(uintptr_t)ks_probe_read64_fixup;
	else if (tf->rip == (uint64_t)(uintptr_t)ks_probe_write64_insn)
		fix = (uint64_t)(uintptr_t)ks_probe_write64_fixup;
	if (!fix)
		return 0;
	struct ks_percpu *pc = ks_this_cpu();
	pc->probe_vector = (unsigned)tf->vector;
	pc->probe_cr2 = tf->vector == 14 ? read_cr2() : 0;
	tf->rip = fix;
	return 1;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ks_vprint_to(ks_serial_write, fmt, ap);
	va_end(ap);
}

static void where(const char *label, uint64_t addr)
{
	uint64_t lo = (uint64_t)(uintptr_t)__image_start;
	uint64_t hi = (uint64_t)(uintptr_t)__image_end;
	if (addr >= lo && addr < hi)
		out("%s0x%016llx (kspan.elf+0x%llx)\n", label,
		    (unsigned long long)addr, (unsigned long long)(addr - lo));
	else
		out("%s0x%016llx\n", label, (unsigned long long)addr);
}

void ks_backtrace(uint64_t rbp)
{
	for (int i = 0; i < 16 && rbp && !(rbp & 7); i++) {
		uint64_t next, ret;
		if (ks_probe_read64((void *)(uintptr_t)rbp, &next) ||
		    ks_probe_read64((void *)(uintptr_t)(rbp + 8), &ret))
			break;
		if (!ret)
			break;
		where("  called from ", ret);
		if (next <= rbp)
			break;
		rbp = next;
	}
}

static void stray(struct ks_percpu *pc, unsigned vector)
{
	pc->n_stray++;
	if (vector == KS_VEC_SPURIOUS)
		return;          /* LAPIC spurious interrupt: no EOI */
	int eoi = ks_lapic_ready() && ks_lapic_in_service(vector);
	if (eoi)
		ks_lapic_eoi();
	if (__atomic_fetch_add(&stray_reports, 1, __ATOMIC_RELAXED) < 8)
		ks_printf("kspan: stray interrupt vector %u on CPU %u (%s)\n",
		          vector, pc->index, eoi ? "LAPIC, EOI sent" :
		          "not in service at the LAPIC");
}

static void interrupt(struct ks_trapframe *tf)
{
	struct ks_percpu *pc = ks_this_cpu();
	unsigned v = (unsigned)tf->vector;
	pc->irq_depth++;
	ks_irq_handler_t h = __atomic_load_n(&handlers[v], __ATOMIC_ACQUIRE);
	if (h)
		h(tf);
	else
		stray(pc, v);
	pc->irq_depth--;
}

/* Set by smp_call.c (ks_trap_set_smp_hooks), so that this file needs nothing
 * of it: NMIs that are cross-CPU requests, and stopping the other CPUs
 * before a fatal report.  Until then one CPU runs and neither is needed. */
static int (*nmi_hook)(void);
static void (*halt_others_hook)(void);

void ks_trap_set_smp_hooks(int (*nmi)(void), void (*halt_others)(void))
{
	__atomic_store_n(&nmi_hook, nmi, __ATOMIC_RELEASE);
	__atomic_store_n(&halt_others_hook, halt_others, __ATOMIC_RELEASE);
}

static void dispatch(struct ks_trapframe *tf)
{
	int (*nmi)(void) = __atomic_load_n(&nmi_hook, __ATOMIC_ACQUIRE);
	void (*halt_others)(void) = __atomic_load_n(&halt_others_hook, __ATOMIC_ACQUIRE);
	if (tf->vector >= 32 || tf->vector == 2)
		ks_park_trap_entry(tf);     /* a parked CPU wakes up here */
	if (tf->vector >= 32) {
		interrupt(tf);
		return;
	}
	if (tf->vector == 2 && nmi && nmi())
		return;
	if (probe_fixup(tf))
		return;
	cpu_cli();
	unsigned me = ks_cpu_index();
	int expect = -1;
	if (!__atomic_compare_exchange_n(&fatal_cpu, &expect, (int)me, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (expect == (int)me) {
			out("\nkspan: exception %llu (%s) on CPU %u while reporting "
			    "an exception, rip=0x%llx\n",
			    (unsigned long long)tf->vector,
			    ks_trap_name((unsigned)tf->vector), me,
			    (unsigned long long)tf->rip);
			ks_qemu_exit(0);
		}
		for (;;)        /* another CPU is reporting; it ends the run */
			cpu_hlt();
	}
	if (halt_others)
		halt_others();
	uint64_t cr2 = read_cr2();
	out("\nkspan: CPU exception %llu: %s, error code 0x%llx (CPU %u)\n",
	    (unsigned long long)tf->vector, ks_trap_name((unsigned)tf->vector),
	    (unsigned long long)tf->error, me);
	if (tf->vector == 14)
		out("kspan: page fault at 0x%llx: %s %s, %s mode%s%s\n",
		    (unsigned long long)cr2,
		    (tf->error & 0x10) ? "instruction fetch" :
		    (tf->error & 2) ? "write" : "read",
		    (tf->error & 1) ? "on a protected page" :
		                      "of a page that is not mapped",
		    (tf->error & 4) ? "user" : "kernel",
		    (tf->error & 8) ? ", reserved bit set in a page table" : "",
		    (tf->error & 0x20) ? ", protection key" : "");
	if (tf->vector == 14 && fault_describer) {
		char what[256];
		if (fault_describer(cr2, (tf->error & 2) ? 1 : 0, what, sizeof(what)))
			out("kspan: %s\n", what);
	}
	where("rip=", tf->rip);
	out("cr2=0x%016llx rsp=0x%016llx cr3=0x%016llx\n",
	    (unsigned long long)cr2, (unsigned long long)tf->rsp,
	    (unsigned long long)read_cr3());
	out("rflags=0x%llx cs=0x%llx ss=0x%llx cr0=0x%llx cr4=0x%llx\n",
	    (unsigned long long)tf->rflags, (unsigned long long)tf->cs,
	    (unsigned long long)tf->ss, (unsigned long long)read_cr0(),
	    (unsigned long long)read_cr4());
	out("rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n",
	    (unsigned long long)tf->rax, (unsigned long long)tf->rbx,
	    (unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
	out("rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n",
	    (unsigned long long)tf->rsi, (unsigned long long)tf->rdi,
	    (unsigned long long)tf->rbp, (unsigned long long)tf->r8);
	out("r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n",
	    (unsigned long long)tf->r9, (unsigned long long)tf->r10,
	    (unsigned long long)tf->r11, (unsigned long long)tf->r12);
	out("r13=%016llx r14=%016llx r15=%016llx\n",
	    (unsigned long long)tf->r13, (unsigned long long)tf->r14,
	    (unsigned long long)tf->r15);
	ks_backtrace(tf->rbp);
	out("kspan: stopping after CPU exception %llu (%s)\n",
	    (unsigned long long)tf->vector, ks_trap_name((unsigned)tf->vector));
	ks_qemu_exit(0);
}

/* Every vector comes here from the stubs.  Inside a handler this CPU has
 * no own kspan slot and allocates from its interrupt slot (percpu.h): the
 * code it interrupted may be in the middle of a kmalloc fast path, which
 * takes no guard.  Both words are put back on the way out. */
void ks_trap(struct ks_trapframe *tf)
{
	struct ks_percpu *pc = ks_this_cpu();
	uint32_t own = pc->kspan_own, slot = pc->kspan_slot;
	__atomic_store_n(&pc->kspan_own, KSPAN_MAX_CPUS, __ATOMIC_RELAXED);
	__atomic_store_n(&pc->kspan_slot, KS_IRQ_SLOT(pc->index), __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	dispatch(tf);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&pc->kspan_slot, slot, __ATOMIC_RELAXED);
	__atomic_store_n(&pc->kspan_own, own, __ATOMIC_RELAXED);
}
