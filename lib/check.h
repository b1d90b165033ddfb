/*
 * Checks for every layer, named for what they cost (after mimalloc's levels):
 *
 *   KS_CHECK(cond, fmt, ...)   always on.  Cheap checks that catch a caller's
 *                              bug or corrupted state and stop with a message
 *                              naming the address and what was wrong.
 *   KS_ASSERT(cond)            debug builds (KSPAN_DEBUG=1): internal
 *                              invariants on hot paths.
 *
 * Full-structure validators (mheap_check, mcentral_check, mspan_check) are
 * ordinary functions called from tests and kspan_check().
 */
#ifndef KSPAN_LIB_CHECK_H
#define KSPAN_LIB_CHECK_H

#include "lib/config.h"
#include "lib/fmt.h"

#define ks_likely(x)   __builtin_expect(!!(x), 1)
#define ks_unlikely(x) __builtin_expect(!!(x), 0)

#define KS_CHECK(cond, ...)                 \
	do {                                \
		if (ks_unlikely(!(cond)))   \
			ks_panic(__VA_ARGS__); \
	} while (0)

#if KSPAN_DEBUG
#define KS_ASSERT(cond)                                                   \
	do {                                                              \
		if (ks_unlikely(!(cond)))                                 \
			ks_panic("assertion failed: %s (%s:%d)", #cond,   \
			         __FILE__, __LINE__);                     \
	} while (0)
#else
#define KS_ASSERT(cond) ((void)0)
#endif

#endif
