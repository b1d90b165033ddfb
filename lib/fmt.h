/*
 * The formatter (include/kspan/fmt.h) plus what only kspan's own layers
 * use: ks_panic, which formats a message and stops through ks_plat_abort.
 */
#ifndef KSPAN_LIB_FMT_H
#define KSPAN_LIB_FMT_H

#include <kspan/fmt.h>

/* Format and stop through ks_plat_abort. */
__attribute__((noreturn)) void ks_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
