/*
 * Leaving QEMU with a status through the isa-debug-exit device
 * (-device isa-debug-exit,iobase=0xf4,iosize=0x04): writing V to port 0xf4
 * makes QEMU exit with status (V << 1) | 1.  scripts/run-qemu.sh maps the
 * two codes back: KS_QEMU_EXIT_PASS -> 33, KS_QEMU_EXIT_FAIL -> 35.
 */
#ifndef KSPAN_ARCH_X86_64_QEMU_EXIT_H
#define KSPAN_ARCH_X86_64_QEMU_EXIT_H

#define KS_QEMU_EXIT_PORT 0xf4
#define KS_QEMU_EXIT_PASS 0x10 /* QEMU status 33 */
#define KS_QEMU_EXIT_FAIL 0x11 /* QEMU status 35 */

/* Exit QEMU with pass (ok != 0) or fail status.  Without the device (real
 * hardware) the CPU halts with interrupts off.  Never returns. */
__attribute__((noreturn)) void ks_qemu_exit(int ok);

#endif
