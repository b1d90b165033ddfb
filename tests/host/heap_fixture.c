/*
 * Heap fixture for host suites (see heap_fixture.h).
 */
#include "tests/host/heap_fixture.h"

#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "arch/host/platform.h"

int heap_fixture_setup(void **state)
{
	static bool done;
	(void)state;
	if (!done) {
		struct kspan_config cfg = { .arena_bytes = TEST_ARENA_BYTES,
		                            .scavenge_threshold = 8u << 20 };
		if (kspan_init(&cfg) != 0)
			return -1;
		ks_host_set_thread_exit_hook(kspan_drain_cpu);
		done = true;
	}
	return 0;
}

uint64_t heap_free_pages(void)
{
	struct kspan_heap_stats hs;
	kspan_drain_cpu();
	kspan_check();
	kspan_heap_stats(&hs);
	return hs.pages_free;
}

/* The byte at offset i of an object filled with seed: position-independent,
 * so contents can be checked after krealloc moves them; seeds differ per
 * object, so overlapping objects show. */
static unsigned char pattern_byte(size_t i, uint64_t seed)
{
	uint64_t x = ((uint64_t)(i >> 3) + seed) * 0x9E3779B97F4A7C15ull;
	return (unsigned char)((x ^ (x >> 29)) >> (8 * (i & 7)));
}

void fill_pattern(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = pattern_byte(i, seed);
}

int check_pattern(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern_byte(i, seed))
			return 0;
	return 1;
}
