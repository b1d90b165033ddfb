/*
 * Address-space layout of the mb2 example kernel, shared by the assembly,
 * the linker script and C.
 *
 *   [0, 4 GiB)                  identity map (2 MiB pages; the first 2 MiB in
 *                               4 KiB pages with page 0 absent, so NULL
 *                               faults).  Physical memory, page tables and
 *                               the Multiboot2 info are reached through it.
 *   KERNEL_VMA + phys           the kernel image: linked at 0xffffffff80000000
 *                               + its load address (-mcmodel=kernel); the top
 *                               2 GiB map physical [0, 2 GiB).
 *   [HEAP_WINDOW_BASE, +512 GiB) one PML4 slot handed out by ks_plat_reserve
 *                               and backed page by page by ks_plat_commit.
 *
 * Only plain numbers here: this file is included from .S and .ld too.
 */
#ifndef MB2_LAYOUT_H
#define MB2_LAYOUT_H

#define KERNEL_VMA        0xffffffff80000000
#define KERNEL_LOAD       0x100000           /* physical load address: 1 MiB */
#define IDENTITY_TOP      0x100000000        /* identity map covers [0, 4 GiB) */
#define IDENTITY_PDS      4                  /* page directories for it */
#define HEAP_WINDOW_BASE  0xffff900000000000 /* PML4 slot 288 */
#define HEAP_WINDOW_SIZE  0x8000000000       /* 512 GiB: one PML4 slot */
#define BOOT_STACK_SIZE   0x10000            /* 64 KiB kernel stack */

/* isa-debug-exit: QEMU exits with status (value << 1) | 1. */
#define QEMU_EXIT_PORT    0xf4
#define QEMU_EXIT_PASS    0x10               /* status 33 */
#define QEMU_EXIT_FAIL    0x11               /* status 35 */

#endif
