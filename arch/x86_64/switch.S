/*
 * void ks_arch_enter(uint64_t cr3, uint64_t stack_top,
 *                    void (*fn)(void *), void *arg)
 *
 * Switch to the page tables at cr3 and the stack ending at stack_top
 * (16-aligned), then call fn(arg) as if called from here, with a zero frame
 * pointer so backtraces stop there.  fn must not return; if it does, the
 * CPU halts.  Interrupts must be off.
 */
	.text
	.code64
	.globl ks_arch_enter
ks_arch_enter:
	movq %rdi, %cr3
	movq %rsi, %rsp
	xorl %ebp, %ebp
	movq %rcx, %rdi
	leaq 1f(%rip), %rax
	pushq %rax
	jmpq *%rdx
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack,"",@progbits
