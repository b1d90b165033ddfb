/*
 * What the C files of the mb2 example kernel share.  The kernel is
 * single-CPU and runs with interrupts disabled; only CPU exceptions are
 * handled.  Console output goes through kspan's formatter (ks_printf in
 * <kspan/fmt.h>), which writes through ks_plat_write to COM1.
 */
#ifndef MB2_KERNEL_H
#define MB2_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/memmap.h>

#include "layout.h"

/* ---- linker.ld.in, boot.S ---- */
extern char __kernel_phys_start[], __kernel_phys_end[];
extern char boot_stack_guard[], boot_stack_bottom[], boot_stack_top[];
extern uint64_t boot_gdt[5];    /* null, code 0x08, data 0x10, TSS 0x18 */

/* ---- console.c: COM1, and the two ways a run ends ---- */
void serial_init(void);
/* Write n bytes; "\n" goes out as "\r\n".  Polled: safe anywhere. */
void serial_write(const char *s, size_t n);
/* Leave QEMU with status (code << 1) | 1 (QEMU_EXIT_PASS or _FAIL). */
__attribute__((noreturn)) void qemu_exit(uint32_t code);
/* Print "PANIC: <message>" (kspan's formatter, 511 characters at most)
 * and leave QEMU with the failure status. */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* ---- idt.c: CPU exceptions are reported, then the run stops ---- */
void idt_init(void);

/* ---- mb2info.c: the Multiboot2 boot information ---- */
#define MB2_BOOT_MAGIC 0x36d76289u
/* Check the magic and the info block's framing; panics on anything wrong.
 * Returns the block's total size in bytes. */
uint32_t mb2_check(uint32_t magic, uint64_t info_phys);
/* The command line GRUB passed ("" if none). */
const char *mb2_cmdline(uint64_t info_phys);
/* Append the firmware memory map to out[*n..cap) as ks_memrange entries.
 * Panics if there is no memory map tag or it does not fit. */
void mb2_memmap(uint64_t info_phys, struct ks_memrange *out, size_t *n,
                size_t cap);

/* ---- paging.c: the kernel's page tables ---- */
/* Physical memory below IDENTITY_TOP as a pointer; panics above it. */
void *phys_to_virt(uint64_t phys);
/* Map one 4 KiB page va -> pa (writable, kernel only).  Missing tables come
 * from the frame map, zeroed.  Returns 0, or -1 if no frame was left for a
 * table.  Panics if va is already mapped. */
int pg_map(uintptr_t va, uint64_t pa);
/* Unmap one 4 KiB page and flush it from the TLB; returns the frame that
 * was mapped, or 0 if none was. */
uint64_t pg_unmap(uintptr_t va);
/* The frame mapped at va, 0 if none. */
uint64_t pg_lookup(uintptr_t va);
/* Page-table frames taken from the frame map so far. */
uint64_t pg_table_frames(void);

/* ---- platform.c: the hooks' own bookkeeping ---- */
/* Bytes currently committed in the heap window. */
uint64_t plat_committed_bytes(void);

/* ---- smoke.c: run the allocator smoke test (TAP); returns failures ---- */
int smoke_run(void);

/* ---- failtest.c: run the deliberate failure named by failtest=NAME on
 * the command line; returns only if there is no failtest= ---- */
void failtest_run(const char *cmdline);

/* ---- libc.c: what any freestanding C needs (and libkspan.a uses) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
