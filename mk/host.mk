# Host build of the same mm/ sources: cmocka test suites under ASan+UBSan.
#
#   make test-host     build and run every tests/host/test_*.c
#
# A suite tests/host/test_X.c links: all of mm/, the host platform
# (arch/host/platform.c), tests/host/support.c, the host-testable pure
# sources other parts declare in HOST_PURE_SRCS (e.g. the UEFI map
# translation), and cmocka.

HOST_CC      ?= clang
HOST_DIR     := $(BUILD)/host
HOST_SAN     ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined
HOST_CFLAGS  := -std=gnu11 -g -O1 $(WARN) -DKSPAN_DEBUG=1 -DKSPAN_DEBUG_HEAP=0 -DKSPAN_RANDOMIZE=1 -Iinclude -I. \
                -fno-omit-frame-pointer $(HOST_SAN) -DKSPAN_HOST=1
HOST_LDFLAGS := $(HOST_SAN) -pthread

HOST_PLAT_SRCS := arch/host/platform.c
HOST_TEST_SUPPORT := $(wildcard tests/host/support.c tests/host/heap_fixture.c)
HOST_TEST_SRCS := $(sort $(wildcard tests/host/test_*.c))
HOST_TESTS     := $(patsubst tests/host/%.c,$(HOST_DIR)/tests/%,$(HOST_TEST_SRCS))

HOST_LIB_SRCS  = $(MM_SRCS) $(HOST_PLAT_SRCS) $(HOST_PURE_SRCS)
HOST_LIB_OBJS  = $(patsubst %.c,$(HOST_DIR)/obj/%.o,$(HOST_LIB_SRCS) $(HOST_TEST_SUPPORT))

# Rebuild everything when the flags change (objects of one binary must
# agree on KSPAN_DEBUG and the sanitizers).
HOST_FLAGS_STAMP := $(HOST_DIR)/.flags-$(shell echo '$(HOST_CC) $(HOST_CFLAGS)' | cksum | cut -d' ' -f1)
$(HOST_FLAGS_STAMP):
	@mkdir -p $(dir $@) && rm -f $(HOST_DIR)/.flags-* && touch $@

$(HOST_DIR)/obj/%.o: %.c $(MM_HDRS) $(wildcard tests/host/*.h tests/common/*.h boot/*.h arch/host/*.h) $(HOST_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

# Second expansion: other mk files (read later) add to HOST_PURE_SRCS.
.SECONDEXPANSION:
$(HOST_DIR)/tests/test_%: tests/host/test_%.c $$(HOST_LIB_OBJS) $(MM_HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) $< $(HOST_LIB_OBJS) -lcmocka $(HOST_LDFLAGS) -o $@

# The debug heap (red zones, poison): tests/host/dbg_*.c link a second
# build of mm/ with KSPAN_DEBUG_HEAP=1.
HOST_DBG_DIR   := $(BUILD)/host-dbgheap
HOST_DBG_SRCS  := $(sort $(wildcard tests/host/dbg_*.c))
HOST_DBG_TESTS := $(patsubst tests/host/%.c,$(HOST_DIR)/tests/%,$(HOST_DBG_SRCS))
HOST_DBG_OBJS   = $(patsubst %.c,$(HOST_DBG_DIR)/obj/%.o,$(HOST_LIB_SRCS) $(HOST_TEST_SUPPORT))

$(HOST_DBG_DIR)/obj/%.o: %.c $(MM_HDRS) $(wildcard tests/host/*.h tests/common/*.h boot/*.h arch/host/*.h) $(HOST_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(filter-out -DKSPAN_DEBUG_HEAP=0,$(HOST_CFLAGS)) -DKSPAN_DEBUG_HEAP=1 -c $< -o $@

$(HOST_DIR)/tests/dbg_%: tests/host/dbg_%.c $$(HOST_DBG_OBJS) $(MM_HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(filter-out -DKSPAN_DEBUG_HEAP=0,$(HOST_CFLAGS)) -DKSPAN_DEBUG_HEAP=1 $< $(HOST_DBG_OBJS) -lcmocka $(HOST_LDFLAGS) -o $@

.PHONY: test-host host-tests test-repeat
host-tests: $(HOST_TESTS) $(HOST_DBG_TESTS)
# Every suite runs HOST_ROUNDS times, each with a fresh seed (so CI sees
# two seeds per run); KSPAN_TEST_SEED=N replays one.  tests/host/run-suites.sh
# shows a suite's output only when it fails, with the replay command.
HOST_ROUNDS ?= 2
test-host: deps host-tests
	$(Q)bash tests/host/run-suites.sh $(HOST_ROUNDS) $(HOST_TESTS) $(HOST_DBG_TESTS)

# make test-repeat N=20: the host suites N times with fresh seeds.
N ?= 20
test-repeat: deps host-tests
	$(Q)bash tests/host/run-suites.sh $(N) $(HOST_TESTS) $(HOST_DBG_TESTS)

ALL_TARGETS  += host-tests
TEST_TARGETS += test-host

# ThreadSanitizer build of the multi-threaded suite (threads stand in for
# CPUs): every cross-CPU access in mm/ must be a proper atomic or happen
# under a lock.
HOST_TSAN_DIR := $(BUILD)/host-tsan
HOST_TSAN_SRCS = tests/host/test_threads.c tests/host/support.c \
                 tests/host/heap_fixture.c $(MM_SRCS) $(HOST_PLAT_SRCS)
$(HOST_TSAN_DIR)/test_threads: $$(HOST_TSAN_SRCS) $(MM_HDRS) $(HOST_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(filter-out $(HOST_SAN),$(HOST_CFLAGS)) -fsanitize=thread \
		$(HOST_TSAN_SRCS) -lcmocka -pthread -o $@

.PHONY: test-host-tsan
test-host-tsan: deps $(HOST_TSAN_DIR)/test_threads
	TSAN_OPTIONS=halt_on_error=1 $(HOST_TSAN_DIR)/test_threads 100000

TEST_TARGETS += test-host-tsan
