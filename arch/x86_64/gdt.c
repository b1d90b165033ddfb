/*
 * GDT and TSS for the boot CPU.
 *
 * Layout: null, 64-bit kernel code (0x08), kernel data (0x10), and the
 * 16-byte TSS descriptor (0x18).  The TSS exists only for its interrupt
 * stack table: double fault, NMI and machine check run on their own stacks
 * so that a kernel-stack overflow (a page fault on the guard frame that
 * cannot push its frame) still reaches the exception report instead of
 * triple-faulting.  Replaces the firmware's GDT, which lives in
 * boot-services memory.
 *
 * Written once at boot on one CPU; no locks.  SMP will need one TSS per CPU.
 */
#include "gdt.h"

#include <stdint.h>
#include "cpu.h"

#define IST_STACK_SIZE 16384

struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};

static uint64_t gdt[5] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));

void ks_gdt_init(void)
{
	/* Code: present, DPL 0, code, execute/read, L=1.  Data: present,
	 * writable.  Base and limit are ignored in long mode. */
	gdt[0] = 0;
	gdt[1] = 0x00209a0000000000ull;
	gdt[2] = 0x0000920000000000ull;

	for (int i = 0; i < 3; i++)
		tss.ist[i] = (uint64_t)(uintptr_t)&ist_stacks[i][IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss);           /* no I/O permission map */

	uint64_t base = (uint64_t)(uintptr_t)&tss;
	uint64_t limit = sizeof(tss) - 1;
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	         (0x89ull << 40) |                 /* present, 64-bit TSS */
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;

	struct ks_dtr d = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
	lgdt(&d);
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
