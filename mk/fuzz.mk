# Fuzzing the heap with libFuzzer (tests/fuzz/, see tests/fuzz/README.md):
# each input is a program of kmalloc / kfree / krealloc / kmalloc_aligned /
# kpages / drain / scavenge / ... operations, checked against a shadow
# model (tests/fuzz/fuzz_engine.c).  Four harnesses:
#
#   heap       the main one, fast: per-input work bounded by the input
#   exhaust    filling the arena, kspan_check every 32 operations and at
#              the end of each input, full 4 MiB sizes (slow, run less)
#   debugheap  the same operations against mm/ built with
#              KSPAN_DEBUG_HEAP=1 (red zones, poison, guard sampling)
#   smp        2-4 threads (CPUs) running their parts of the input,
#              handing objects to each other (remote frees)
#
#   make fuzz              fuzz_heap for FUZZ_SECONDS (default 60); prints
#                          the execs and execs/s; fails on any finding (the
#                          input is saved in build/fuzz/heap/artifacts)
#   make fuzz-exhaust / fuzz-debugheap / fuzz-smp   the same for the others
#   make test-fuzz         every corpus through the plain replay drivers,
#                          the determinism check, then each harness in turn:
#                          60 s in all in CI (CI=true), 12 s otherwise (part
#                          of `make test`); a table of execs and execs/s
#   make test-fuzz-replay  every corpus through the replay drivers
#                          (tests/fuzz/replay.c, gcc, no libFuzzer)
#   make test-fuzz-determinism  tests/fuzz/determinism.sh: each input does
#                          the same in a fresh process as after the others
#   make fuzz-long         FUZZ_RUNS (default 10^7) inputs of fuzz_heap in
#                          one process (one core), no time limit
#   make fuzz-corpus       regenerate tests/fuzz/corpus/ from mkcorpus.py
#
# Knobs: FUZZ_SECONDS=N, FUZZ_RUNS=N, FUZZ_ARGS="..." (more libFuzzer
# flags), FUZZ_FRESH=1 (start from the seeds only: the working corpus in
# build/fuzz/<harness>/corpus-work otherwise grows from run to run).
# Replay a finding: build/fuzz/fuzz_heap_replay ARTIFACT (or the libFuzzer
# binary); FUZZ_HEAP_TRACE=1 prints each operation, FUZZ_HEAP_CHECK_EVERY=N
# runs kspan_check every N operations.
#
# Builds: clang with ASan + UBSan, -O2; everything gets libFuzzer's edge
# counters (inline-8bit-counters, pc-table) but not its comparison tracing
# (the -fsanitize=fuzzer-no-link default, trace-cmp: it doubled the cost of
# the allocator's page loops and took a tenth of the harness's time, and
# the harness reads sizes and opcodes modulo ranges, so there are hardly
# any comparisons with input bytes for it to solve).
# The replay drivers are the same sources built with gcc.  mm/ is compiled
# twice for each: as is (build/fuzz-plain, build/fuzz-replay-plain) and
# with the debug heap (build/fuzz-debugheap, build/fuzz-replay-debugheap).

FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_REPLAY_CC  ?= gcc
FUZZ_SECONDS    ?= 60
FUZZ_RUNS       ?= 10000000
FUZZ_ARGS       ?=
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BASE_CFLAGS := -std=gnu11 -g -O2 $(WARN) -Iinclude -I. -fno-omit-frame-pointer
FUZZ_COV_LIB    := -fsanitize-coverage=inline-8bit-counters,pc-table
FUZZ_LIB_SRCS   := $(KSPAN_SRCS) $(HOST_PLAT_SRCS)
FUZZ_CORPUS     := tests/fuzz/corpus
FUZZ_HARNESSES  := heap exhaust debugheap smp

# Longest input per harness (libFuzzer -max_len).
FUZZ_MAXLEN_heap      := 512
FUZZ_MAXLEN_debugheap := 512
FUZZ_MAXLEN_exhaust   := 2048
FUZZ_MAXLEN_smp       := 1024
# Seconds of test-fuzz per harness: in CI (60 in all), else (12 in all).
FUZZ_CI_SECONDS_heap      := 30
FUZZ_CI_SECONDS_debugheap := 12
FUZZ_CI_SECONDS_smp       := 12
FUZZ_CI_SECONDS_exhaust   := 6
FUZZ_DEV_SECONDS_heap      := 5
FUZZ_DEV_SECONDS_debugheap := 3
FUZZ_DEV_SECONDS_smp       := 3
FUZZ_DEV_SECONDS_exhaust   := 1

# Which mm/ build each harness links: the debug heap, or as is.  Four
# object sets (mk/rules.mk): libFuzzer (clang, coverage) and replay (gcc)
# builds of each.
fuzz_variant = $(if $(filter debugheap,$(1)),debugheap,plain)
# Object order is not randomised (RANDOMIZE=0): the random word picks and
# span keys would carry from one input to the next (the per-CPU generators
# are not reset), and an input must replay alone as it ran after others.
# The host suites test the randomised order.
FUZZ_FEAT_plain     := $(call features,1,0,1,0,1)
FUZZ_FEAT_debugheap := $(call features,1,1,1,0,1)
FUZZ_HARNESS_plain     := $(filter-out debugheap,$(FUZZ_HARNESSES))
FUZZ_HARNESS_debugheap := debugheap

define fuzz_variant_sets
# $(1): plain or debugheap
FUZZ_SRCS_$(1) := $$(FUZZ_LIB_SRCS) tests/fuzz/fuzz_engine.c \
                  $$(patsubst %,tests/fuzz/fuzz_%.c,$$(FUZZ_HARNESS_$(1)))
$$(eval $$(call objset,fuzz-$(1),$$(FUZZ_CC),$$(FUZZ_BASE_CFLAGS) $$(FUZZ_FEAT_$(1)) $$(FUZZ_SAN) $$(FUZZ_COV_LIB),$$(FUZZ_SRCS_$(1))))
$$(eval $$(call objset,fuzz-replay-$(1),$$(FUZZ_REPLAY_CC),$$(FUZZ_BASE_CFLAGS) $$(FUZZ_FEAT_$(1)) $$(FUZZ_SAN),$$(FUZZ_SRCS_$(1)) tests/fuzz/replay.c))
endef
$(foreach v,plain debugheap,$(eval $(call fuzz_variant_sets,$(v))))

# The objects of set $(1) for sources $(2).
fuzz_objs = $(patsubst %,$(BUILD)/$(1)/obj/%.o,$(basename $(2)))

# ---- binaries --------------------------------------------------------------

define fuzz_harness_rules
# $(1): harness name
FUZZ_BIN_$(1) := $$(FUZZ_DIR)/fuzz_$(1)
$$(FUZZ_DIR)/fuzz_$(1): $$(call fuzz_objs,fuzz-$$(call fuzz_variant,$(1)),$$(FUZZ_LIB_SRCS) \
                          tests/fuzz/fuzz_engine.c tests/fuzz/fuzz_$(1).c)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer $$^ -pthread -o $$@

$$(FUZZ_DIR)/fuzz_$(1)_replay: $$(call fuzz_objs,fuzz-replay-$$(call fuzz_variant,$(1)),$$(FUZZ_LIB_SRCS) \
                                 tests/fuzz/fuzz_engine.c tests/fuzz/replay.c tests/fuzz/fuzz_$(1).c)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(FUZZ_REPLAY_CC) $$(FUZZ_SAN) $$^ -pthread -o $$@

.PHONY: fuzz-$(1) fuzz-run-$(1)
fuzz-run-$(1): $$(FUZZ_DIR)/fuzz_$(1)
	$$(Q)bash tests/fuzz/run.sh fuzz_$(1) $$(FUZZ_DIR)/fuzz_$(1) $$(FUZZ_CORPUS)/$(1) \
		$$(FUZZ_DIR)/$(1) $$(FUZZ_SECONDS) $$(FUZZ_MAXLEN_$(1)) $$(FUZZ_ARGS)
fuzz-$(1): deps
	$$(Q)$$(MAKE) --no-print-directory fuzz-run-$(1)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_harness_rules,$(h))))

FUZZ_BINS        := $(foreach h,$(FUZZ_HARNESSES),$(FUZZ_DIR)/fuzz_$(h))
FUZZ_REPLAY_BINS := $(foreach h,$(FUZZ_HARNESSES),$(FUZZ_DIR)/fuzz_$(h)_replay)

# ---- targets ---------------------------------------------------------------

.PHONY: fuzz fuzz-build test-fuzz test-fuzz-replay test-fuzz-determinism \
        test-fuzz-run fuzz-long fuzz-corpus
fuzz-build: $(FUZZ_BINS) $(FUZZ_REPLAY_BINS)

fuzz: fuzz-heap

# Every harness's corpus through its plain replay driver, one process each.
test-fuzz-replay: deps $(FUZZ_REPLAY_BINS)
	$(Q)set -e; for h in $(FUZZ_HARNESSES); do \
		ASAN_OPTIONS=detect_leaks=1 $(FUZZ_DIR)/fuzz_$${h}_replay $(FUZZ_CORPUS)/$$h \
			>$(FUZZ_DIR)/replay-$$h.log 2>&1 || \
			{ tail -n 40 $(FUZZ_DIR)/replay-$$h.log; echo "test-fuzz-replay: fuzz_$$h FAILED"; exit 1; }; \
		echo "test-fuzz-replay: fuzz_$$h: $$(tail -n 1 $(FUZZ_DIR)/replay-$$h.log | sed 's/^replay: //')"; \
	done

test-fuzz-determinism: deps $(FUZZ_REPLAY_BINS)
	$(Q)bash tests/fuzz/determinism.sh $(FUZZ_DIR) $(FUZZ_CORPUS) $(FUZZ_HARNESSES)

# Each harness for its share of the minute, one after the other (one
# fuzzing process at a time), then the table.
fuzz_test_seconds = $(if $(filter true,$(CI)),$(FUZZ_CI_SECONDS_$(1)),$(FUZZ_DEV_SECONDS_$(1)))
test-fuzz-run: $(FUZZ_BINS)
	$(Q)rm -f $(FUZZ_DIR)/summary.txt
	$(Q)set -e; $(foreach h,$(FUZZ_HARNESSES),$(MAKE) --no-print-directory fuzz-run-$(h) \
		FUZZ_SECONDS=$(call fuzz_test_seconds,$(h));)
	$(Q)awk 'BEGIN { print "test-fuzz: harness          execs  seconds  execs/s" } \
		{ printf "test-fuzz: %-14s %9d %8d %8d\n", $$1, $$2, $$3, $$4; n += $$2; s += $$3 } \
		END { printf "test-fuzz: %-14s %9d %8d\n", "all", n, s }' $(FUZZ_DIR)/summary.txt

fuzz-long: deps $(FUZZ_DIR)/fuzz_heap
	$(Q)bash tests/fuzz/run.sh fuzz_heap $(FUZZ_DIR)/fuzz_heap $(FUZZ_CORPUS)/heap \
		$(FUZZ_DIR)/long 0 $(FUZZ_MAXLEN_heap) -runs=$(FUZZ_RUNS) $(FUZZ_ARGS)

test-fuzz: test-fuzz-replay test-fuzz-determinism
	$(Q)$(MAKE) --no-print-directory test-fuzz-run

fuzz-corpus:
	$(Q)python3 tests/fuzz/mkcorpus.py $(FUZZ_CORPUS)

