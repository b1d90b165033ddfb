/*
 * Entry stubs for the 32 CPU exceptions, and isr_table, their addresses
 * for the IDT (idt.c).  Each stub gives the stack one shape -- it pushes
 * a zero where the CPU pushes no error code, then its vector -- and jumps
 * to isr_common, which saves the general registers and calls
 * exception_handler(struct trapframe *).  That reports and ends the run:
 * nothing here ever returns with iretq.
 *
 * At the call: 15 registers + vector + error code + the CPU's 5-word frame
 * = 22 words on a 16-byte aligned IST stack, so RSP is 16-byte aligned as
 * the ABI wants.
 */
/* Vectors for which the CPU pushes an error code: #DF 8, #TS 10, #NP 11,
 * #SS 12, #GP 13, #PF 14, #AC 17, #CP 21, #VC 29, #SX 30. */
#define ERROR_CODE_VECTORS ((1 << 8) | (0x1f << 10) | (1 << 17) | (1 << 21) | \
                            (1 << 29) | (1 << 30))

	.text
	.code64

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
isr_\n:
	.if ((ERROR_CODE_VECTORS >> \n) & 1) == 0
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
	.endr

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
