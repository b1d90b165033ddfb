/*
 * GDT and TSS, one pair per CPU, kept in the CPU's struct ks_percpu.
 *
 * Layout: null, 64-bit kernel code (0x08), kernel data (0x10), and the
 * 16-byte TSS descriptor (0x18).  The TSS exists only for its interrupt
 * stack table: double fault, NMI and machine check run on their own stacks
 * so that a kernel-stack overflow (a page fault on the guard page that
 * cannot push its frame) still reaches the exception report instead of
 * triple-faulting, and so that an NMI (smp_call.c's TLB shootdown, halt and kicks)
 * never runs on a stack it interrupted.  The boot CPU's IST stacks are
 * static; an AP's come from smp_boot.c.  Replaces the firmware's GDT, which
 * lives in boot-services memory.
 *
 * Each CPU writes and loads only its own tables (the boot CPU before the
 * others start); no locks.
 */
#include "gdt.h"

#include <stdint.h>
#include "cpu.h"
#include "percpu.h"

#define BSP_IST_STACK_SIZE 16384

static uint8_t bsp_ist_stacks[3][BSP_IST_STACK_SIZE] __attribute__((aligned(16)));

void ks_gdt_load_cpu(struct ks_percpu *pc, const uint64_t ist_top[3])
{
	uint64_t *gdt = pc->gdt;
	struct ks_tss64 *tss = &pc->tss;

	/* Code: present, DPL 0, code, execute/read, L=1.  Data: present,
	 * writable.  Base and limit are ignored in long mode. */
	gdt[0] = 0;
	gdt[1] = 0x00209a0000000000ull;
	gdt[2] = 0x0000920000000000ull;

	__builtin_memset(tss, 0, sizeof(*tss));
	for (int i = 0; i < 3; i++)
		tss->ist[i] = ist_top[i];
	tss->iomap_base = sizeof(*tss);         /* no I/O permission map */

	uint64_t base = (uint64_t)(uintptr_t)tss;
	uint64_t limit = sizeof(*tss) - 1;
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	         (0x89ull << 40) |                 /* present, 64-bit TSS */
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;

	struct ks_dtr d = { 5 * sizeof(uint64_t) - 1, (uint64_t)(uintptr_t)gdt };
	lgdt(&d);
	/* Loading a null selector into GS may clear the GS base (it does on
	 * AMD and under QEMU): the caller installs GS afterwards. */
	__asm__ volatile(
		"pushq %[cs]\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %[ds], %%ax\n\t"
		"movw %%ax, %%ds\n\t"
		"movw %%ax, %%es\n\t"
		"movw %%ax, %%ss\n\t"
		"xorl %%eax, %%eax\n\t"
		"movw %%ax, %%fs\n\t"
		"movw %%ax, %%gs\n\t"
		:
		: [cs] "i"(KS_SEL_KCODE), [ds] "i"(KS_SEL_KDATA)
		: "rax", "memory");
	ltr(KS_SEL_TSS);
}

void ks_gdt_init(void)
{
	uint64_t top[3];
	for (int i = 0; i < 3; i++)
		top[i] = (uint64_t)(uintptr_t)&bsp_ist_stacks[i][BSP_IST_STACK_SIZE];
	ks_gdt_load_cpu(&ks_percpu_area[0], top);
}
