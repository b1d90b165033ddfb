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
#include "tests/host/support.h"

int heap_fixture_setup(void **state)
{
	static bool done;
	(void)state;
	if (!done) {
		struct kspan_config cfg = { .arena_bytes = TEST_ARENA_BYTES,
		                            .scavenge_threshold = 8u << 20,
		                            .seed = ks_test_seed() };
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
