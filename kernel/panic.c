/*
 * kpanic: the kernel's fatal error.  Formats the message and hands it to
 * ks_plat_abort (arch/x86_64/platform.c), which prints it with a backtrace
 * and ends the run with the failure status -- the same path mm/'s ks_panic
 * takes, so every fatal error reads "kspan: ..." on the console.
 */
#include "kernel.h"

#include <stdarg.h>
#include <kspan/platform.h>
#include "lib/fmt.h"

void kpanic(const char *fmt, ...)
{
	char buf[512];
	static const char prefix[] = "panic: ";
	size_t p = sizeof(prefix) - 1;
	__builtin_memcpy(buf, prefix, p);
	va_list ap;
	va_start(ap, fmt);
	ks_vsnprintf(buf + p, sizeof(buf) - p, fmt, ap);
	va_end(ap);
	ks_plat_abort(buf);
}
