/*
 * The GDT, TSS and interrupt descriptor table of the mb2 example kernel:
 * the 32 CPU exceptions, each an interrupt gate to its stub in isr.S.
 * #DF and #PF run on their own stacks (TSS IST1, IST2), so a kernel stack
 * overflow into the guard page below the stack is reported as a page fault
 * instead of escalating to a triple fault.  No device
 * interrupts are used (the kernel runs with IF clear), so any vector that
 * arrives is a bug: exception_handler prints the vector, its name, the
 * error code, RIP, CR2 (the faulting address for #PF) and the registers,
 * then leaves QEMU with the failure status.  A fault never turns into a
 * triple fault and a silent reboot.
 */
#include <stdint.h>

#include "console.h"
#include "cpu.h"
#include "kernel.h"

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t  ist;
	uint8_t  type;          /* 0x8e: present, DPL 0, interrupt gate */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const uint64_t isr_table[32];

/* Selectors: the same as boot.S's GDT, plus the TSS. */
#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS  0x18

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

static struct tss tss __attribute__((aligned(16)));
static uint64_t gdt[5] __attribute__((aligned(16)));
static uint8_t df_stack[8192] __attribute__((aligned(16)));
static uint8_t pf_stack[8192] __attribute__((aligned(16)));

static void gdt_init(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss;
	uint64_t limit = sizeof(tss) - 1;

	tss.ist[0] = (uint64_t)(uintptr_t)(df_stack + sizeof(df_stack));
	tss.ist[1] = (uint64_t)(uintptr_t)(pf_stack + sizeof(pf_stack));
	tss.iomap_base = sizeof(tss);

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull;         /* 64-bit code */
	gdt[2] = 0x00cf92000000ffffull;         /* data */
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	         (0x89ull << 40) |              /* present, 64-bit TSS */
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;

	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) p = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
	__asm__ volatile("lgdt %0" : : "m"(p));
	__asm__ volatile(
		"pushq %0\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %w1, %%ds\n\t"
		"movw %w1, %%es\n\t"
		"movw %w1, %%ss\n\t"
		: : "i"((uint64_t)SEL_CODE), "r"((uint32_t)SEL_DATA) : "rax", "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint32_t)SEL_TSS));
}

static struct idt_gate idt[32] __attribute__((aligned(16)));

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

void idt_init(void)
{
	gdt_init();
	for (int v = 0; v < 32; v++) {
		uint64_t a = isr_table[v];
		idt[v].off_lo = (uint16_t)a;
		idt[v].sel = SEL_CODE;
		idt[v].ist = v == 8 ? 1 : v == 14 ? 2 : 0;
		idt[v].type = 0x8e;
		idt[v].off_mid = (uint16_t)(a >> 16);
		idt[v].off_hi = (uint32_t)(a >> 32);
		idt[v].zero = 0;
	}
	struct idt_ptr p = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}

void exception_handler(struct trapframe *tf)
{
	uint64_t v = tf->vector;
	kprintf("\nEXCEPTION: vector %lu (%s) error 0x%lx\n", v,
	        v < 32 ? vector_names[v] : "?", tf->error);
	kprintf("  rip 0x%016lx  cr2 0x%016lx  rsp 0x%016lx  rflags 0x%lx\n",
	        tf->rip, read_cr2(), tf->rsp, tf->rflags);
	if (v == 14)
		kprintf("  page fault: %s, %s access, %s\n",
		        (tf->error & 1) ? "protection violation" : "page not present",
		        (tf->error & 2) ? "write" : (tf->error & 16) ? "instruction" : "read",
		        (tf->error & 4) ? "user mode" : "kernel mode");
	kprintf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n",
	        tf->rax, tf->rbx, tf->rcx, tf->rdx);
	kprintf("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n",
	        tf->rsi, tf->rdi, tf->rbp, tf->r8);
	kprintf("  r9  %016lx r10 %016lx r11 %016lx r12 %016lx\n",
	        tf->r9, tf->r10, tf->r11, tf->r12);
	kprintf("  r13 %016lx r14 %016lx r15 %016lx cr3 %016lx\n",
	        tf->r13, tf->r14, tf->r15, read_cr3());
	if (tf->rsp >= (uint64_t)(uintptr_t)boot_stack_bottom - 4096 &&
	    tf->rsp < (uint64_t)(uintptr_t)boot_stack_bottom + 256)
		kprintf("  (rsp is at the bottom of the kernel stack: overflow?)\n");
	kprintf("mb2: stopped by CPU exception %lu\n", v);
	qemu_exit(QEMU_EXIT_FAIL);
}
