/*
 * Declarations shared by the C files of the mb2 example kernel (everything
 * except the console, which has console.h).  The kernel is single-CPU and
 * runs with interrupts disabled; only CPU exceptions are handled.
 */
#ifndef MB2_KERNEL_H
#define MB2_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/memmap.h>

/* ---- linker symbols (linker.ld.S, boot.S) ---- */
extern char __kernel_phys_start[], __kernel_phys_end[];
extern char boot_stack_guard[], boot_stack_bottom[], boot_stack_top[];

/* ---- idt.c: exceptions ---- */
struct trapframe {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;     /* pushed by the CPU */
};
void idt_init(void);
__attribute__((noreturn)) void exception_handler(struct trapframe *tf);

/* ---- mb2info.c: the Multiboot2 boot information ---- */
#define MB2_BOOT_MAGIC 0x36d76289u
/* Check the magic and the info block's framing; panics on anything wrong.
 * Returns the block's total size in bytes. */
uint32_t mb2_check(uint32_t magic, uint64_t info_phys);
/* The command line GRUB passed ("" if none). */
const char *mb2_cmdline(uint64_t info_phys);
/* Append the firmware memory map to out[*n..cap) as ks_memrange entries
 * (type 1 usable, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad, other reserved).
 * Panics if there is no memory map tag or it does not fit. */
void mb2_memmap(uint64_t info_phys, struct ks_memrange *out, size_t *n,
                size_t cap);

/* ---- paging.c: the kernel's page tables ---- */
/* Physical memory below IDENTITY_TOP as a pointer; panics above it. */
void *phys_to_virt(uint64_t phys);
/* Map one 4 KiB page va -> pa (writable, kernel only).  Intermediate tables
 * come from the frame map and start zeroed.  Returns 0, or -1 if no frame
 * was left for a table.  Panics if va is already mapped. */
int pg_map(uintptr_t va, uint64_t pa);
/* Unmap one 4 KiB page and flush it; returns the frame that was mapped, or
 * 0 if the page was not mapped. */
uint64_t pg_unmap(uintptr_t va);
/* The frame mapped at va (4 KiB mappings only), 0 if none. */
uint64_t pg_lookup(uintptr_t va);
/* Page-table frames taken from the frame map so far. */
uint64_t pg_table_frames(void);

/* ---- platform.c: the kspan hooks' own bookkeeping ---- */
/* Bytes currently committed in the heap window. */
uint64_t plat_committed_bytes(void);

/* ---- smoke.c ---- */
/* Run the allocator smoke test, printing TAP lines; returns failures. */
int smoke_run(void);

/* ---- failtest.c: checks that must end the run with an error ---- */
/* Run the deliberate-failure test named by the command line; returns
 * only if name is unknown. */
void failtest_run(const char *name);

/* ---- libc.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
