/*
 * Multiboot2 header and the 32-bit entry of the mb2 example kernel.
 *
 * GRUB loads the ELF at its physical addresses and jumps to _start in
 * 32-bit protected mode, paging off, EAX = Multiboot2 magic, EBX = physical
 * address of the boot information.  This file, running at its load address
 * (the .boot* sections have VMA == LMA), builds the early page tables:
 *
 *   PML4[0]   -> identity map of [0, 4 GiB) with 2 MiB pages, except the
 *                first 2 MiB which use 4 KiB pages with page 0 absent (so a
 *                NULL dereference faults instead of reading the IVT);
 *   PML4[511] -> PDPT[510..511] share the first two page directories, so
 *                0xffffffff80000000 + phys maps phys for phys < 2 GiB: the
 *                kernel, linked there with -mcmodel=kernel.
 *
 * It then enables PAE, long mode (EFER.LME), paging with write protection,
 * loads the kernel's GDT (idt.c fills in its TSS slot later), far-jumps
 * into 64-bit code, switches to the higher-half kernel stack, clears .bss
 * and calls kmain(magic, info_phys).  A CPU without long mode gets a
 * message on COM1 and a failing QEMU exit instead of a silent hang.
 *
 * Invariant: everything this file touches before the jump to the higher
 * half lives in .boot* (low addresses); the page tables stay in use for the
 * life of the kernel (examples/mb2/paging.c extends them) and lie inside the
 * image, which kmain marks KS_MEM_KERNEL.
 */
#include "layout.h"

#define MB2_MAGIC   0xe85250d6
#define MB2_ARCH    0               /* i386 protected mode */
#define PTE_P       0x1
#define PTE_W       0x2
#define PTE_PS      0x80

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH
	.long mb2_header_end - mb2_header
	.long 0x100000000 - (MB2_MAGIC + MB2_ARCH + (mb2_header_end - mb2_header))
	/* information request: memory map (6) is required */
	.balign 8
mb2_tag_info:
	.short 1, 0
	.long mb2_tag_info_end - mb2_tag_info
	.long 6
mb2_tag_info_end:
	/* end tag */
	.balign 8
	.short 0, 0
	.long 8
mb2_header_end:

	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl $boot_stack32_top, %esp
	movl %eax, %edi                 /* Multiboot2 magic, for kmain */
	movl %ebx, %esi                 /* boot information (physical) */

	/* Long mode present?  CPUID 0x80000001 EDX bit 29. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz no_long_mode

	/* Clear every early table (8 pages, contiguous). */
	pushl %edi
	movl $boot_tables, %edi
	xorl %eax, %eax
	movl $((boot_tables_end - boot_tables) / 4), %ecx
	rep stosl
	popl %edi

	/* PML4 */
	movl $(boot_pdpt_low + PTE_P + PTE_W), boot_pml4
	movl $(boot_pdpt_high + PTE_P + PTE_W), boot_pml4 + 511 * 8

	/* Identity PDPT: IDENTITY_PDS directories of 1 GiB each. */
	movl $(boot_pd + PTE_P + PTE_W), %eax
	movl $boot_pdpt_low, %ebx
	movl $IDENTITY_PDS, %ecx
1:	movl %eax, (%ebx)
	addl $4096, %eax
	addl $8, %ebx
	loop 1b

	/* Higher half: the top 2 GiB reuse the first two directories. */
	movl $(boot_pd + PTE_P + PTE_W), boot_pdpt_high + 510 * 8
	movl $(boot_pd + 4096 + PTE_P + PTE_W), boot_pdpt_high + 511 * 8

	/* 2 MiB pages: entry i maps i << 21 (high dword i >> 11). */
	movl $boot_pd, %ebx
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $(PTE_P + PTE_W + PTE_PS), %eax
	movl %eax, (%ebx, %ecx, 8)
	movl %ecx, %edx
	shrl $11, %edx
	movl %edx, 4(%ebx, %ecx, 8)
	incl %ecx
	cmpl $(IDENTITY_PDS * 512), %ecx
	jb 2b

	/* The first 2 MiB in 4 KiB pages, page 0 left absent. */
	movl $boot_pt_low, %ebx
	movl $1, %ecx
3:	movl %ecx, %eax
	shll $12, %eax
	orl $(PTE_P + PTE_W), %eax
	movl %eax, (%ebx, %ecx, 8)
	incl %ecx
	cmpl $512, %ecx
	jb 3b
	movl $(boot_pt_low + PTE_P + PTE_W), boot_pd

	/* PAE, then the tables, then long mode, then paging (+ WP). */
	movl %cr4, %eax
	orl $(1 << 5), %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $(1 << 8), %eax             /* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax           /* PG | WP | PE */
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode_entry

no_long_mode:
	movl $no_lm_msg, %esi
4:	movb (%esi), %al
	testb %al, %al
	jz 6f
	movb %al, %bl
	movw $0x3fd, %dx                /* COM1 line status */
5:	inb %dx, %al
	testb $0x20, %al
	jz 5b
	movw $0x3f8, %dx
	movb %bl, %al
	outb %al, %dx
	incl %esi
	jmp 4b
6:	movw $QEMU_EXIT_PORT, %dx
	movl $QEMU_EXIT_FAIL, %eax
	outl %eax, %dx
7:	hlt
	jmp 7b

	.code64
long_mode_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $kernel_high_entry, %rax
	jmp *%rax

	/* The GDT for the life of the kernel (reached through the identity
	 * map): idt.c fills in the TSS descriptor and loads it. */
	.section .boot.data, "aw"
	.balign 16
	.globl boot_gdt
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0, 0                      /* 0x18: 64-bit TSS (16 bytes) */
boot_gdt_end:
	.balign 8
boot_gdt_ptr:
	.short boot_gdt_end - boot_gdt - 1
	.quad boot_gdt
no_lm_msg:
	.asciz "mb2: this CPU has no long mode (x86_64); cannot boot\r\n"

	.section .boot.bss, "aw", @nobits
	.balign 4096
boot_tables:
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * IDENTITY_PDS
boot_pt_low:    .skip 4096
boot_tables_end:
	.balign 16
boot_stack32:   .skip 1024
boot_stack32_top:

	/* ---- 64-bit, higher half ---------------------------------------- */
	.text
	.code64
kernel_high_entry:
	movl %edi, %r12d                /* magic */
	movl %esi, %r13d                /* info (zero-extended) */
	movabsq $__bss_start, %rdi
	movabsq $__bss_end, %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	movl %r12d, %edi
	movq %r13, %rsi
	call kmain
8:	cli
	hlt
	jmp 8b

	/* The kernel stack, with a guard page below it that kmain unmaps. */
	.bss
	.balign 4096
	.globl boot_stack_guard, boot_stack_bottom, boot_stack_top
boot_stack_guard:
	.skip 4096
boot_stack_bottom:
	.skip BOOT_STACK_SIZE
boot_stack_top:

	/* No executable stack. */
	.section .note.GNU-stack, "", @progbits
