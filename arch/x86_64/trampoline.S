/*
 * AP start-up trampoline: real mode -> protected mode -> long mode -> the
 * kernel.
 *
 * smp_boot.c copies ks_trampoline_start..ks_trampoline_end to the first frame
 * of the low reservation (trampoline.h) and sends the AP a SIPI with that
 * frame's number, so the AP starts here in real mode with CS = frame >> 4,
 * IP = 0.  Nothing below may refer to an absolute kernel address: the code
 * runs from the copy, at a base only known at run time.  Real-mode and
 * 32-bit code address the data block relative to the base (DS = CS, then
 * EBX = base), and the far pointers and GDTR base in the data block are
 * stored as offsets that smp_boot.c turns into addresses by adding the base.
 *
 *   16-bit: cli; EBX = base; load the temporary GDT; CR0.PE on (CD and NW,
 *           which INIT sets, off); far jump to 32-bit code.
 *   32-bit: flat data segments; CR4.PAE; CR3 = temporary tables (below
 *           1 MiB, identity-mapping the first 2 MiB); EFER.LME (+ NXE if
 *           the boot CPU has it); CR0.PG; far jump to 64-bit code.
 *   64-bit: CR3 = the kernel's tables (identity map, kernel image, stacks).
 *           Claim the trampoline: lock cmpxchg KS_TR_CLAIM from this CPU's
 *           APIC id to KS_TR_CLAIM_TAKEN.  A CPU whose id is not the one
 *           smp_boot.c is waiting for -- one that woke too late, after smp_boot.c
 *           gave up on it -- fails the claim and halts here for good,
 *           before it reads the stack or per-CPU pointers, which may
 *           already belong to the next CPU.  The winner loads its stack
 *           and jumps to entry(percpu) with a zero frame pointer.
 *
 * Runs on one AP at a time (the claim); no stack until the last step.
 */
#include "arch/x86_64/trampoline.h"

	.section .text.trampoline, "ax"
	.globl ks_trampoline_start, ks_trampoline_end
	.hidden ks_trampoline_start, ks_trampoline_end

	.code16
ks_trampoline_start:
.Ltr_base:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	xorl %ebx, %ebx
	movw %ax, %bx
	shll $4, %ebx                   /* EBX = linear base of the copy */
	lgdtl KS_TR_GDTR
	movl %cr0, %eax
	andl $0x9fffffff, %eax          /* caches on: clear CD (30), NW (29) */
	orl $1, %eax                    /* PE */
	movl %eax, %cr0
	ljmpl *KS_TR_FAR32

	.code32
tr_pm32:
	movw $KS_TR_SEL_DATA32, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl KS_TR_TEMP_CR3(%ebx), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $0x100, %eax                /* LME */
	orl KS_TR_EFER(%ebx), %eax      /* NXE as on the boot CPU */
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax           /* PG */
	movl %eax, %cr0
	ljmpl *KS_TR_FAR64(%ebx)

	.code64
tr_lm64:
	movl %ebx, %ebx                 /* zero-extend the base */
	movq KS_TR_CR3(%rbx), %rax
	movq %rax, %cr3

	/* This CPU's APIC id: CPUID leaf 0xb (x2APIC id) when the leaf
	 * exists and is valid, else leaf 1 EBX[31:24]. */
	xorl %eax, %eax
	cpuid
	cmpl $0xb, %eax
	jb 1f
	movl $0xb, %eax
	xorl %ecx, %ecx
	cpuid
	testl %ebx, %ebx
	jz 1f
	movl %edx, %esi
	jmp 2f
1:	movl $1, %eax
	cpuid
	shrl $24, %ebx
	movl %ebx, %esi
2:	/* cpuid clobbered EBX: get the base back from the return target. */
	leaq .Ltr_base(%rip), %rbx

	movl %esi, %eax
	movl $KS_TR_CLAIM_TAKEN, %edx
	lock cmpxchgl %edx, KS_TR_CLAIM(%rbx)
	jne tr_halt

	movq KS_TR_STACK(%rbx), %rsp
	movq KS_TR_PERCPU(%rbx), %rdi
	movq KS_TR_ENTRY(%rbx), %rax
	xorl %ebp, %ebp
	pushq $0                        /* no return address: backtraces end */
	jmpq *%rax

tr_halt:
	cli
	hlt
	jmp tr_halt

	/* The data block; smp_boot.c fills what is zero here and adds the base
	 * to the offsets. */
	.org KS_TR_DATA
	.word 4 * 8 - 1                 /* KS_TR_GDTR: limit */
	.long KS_TR_GDT                 /*   base (offset) */
	.org KS_TR_FAR32
	.long tr_pm32 - ks_trampoline_start
	.word KS_TR_SEL_CODE32
	.org KS_TR_FAR64
	.long tr_lm64 - ks_trampoline_start
	.word KS_TR_SEL_CODE64
	.org KS_TR_CLAIM
	.long KS_TR_CLAIM_NONE
	.org KS_TR_GDT
	.quad 0
	.quad 0x00cf9a000000ffff        /* 32-bit code, flat */
	.quad 0x00cf92000000ffff        /* 32-bit data, flat */
	.quad 0x00209a0000000000        /* 64-bit code */
ks_trampoline_end:

	.section .note.GNU-stack,"",@progbits
