/*
 * The kernel's GDT and TSS (see gdt.c).
 */
#ifndef KSPAN_ARCH_X86_64_GDT_H
#define KSPAN_ARCH_X86_64_GDT_H

#define KS_SEL_KCODE 0x08
#define KS_SEL_KDATA 0x10
#define KS_SEL_TSS   0x18

/* Interrupt stack table slots (1-based, as in the IDT gate). */
#define KS_IST_DOUBLE_FAULT 1
#define KS_IST_NMI          2
#define KS_IST_MACHINE_CHECK 3

/* Load the GDT, reload every segment register, load the TSS. */
void ks_gdt_init(void);

#endif
