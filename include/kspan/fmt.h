/*
 * kspan's freestanding formatter (no libc), public so that a kernel that
 * links libkspan.a need not carry a printf of its own: %d %i %u %x %X %p
 * %s %c %%, with the flags '-' and '0', a width, and the length modifiers
 * l, ll and z.  An unknown conversion is copied out as it stands.  Every
 * function here is safe with interrupts off and allocates nothing.
 */
#ifndef KSPAN_FMT_H
#define KSPAN_FMT_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Like vsnprintf: writes at most cap-1 characters and a NUL, returns the
 * length the full output would have had. */
int ks_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);
int ks_snprintf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Format into a 512-byte buffer and hand it to write (which must not
 * allocate): for a console of the kernel's own, or a fault handler writing
 * straight to a serial port. */
void ks_vprint_to(void (*write)(const char *s, size_t n), const char *fmt,
                  va_list ap);

/* Format and write through ks_plat_write (at most 512 bytes per call). */
void ks_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
