/*
 * kspan's kernel: entry point and the services the rest of kernel/ shares
 * (console, panic, the boot info).  See main.c for the boot sequence.
 */
#ifndef KSPAN_KERNEL_KERNEL_H
#define KSPAN_KERNEL_KERNEL_H

#include <stdint.h>
#include "boot/bootinfo.h"

/* Entered from boot/ on the kernel's stack and page tables, interrupts off.
 * Never returns: ends QEMU with the self-tests' verdict. */
__attribute__((noreturn)) void kmain(const struct ks_bootinfo *bi);

/* The boot info kmain was given (NULL before kmain). */
const struct ks_bootinfo *ks_kernel_bootinfo(void);

/* Formatted console output (include/kspan/fmt.h conversions), whole lines atomic. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "kspan: panic: <message>" with a backtrace and end the run with
 * the failure status. */
__attribute__((noreturn)) void kpanic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The heap's boot hook, called by kmain after the frame map and the page
 * source are up and before the self-tests run.  main.c has a weak default
 * that only says no heap is linked; the heap's kernel glue defines the real
 * one.  (A weak *definition*, not a weak undefined reference: the latter
 * would need a dynamic relocation GNU-EFI's _relocate cannot apply.) */
void ks_kernel_heap_init(const struct ks_bootinfo *bi);

/* The SMP scaling benchmark (tests/kernel/bench_smp.c), run by kmain after
 * the self-tests when the runner asks for it (fw_cfg opt/kspan/bench=1,
 * make run); a weak default in main.c says none is linked. */
void ks_bench_smp(void);

#endif
