/*
 * kprintf: the kernel console.  Formats with <kspan/fmt.h>'s ks_vsnprintf into a
 * stack buffer (longer output is cut and marked with "...") and writes the
 * whole message with one ks_plat_write call, which holds the console lock,
 * so lines from different CPUs do not interleave.
 */
#include "kernel.h"

#include <stdarg.h>
#include <kspan/platform.h>
#include "lib/fmt.h"

#define KPRINTF_MAX 1024

void kprintf(const char *fmt, ...)
{
	char buf[KPRINTF_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = ks_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = (int)sizeof(buf) - 1;
		buf[n - 4] = '.';
		buf[n - 3] = '.';
		buf[n - 2] = '.';
		buf[n - 1] = '\n';
	}
	ks_plat_write(buf, (size_t)n);
}
