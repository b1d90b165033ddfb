/*
 * The kernel's per-CPU GDT and TSS (see gdt.c).
 */
#ifndef KSPAN_ARCH_X86_64_GDT_H
#define KSPAN_ARCH_X86_64_GDT_H

#include <stdint.h>

#define KS_SEL_KCODE 0x08
#define KS_SEL_KDATA 0x10
#define KS_SEL_TSS   0x18

/* Interrupt stack table slots (1-based, as in the IDT gate). */
#define KS_IST_DOUBLE_FAULT 1
#define KS_IST_NMI          2
#define KS_IST_MACHINE_CHECK 3

struct ks_percpu;

/* Boot CPU: build the GDT and TSS in ks_percpu_area[0] with the static IST
 * stacks, load them and reload every segment register.  GS base is not
 * set: install it afterwards (percpu.h). */
void ks_gdt_init(void);

/* Any CPU: the same with its own ks_percpu and IST stack tops (double
 * fault, NMI, machine check). */
void ks_gdt_load_cpu(struct ks_percpu *pc, const uint64_t ist_top[3]);

#endif
