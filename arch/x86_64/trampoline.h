/*
 * Layout of the AP start-up trampoline (trampoline.S), shared by the
 * assembly and smp_boot.c, which copies it into the low frames boot/ reserved
 * and fills in its data block.
 *
 * The reservation is KS_TR_FRAMES frames below 1 MiB:
 *   frame 0   code (from offset 0, where SIPI starts the CPU) and, at
 *             KS_TR_DATA, the data block below;
 *   frame 1-3 temporary page tables (PML4, PDPT, PD) identity-mapping the
 *             first 2 MiB, so the AP can enter long mode with a CR3 below
 *             4 GiB before it loads the kernel's own CR3 (which may be
 *             anywhere).
 */
#ifndef KSPAN_ARCH_X86_64_TRAMPOLINE_H
#define KSPAN_ARCH_X86_64_TRAMPOLINE_H

#define KS_TR_FRAMES     4
#define KS_TR_DATA       0xe00

/* Data block fields (offsets from the trampoline's start). */
#define KS_TR_GDTR       (KS_TR_DATA + 0x00) /* u16 limit, u32 base (+base) */
#define KS_TR_FAR32      (KS_TR_DATA + 0x08) /* u32 offset (+base), u16 sel */
#define KS_TR_FAR64      (KS_TR_DATA + 0x10) /* u32 offset (+base), u16 sel */
#define KS_TR_TEMP_CR3   (KS_TR_DATA + 0x18) /* u32: frame 1's address */
#define KS_TR_EFER       (KS_TR_DATA + 0x1c) /* u32: EFER bits to set (NXE) */
#define KS_TR_CR3        (KS_TR_DATA + 0x20) /* u64: the kernel's CR3 */
#define KS_TR_STACK      (KS_TR_DATA + 0x28) /* u64: stack top */
#define KS_TR_PERCPU     (KS_TR_DATA + 0x30) /* u64: struct ks_percpu * */
#define KS_TR_ENTRY      (KS_TR_DATA + 0x38) /* u64: void entry(percpu) */
#define KS_TR_CLAIM      (KS_TR_DATA + 0x40) /* u32: APIC id allowed in */
#define KS_TR_GDT        (KS_TR_DATA + 0x80) /* 4 descriptors */

#define KS_TR_CLAIM_NONE   0xffffffffu       /* nobody may enter */
#define KS_TR_CLAIM_TAKEN  0xfffffffeu       /* the expected AP entered */

/* Temporary GDT selectors. */
#define KS_TR_SEL_CODE32 0x08
#define KS_TR_SEL_DATA32 0x10
#define KS_TR_SEL_CODE64 0x18

#endif
