# Host suites: the very same lib/, phys/ and mm/ sources, built for Linux
# with the host platform (arch/host/platform.c: threads stand in for CPUs,
# mmap for the page source), under cmocka.
#
#   make test-host       every tests/host/test_*.c (ASan + UBSan, internal
#                        assertions) and tests/host/dbg_*.c (the same with
#                        the debug heap), each HOST_ROUNDS times (default 2)
#                        with fresh seeds
#   make test-repeat N=20   the same N times
#   make test-host-tsan  the thread suites (allocator, collector with threads,
#                        parallel mark) under ThreadSanitizer
#
# The suites build fixed configurations, whatever DEBUG= says: assertions
# on, collector on, randomised order on; dbg_* with the debug heap.

HOST_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
HOST_BASE   := -std=gnu11 -g -O1 $(WARN) -Iinclude -I. -fno-omit-frame-pointer
HOST_CFLAGS := $(HOST_BASE) $(HOST_SAN) $(call features,1,0,1,1,1)
HOST_DBG_CFLAGS := $(HOST_BASE) $(HOST_SAN) $(call features,1,1,1,1,1)
# The suites' shared code and everything of kspan they link.
HOST_SUPPORT := tests/host/support.c tests/host/heap_fixture.c arch/host/gcpool.c
HOST_SRCS    := $(KSPAN_SRCS) $(HOST_PLAT_SRCS) $(BOOT_PURE_SRCS) $(HOST_SUPPORT)

HOST_TEST_SRCS := $(sort $(wildcard tests/host/test_*.c))
HOST_DBG_SRCS  := $(sort $(wildcard tests/host/dbg_*.c))

# Three object sets: release heap with assertions, debug heap, TSan.
$(eval $(call objset,host-asan,$(HOST_CC),$(HOST_CFLAGS),$(HOST_SRCS) $(HOST_TEST_SRCS)))
$(eval $(call objset,host-dbgheap,$(HOST_CC),$(HOST_DBG_CFLAGS),$(HOST_SRCS) $(HOST_DBG_SRCS)))
HOST_TSAN_SRCS := tests/host/test_threads.c tests/host/test_gc_threads.c tests/host/test_gc_par.c
$(eval $(call objset,host-tsan,$(HOST_CC),$(HOST_BASE) $(call features,1,0,1,1,1) -fsanitize=thread,$(HOST_SRCS) $(HOST_TSAN_SRCS)))

HOST_TESTS     := $(patsubst tests/host/%.c,$(HOST_TEST_DIR)/%,$(HOST_TEST_SRCS))
HOST_DBG_TESTS := $(patsubst tests/host/%.c,$(HOST_TEST_DIR)/%,$(HOST_DBG_SRCS))
HOST_TSAN_TESTS := $(patsubst tests/host/%.c,$(BUILD)/host-tsan/%,$(HOST_TSAN_SRCS))

# $(call host_link,SET,SUITE.c): the suite's object plus the set's shared
# objects (every object of the set that is not a suite).
host_shared = $(filter-out $(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(HOST_TEST_SRCS) $(HOST_DBG_SRCS)),$($(1)_OBJS))

$(HOST_TESTS): $(HOST_TEST_DIR)/%: $(BUILD)/host-asan/obj/tests/host/%.o $(call host_shared,host-asan)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $^ $(HOST_SAN) -lcmocka -pthread -o $@

$(HOST_DBG_TESTS): $(HOST_TEST_DIR)/%: $(BUILD)/host-dbgheap/obj/tests/host/%.o $(call host_shared,host-dbgheap)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $^ $(HOST_SAN) -lcmocka -pthread -o $@

$(HOST_TSAN_TESTS): $(BUILD)/host-tsan/%: $(BUILD)/host-tsan/obj/tests/host/%.o $(call host_shared,host-tsan)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $^ -fsanitize=thread -lcmocka -pthread -o $@

.PHONY: host-tests test-host test-repeat test-host-tsan
host-tests: $(HOST_TESTS) $(HOST_DBG_TESTS)

# tests/host/run-suites.sh shows a suite's output only when it fails, with
# the command that replays it (KSPAN_TEST_SEED=N).
HOST_ROUNDS ?= 2
test-host: deps host-tests
	$(Q)bash tests/host/run-suites.sh $(HOST_ROUNDS) $(HOST_TESTS) $(HOST_DBG_TESTS)

N ?= 20
test-repeat: deps host-tests
	$(Q)bash tests/host/run-suites.sh $(N) $(HOST_TESTS) $(HOST_DBG_TESTS)

test-host-tsan: deps $(HOST_TSAN_TESTS)
	$(Q)TSAN_OPTIONS=halt_on_error=1 $(BUILD)/host-tsan/test_threads 100000
	$(Q)for t in test_gc_threads test_gc_par; do \
	  TSAN_OPTIONS=halt_on_error=1 $(BUILD)/host-tsan/$$t || exit 1; done
