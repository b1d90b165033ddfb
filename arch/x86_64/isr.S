/*
 * Entry stubs for all 256 vectors: exceptions 0-31 and interrupts 32-255
 * (LAPIC timer, IPIs, spurious, stray).  Each pushes a zero error code
 * when the CPU pushes none, then the vector number, and jumps to the common
 * path, which saves the general registers as a struct ks_trapframe
 * (trap.h), calls ks_trap(frame) and returns with iretq if ks_trap returns
 * (after an interrupt, an NMI request, or a fixed-up probe fault).
 *
 * Stack: the CPU aligns RSP to 16 before pushing SS..RIP (5 words); with
 * the error code, vector and 15 registers that is 22 words, so RSP is
 * 16-aligned at the call.
 */
	.text
	.code64

.macro ISR_NOERR vec
	.p2align 4
isr\vec:
	pushq $0
	pushq $\vec
	jmp isr_common
.endm

.macro ISR_ERR vec
	.p2align 4
isr\vec:
	pushq $\vec
	jmp isr_common
.endm

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

/* Vectors 32-255: interrupts, no error code. */
	.altmacro
.macro ISR_IRQ vec
	ISR_NOERR %vec
.endm
	.set vec, 32
	.rept 224
	ISR_IRQ vec
	.set vec, vec + 1
	.endr
	.noaltmacro

	.p2align 4
isr_common:
	cld
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
	movq %rsp, %rdi
	call ks_trap@PLT
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp          /* vector, error code */
	iretq

/* Table of the 256 entry points, read by ks_idt_init() (trap.c).  Stored
 * as offsets from the table itself, in .text next to the stubs, so the
 * assembler resolves them and the image needs no relocations for them. */
	.p2align 3
	.globl ks_isr_offsets
	.hidden ks_isr_offsets
ks_isr_offsets:
	.altmacro
.macro ISR_OFF vec
	.quad isr\vec - ks_isr_offsets
.endm
.macro ISR_OFF_EXPR vec
	ISR_OFF %vec
.endm
	.set vec, 0
	.rept 256
	ISR_OFF_EXPR vec
	.set vec, vec + 1
	.endr
	.noaltmacro

	.section .note.GNU-stack,"",@progbits
