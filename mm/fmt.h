/*
 * A small freestanding formatter (no libc): %d %i %u %x %X %p %s %c %%, with
 * flags '-', '0', a width, and the length modifiers l, ll, z.  Used by mm/
 * for its panic and statistics messages and by kspan's kernel console.
 */
#ifndef KSPAN_MM_FMT_H
#define KSPAN_MM_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Like vsnprintf: writes at most cap-1 characters and a NUL, returns the
 * length the full output would have had. */
int ks_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);
int ks_snprintf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Format into a 512-byte buffer and hand it to write (which must not
 * allocate): for consoles that bypass ks_plat_write, such as a fault
 * handler writing straight to a serial port. */
void ks_vprint_to(void (*write)(const char *s, size_t n), const char *fmt,
                  va_list ap);

/* Format and write through ks_plat_write (at most 512 bytes per call). */
void ks_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Format and stop through ks_plat_abort. */
__attribute__((noreturn)) void ks_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
