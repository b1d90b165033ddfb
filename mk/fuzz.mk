# Fuzzing the heap with libFuzzer (tests/fuzz/fuzz_heap.c): the input bytes
# are a program of kmalloc / kfree / krealloc / kmalloc_aligned / kpages /
# drain / scavenge / ... operations, checked against a shadow model.
#
#   make fuzz              build build/fuzz/fuzz_heap (clang, libFuzzer +
#                          ASan + UBSan, all of mm/ and the host platform
#                          compiled into build/fuzz/obj) and fuzz for
#                          FUZZ_SECONDS (default 60) from the seed corpus;
#                          prints execs/s and total execs; fails on any
#                          finding (the input is saved in build/fuzz/artifacts)
#   make test-fuzz         the corpus replayed, then `make fuzz` for 60 s in
#                          CI (CI=true), 10 s otherwise (part of `make test`)
#   make test-fuzz-replay  the seed corpus through the plain replay driver
#                          (tests/fuzz/replay.c, gcc, no libFuzzer)
#   make fuzz-corpus       regenerate tests/fuzz/corpus from mkcorpus.py
#
# Knobs: FUZZ_SECONDS=N, FUZZ_ARGS="..." (more libFuzzer flags),
# FUZZ_FRESH=1 (start from the seeds only: the working corpus in
# build/fuzz/corpus-work otherwise grows from run to run).
# Replay a crash: build/fuzz/fuzz_heap build/fuzz/artifacts/crash-...
# (FUZZ_HEAP_TRACE=1 prints each operation).

FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_REPLAY_CC ?= gcc
FUZZ_SECONDS  ?= 60
FUZZ_ARGS     ?=
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   := -std=gnu11 -g -O1 $(WARN) $(call features,1,0,1,1,1) \
                 -Iinclude -I. -fno-omit-frame-pointer
FUZZ_LIB_SRCS := $(KSPAN_SRCS) $(HOST_PLAT_SRCS)
FUZZ_HDRS     := $(KSPAN_HDRS) $(wildcard arch/host/*.h tests/common/*.h)
FUZZ_CORPUS   := tests/fuzz/corpus
FUZZ_WORK     := $(FUZZ_DIR)/corpus-work

# libFuzzer build: everything instrumented for coverage.
FUZZ_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRCS) tests/fuzz/fuzz_heap.c)
# Replay build: the same sources, no libFuzzer, another compiler.
FUZZ_REPLAY_OBJS := $(patsubst %.c,$(FUZZ_DIR)/replay-obj/%.o,$(FUZZ_LIB_SRCS) \
                    tests/fuzz/fuzz_heap.c tests/fuzz/replay.c)

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_HDRS) mk/fuzz.mk
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_heap: $(FUZZ_OBJS)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_OBJS) -pthread -o $@

$(FUZZ_DIR)/replay-obj/%.o: %.c $(FUZZ_HDRS) mk/fuzz.mk
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_REPLAY_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/fuzz_heap_replay: $(FUZZ_REPLAY_OBJS)
	$(Q)$(FUZZ_REPLAY_CC) $(FUZZ_SAN) $(FUZZ_REPLAY_OBJS) -pthread -o $@

.PHONY: fuzz fuzz-build test-fuzz test-fuzz-replay fuzz-corpus
fuzz-build: $(FUZZ_DIR)/fuzz_heap $(FUZZ_DIR)/fuzz_heap_replay

# libFuzzer's output goes to build/fuzz/fuzz.log; the summary line, the
# final statistics and, on a finding, the end of the log are printed.
fuzz: deps $(FUZZ_DIR)/fuzz_heap
	$(Q)set -e; \
	if [ "$(FUZZ_FRESH)" = 1 ]; then rm -rf $(FUZZ_WORK); fi; \
	mkdir -p $(FUZZ_WORK) $(FUZZ_DIR)/artifacts; \
	cp $(FUZZ_CORPUS)/* $(FUZZ_WORK)/; \
	echo "fuzz: $(FUZZ_DIR)/fuzz_heap for $(FUZZ_SECONDS) s, corpus $(FUZZ_WORK) ($$(ls $(FUZZ_WORK) | wc -l) inputs), log $(FUZZ_DIR)/fuzz.log"; \
	status=0; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	$(FUZZ_DIR)/fuzz_heap -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_ARGS) \
		$(FUZZ_WORK) >$(FUZZ_DIR)/fuzz.log 2>&1 || status=$$?; \
	grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' $(FUZZ_DIR)/fuzz.log | sed 's/^/fuzz: /' || true; \
	grep '^stat::' $(FUZZ_DIR)/fuzz.log | sed 's/^/fuzz: /' || true; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz.log); \
	rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(FUZZ_DIR)/fuzz.log); \
	if [ $$status -ne 0 ]; then \
		echo "fuzz: FAILED (libFuzzer exit status $$status); end of $(FUZZ_DIR)/fuzz.log:"; \
		tail -n 60 $(FUZZ_DIR)/fuzz.log | sed 's/^/  | /'; \
		ls -1 $(FUZZ_DIR)/artifacts/ | sed 's|^|fuzz: artifact $(FUZZ_DIR)/artifacts/|'; \
		exit 1; \
	fi; \
	[ -n "$$execs" ] || { echo "fuzz: FAILED: no final statistics in the log"; exit 1; }; \
	echo "fuzz: PASS: $$execs execs in $(FUZZ_SECONDS) s, $$rate execs/s, no findings"

test-fuzz-replay: deps $(FUZZ_DIR)/fuzz_heap_replay
	$(Q)ASAN_OPTIONS=detect_leaks=1 $(FUZZ_DIR)/fuzz_heap_replay $(FUZZ_CORPUS)

test-fuzz: test-fuzz-replay
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(if $(filter true,$(CI)),60,10)

fuzz-corpus:
	$(Q)python3 tests/fuzz/mkcorpus.py $(FUZZ_CORPUS)

