/*
 * The mb2 example kernel's console: COM1 at 115200 8N1, and a small
 * printf (the kernel's own; kspan's formatter in mm/ is internal to the
 * library).  Output is polled and never allocates, so it is safe inside
 * ks_plat_write, exception handlers and panics.
 */
#ifndef MB2_CONSOLE_H
#define MB2_CONSOLE_H

#include <stddef.h>
#include <stdarg.h>

void serial_init(void);
/* Write n bytes; "\n" goes out as "\r\n". */
void serial_write(const char *s, size_t n);

/* %s %c %d %u %x %p with flags '-' '0', a width, and l/ll/z modifiers. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);

/* Print "PANIC: <message>" and leave QEMU with the failure status. */
__attribute__((noreturn)) void kpanic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
