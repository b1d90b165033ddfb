/*
 * Entry stubs for the 32 CPU exceptions.  Each stub makes the stack look
 * the same (a zero error code is pushed for vectors without one), pushes
 * its vector and every general register, and calls
 * exception_handler(struct trapframe *) in idt.c, which reports and ends
 * the run; it never returns here.  isr_table lists the stubs for the IDT.
 *
 * Stack at the call: 15 registers + vector + error code + the CPU's 5-word
 * frame = 22 words, so RSP stays 16-byte aligned as the ABI wants.
 */
	.text
	.code64

.macro ISR n, has_error
isr_\n:
	.if \has_error == 0
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm

ISR 0, 0
ISR 1, 0
ISR 2, 0
ISR 3, 0
ISR 4, 0
ISR 5, 0
ISR 6, 0
ISR 7, 0
ISR 8, 1
ISR 9, 0
ISR 10, 1
ISR 11, 1
ISR 12, 1
ISR 13, 1
ISR 14, 1
ISR 15, 0
ISR 16, 0
ISR 17, 1
ISR 18, 0
ISR 19, 0
ISR 20, 0
ISR 21, 1
ISR 22, 0
ISR 23, 0
ISR 24, 0
ISR 25, 0
ISR 26, 0
ISR 27, 0
ISR 28, 0
ISR 29, 1
ISR 30, 1
ISR 31, 0

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call exception_handler
1:	cli
	hlt
	jmp 1b

	.section .rodata
	.balign 8
	.globl isr_table
isr_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\n
	.endr

	/* No executable stack. */
	.section .note.GNU-stack, "", @progbits
