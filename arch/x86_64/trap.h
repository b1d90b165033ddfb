/*
 * CPU exceptions and interrupts: the IDT for all 256 vectors and the
 * handler behind it.
 *
 * Every exception is fatal except a fault on one of the probe instructions
 * (probe.S), which the handler turns into an error return.  A fatal
 * exception prints the vector name and number, the error code (decoded for
 * page faults), RIP (also as an offset in the kernel image), CR2, RSP, CR3
 * and the general registers over serial, then exits QEMU with the failure
 * status; it never returns and never reboots silently.
 */
#ifndef KSPAN_ARCH_X86_64_TRAP_H
#define KSPAN_ARCH_X86_64_TRAP_H

#include <stddef.h>
#include <stdint.h>

/* Register state pushed by isr.S; field order is the push order reversed. */
struct ks_trapframe {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;     /* pushed by the CPU */
};

/* Fill the IDT with gates for all vectors and load it (boot CPU). */
void ks_idt_init(void);
/* Load the same IDT on another CPU. */
void ks_idt_load(void);

/* Called from isr.S with interrupts off. */
void ks_trap(struct ks_trapframe *tf);

/* Run fn for interrupt vector (32..255), on every CPU, with interrupts
 * off.  fn must send the LAPIC EOI itself.  Set handlers before enabling
 * interrupts. */
typedef void (*ks_irq_handler_t)(struct ks_trapframe *tf);
void ks_irq_set_handler(unsigned vector, ks_irq_handler_t fn);

/* Print the return addresses of the frame-pointer chain starting at rbp
 * (at most 16), straight to the UART; stops at a zero or unreadable frame. */
void ks_backtrace(uint64_t rbp);

/* Name of an exception vector ("page fault", ...). */
const char *ks_trap_name(unsigned vector);

/*
 * Probes: read or write 8 bytes at addr; return 0, or -1 if that raised a
 * page fault or general-protection fault (then *fault_addr, if the probe
 * faulted on a page, is CR2).  For self-tests that check a page is really
 * unmapped.
 */
int ks_probe_read64(const volatile void *addr, uint64_t *out);
int ks_probe_write64(volatile void *addr, uint64_t val);
/* CR2 and vector of the last fault a probe absorbed on this CPU. */
uint64_t ks_probe_last_cr2(void);
unsigned ks_probe_last_vector(void);

/* Register fn to explain page faults: given the faulting address and the
 * access (0 read, 1 write: the error code's W bit) it writes a sentence to
 * buf and returns 1, or returns 0 if the address is not its business.  The
 * fault report prints it as a line "kspan: <sentence>" (kernel/heap.c
 * registers kspan_guard_fault). */
/* Cross-CPU hooks (smp_call.c installs them): nmi() returns 1 if an NMI was a
 * cross-CPU request it handled; halt_others() stops the other CPUs before
 * a fatal exception is reported. */
void ks_trap_set_smp_hooks(int (*nmi)(void), void (*halt_others)(void));

void ks_trap_set_fault_describer(int (*fn)(uintptr_t addr, int access, char *buf, size_t cap));

#endif
