/*
 * Shared set-up for host suites that exercise the heap: one kspan_init per
 * test binary (the arena is reserved once per process), and helpers that
 * check the heap came back to where it started.
 */
#ifndef KSPAN_TESTS_HOST_HEAP_FIXTURE_H
#define KSPAN_TESTS_HOST_HEAP_FIXTURE_H

#include <stdint.h>
#include <kspan/kmalloc.h>

#define TEST_ARENA_BYTES ((size_t)1 << 30)

/* cmocka group setup: kspan_init with a 1 GiB arena (once). */
int heap_fixture_setup(void **state);

/* Drain this CPU's cache, run kspan_check, and return the free pages. */
uint64_t heap_free_pages(void);

/* fill_pattern / check_pattern */
#include "tests/common/pattern.h"

#endif
