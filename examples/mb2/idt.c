/*
 * CPU exceptions in the mb2 example kernel: an IDT of 32 interrupt gates
 * to isr.S's stubs, and exception_handler, which prints the vector, its
 * name, the error code, RIP, CR2 (the faulting address of a #PF) and the
 * registers, then leaves QEMU with the failure status, so a fault never
 * becomes a triple fault and a silent reboot.  The kernel never enables
 * interrupts: any vector that arrives is a bug.
 *
 * Every gate switches to one exception stack (the TSS's IST1), so a kernel
 * stack overflow into the guard page below the stack is reported like any
 * other #PF instead of escalating to #DF and a triple fault.
 */
#include <stdint.h>
#include <kspan/fmt.h>

#include "kernel.h"

/* What isr.S leaves on the stack: its pushes, then the CPU's. */
struct trapframe {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

__attribute__((noreturn)) void exception_handler(struct trapframe *tf);
extern const uint64_t isr_table[32];

#define SEL_CODE 0x08           /* boot_gdt's selectors */
#define SEL_TSS  0x18

struct gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t  ist;           /* 1: switch to tss.ist[0] */
	uint8_t  type;          /* 0x8e: present, DPL 0, interrupt gate */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

/* Used only for its IST pointer: no privilege levels, no I/O bitmap. */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

static struct gate idt[32] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t exception_stack[8192] __attribute__((aligned(16)));

void idt_init(void)
{
	/* The TSS and its 16-byte descriptor in boot.S's GDT slot (the
	 * limit, 0x67, fits the descriptor's low 16 limit bits). */
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
	tss.ist[0] = (uint64_t)(uintptr_t)exception_stack + sizeof(exception_stack);
	tss.iomap_base = sizeof(tss);
	boot_gdt[SEL_TSS / 8] = limit | (base & 0xffffff) << 16 |
	                        0x89ull << 40 |         /* present, 64-bit TSS */
	                        (base >> 24 & 0xff) << 56;
	boot_gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"((uint32_t)SEL_TSS));

	for (int v = 0; v < 32; v++) {
		uint64_t a = isr_table[v];
		idt[v] = (struct gate){ .off_lo = (uint16_t)a, .sel = SEL_CODE,
		                        .ist = 1, .type = 0x8e,
		                        .off_mid = (uint16_t)(a >> 16),
		                        .off_hi = (uint32_t)(a >> 32) };
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

static const char *const vector_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound range", "#UD invalid opcode",
	"#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved",
	"#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved", "reserved", "reserved", "reserved", "reserved",
	"reserved", "#HV hypervisor injection", "#VC VMM communication",
	"#SX security", "reserved",
};

void exception_handler(struct trapframe *tf)
{
	/* A fault while reporting one would restart on the same IST stack
	 * and loop: stop at once instead. */
	static int reporting;
	static const char nested[] = "\nEXCEPTION inside the exception handler\n";
	if (reporting++) {
		serial_write(nested, sizeof(nested) - 1);
		qemu_exit(QEMU_EXIT_FAIL);
	}
	uint64_t v = tf->vector, cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	ks_printf("\nEXCEPTION: vector %lu (%s) error 0x%lx\n", v,
	          v < 32 ? vector_names[v] : "?", tf->error);
	ks_printf("  rip 0x%016lx  cr2 0x%016lx  rsp 0x%016lx  rflags 0x%lx\n",
	          tf->rip, cr2, tf->rsp, tf->rflags);
	if (v == 14) {
		uint64_t e = tf->error;
		ks_printf("  page fault: %s, %s access\n",
		          (e & 1) ? "protection violation" : "page not present",
		          (e & 2) ? "write" : (e & 16) ? "instruction" : "read");
	}
	uint64_t bottom = (uint64_t)(uintptr_t)boot_stack_bottom;
	if (tf->rsp >= bottom - 4096 && tf->rsp < bottom + 256)
		ks_printf("  kernel stack: overflow (rsp is at the stack's bottom "
		          "0x%lx, or in the guard page below it)\n", bottom);
	ks_printf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n",
	          tf->rax, tf->rbx, tf->rcx, tf->rdx);
	ks_printf("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n",
	          tf->rsi, tf->rdi, tf->rbp, tf->r8);
	ks_printf("  r9  %016lx r10 %016lx r11 %016lx r12 %016lx\n",
	          tf->r9, tf->r10, tf->r11, tf->r12);
	ks_printf("  r13 %016lx r14 %016lx r15 %016lx\n", tf->r13, tf->r14, tf->r15);
	ks_printf("mb2: stopped by CPU exception %lu\n", v);
	qemu_exit(QEMU_EXIT_FAIL);
}
