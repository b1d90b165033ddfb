/*
 * IDT setup and the exception handler (see trap.h).
 *
 * Vectors 0-31 get interrupt gates (interrupts stay off in the handler);
 * double fault, NMI and machine check switch to their IST stacks (gdt.c).
 * Vectors 32-255 are not present: an external interrupt there would raise
 * #GP (reported like any other exception).
 *
 * ks_trap() first checks for a probe fault (trap.h) and resumes at its
 * fixup; everything else is fatal: the report goes straight to the UART
 * (no console lock, which the faulting code may hold), then QEMU exits with
 * the failure status.  A fault inside the report itself is caught by
 * trap_depth and ends the run at once.
 *
 * State: the IDT (written once at boot) and the probe's last-fault record
 * (written only by the faulting CPU with interrupts off).
 */
#include "trap.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "gdt.h"
#include "qemu_exit.h"
#include "serial.h"
#include "mm/fmt.h"

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
extern const int64_t ks_isr_offsets[32];

extern char ks_probe_read64_insn[], ks_probe_read64_fixup[];
extern char ks_probe_write64_insn[], ks_probe_write64_fixup[];
extern char __image_start[], __image_end[];

static uint64_t probe_cr2;
static unsigned probe_vector;
static volatile int trap_depth;

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
	for (unsigned v = 0; v < 32; v++) {
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
	struct ks_dtr d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	lidt(&d);
}

uint64_t ks_probe_last_cr2(void) { return probe_cr2; }
unsigned ks_probe_last_vector(void) { return probe_vector; }

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
	probe_vector = (unsigned)tf->vector;
	probe_cr2 = tf->vector == 14 ? read_cr2() : 0;
	tf->rip = fix;
	return 1;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = ks_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	ks_serial_write(buf, (size_t)n);
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

void ks_trap(struct ks_trapframe *tf)
{
	if (probe_fixup(tf))
		return;
	if (trap_depth++ > 0) {
		out("\nkspan: exception %llu (%s) while reporting an exception, "
		    "rip=0x%llx\n", (unsigned long long)tf->vector,
		    ks_trap_name((unsigned)tf->vector),
		    (unsigned long long)tf->rip);
		ks_qemu_exit(0);
	}
	uint64_t cr2 = read_cr2();
	out("\nkspan: CPU exception %llu: %s, error code 0x%llx\n",
	    (unsigned long long)tf->vector, ks_trap_name((unsigned)tf->vector),
	    (unsigned long long)tf->error);
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
