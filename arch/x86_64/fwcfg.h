/*
 * QEMU's firmware configuration device (fw_cfg), read-only: lets the runner
 * pass small named values to the kernel (-fw_cfg name=opt/...,string=...).
 * See fwcfg.c.
 */
#ifndef KSPAN_ARCH_X86_64_FWCFG_H
#define KSPAN_ARCH_X86_64_FWCFG_H

#include <stddef.h>
#include <stdint.h>

/* Copy the file called name (at most cap - 1 bytes, NUL-ended) into buf.
 * Returns its full size, or -1 if there is no fw_cfg device or no such
 * file. */
long ks_fwcfg_read(const char *name, char *buf, size_t cap);

/* The file called name as a decimal number: 0 and *out set, or -1 (no such
 * file, or not a number). */
int ks_fwcfg_uint(const char *name, uint64_t *out);

#endif
