# Collector benchmark (issue 16): kspan's mark-sweep collector against the
# Boehm-Demers-Weiser collector (Debian's libgc), on the same workloads
# (bench/gc/workloads.c) through a small adapter layer.  See
# bench/gc/README.md.
#
#   make bench-gc        every workload under kspan, kspan-cons, boehm-1 and
#                        boehm-default, interleaved rounds, medians; writes
#                        build/bench-gc/results.{md,json}
#   make bench-gc-smoke  tiny scale, one round: the checksums must agree
#                        (part of `make test`, a few seconds); writes
#                        build/bench-gc/smoke/results.{md,json}
#
# Knobs (make variables):
#   BENCH_GC_ROUNDS=N        rounds (default 5)
#   BENCH_GC_SCALE=X         multiply every workload's size (default 1)
#   BENCH_GC_SEED=N          the seed of every randomised choice (default 1)
#   BENCH_GC_FORCED=N        forced collections per live-heap run (default 5)
#   BENCH_GC_WORKLOADS=a,b   gcbench,garbage,tree64,tree256,list256
#   BENCH_GC_BACKENDS=a,b    kspan,kspan-cons,boehm-1,boehm-default
#
# kspan is a release program (-O2, KSPAN_DEBUG=0, LTO) of mm/*.c, the host
# platform and bench/gc, like mk/perf.mk builds tests/perf/fastpath.c; one
# exception: mm/mgcmark.c is compiled on its own (no LTO) and its gc_mark
# renamed to gcb_real_gc_mark, so that bench/gc/backend_kspan.c can bracket
# the mark phase with rdtsc.  It calls no function outside its own file, so
# LTO has nothing to inline there.  If the collector's mark entry point
# moves or is renamed, the rule below stops with a message: update
# GCB_MARK_SRC / GCB_MARK_SYM and backend_kspan.c.

GCB_DIR      := $(BUILD)/bench-gc
GCB_CC       ?= gcc
GCB_PY       ?= python3
GCB_CFLAGS   := -std=gnu11 -O2 -g $(WARN)
GCB_KSPAN_CFLAGS := $(GCB_CFLAGS) -DKSPAN_DEBUG=0 -DKSPAN_DEBUG_HEAP=0 -DKSPAN_GC=1 \
                    -DKSPAN_RANDOMIZE=$(RANDOMIZE) -DKSPAN_HOST=1 -Iinclude -I.
GCB_SRCS     := bench/gc/main.c bench/gc/workloads.c
GCB_HDRS     := bench/gc/gcb.h
GCB_MARK_SRC := mm/mgcmark.c
GCB_MARK_SYM := gc_mark
GCB_MM_SRCS   = $(filter-out $(GCB_MARK_SRC),$(MM_SRCS))

# Rebuild when the flags change (RANDOMIZE=0, another GCB_CC): the file is
# rewritten only when its content would change.
GCB_FLAGS_STAMP := $(GCB_DIR)/flags
GCB_FLAGS_TEXT  := $(GCB_CC) $(GCB_KSPAN_CFLAGS)
$(GCB_FLAGS_STAMP): gcb-force
	@mkdir -p $(dir $@)
	@echo '$(GCB_FLAGS_TEXT)' | cmp -s - $@ || echo '$(GCB_FLAGS_TEXT)' > $@
.PHONY: gcb-force

$(GCB_DIR)/mgcmark.o: $(GCB_MARK_SRC) $(MM_HDRS) mk/gcbench.mk $(GCB_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_KSPAN_CFLAGS) -fno-lto -c $< -o $@.plain
	$(Q)nm $@.plain | grep -q ' T $(GCB_MARK_SYM)$$' || { echo "bench-gc: $(GCB_MARK_SRC)" \
		"no longer defines $(GCB_MARK_SYM); see mk/gcbench.mk" >&2; exit 1; }
	$(Q)objcopy --redefine-sym $(GCB_MARK_SYM)=gcb_real_gc_mark $@.plain $@
	$(Q)rm -f $@.plain

$(GCB_DIR)/gcb-kspan: $(GCB_SRCS) bench/gc/backend_kspan.c $(GCB_HDRS) $(GCB_MM_SRCS) \
                      arch/host/platform.c $(MM_HDRS) $(GCB_DIR)/mgcmark.o mk/gcbench.mk \
                      $(GCB_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_KSPAN_CFLAGS) -flto $(GCB_SRCS) bench/gc/backend_kspan.c \
		$(GCB_MM_SRCS) arch/host/platform.c $(GCB_DIR)/mgcmark.o -pthread -o $@

$(GCB_DIR)/gcb-boehm: $(GCB_SRCS) bench/gc/backend_boehm.c $(GCB_HDRS) mk/gcbench.mk \
                      $(GCB_FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_CFLAGS) -flto $(GCB_SRCS) bench/gc/backend_boehm.c -lgc -pthread -o $@

# Peak RSS of each run: ru_maxrss from wait4 (bench/launch.c).
$(GCB_DIR)/launch: bench/launch.c
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_CFLAGS) $< -o $@

GCB_BINS := $(GCB_DIR)/gcb-kspan $(GCB_DIR)/gcb-boehm $(GCB_DIR)/launch

GCB_ARGS = --bin $(GCB_DIR) \
           $(if $(BENCH_GC_ROUNDS),--rounds $(BENCH_GC_ROUNDS)) \
           $(if $(BENCH_GC_SCALE),--scale $(BENCH_GC_SCALE)) \
           $(if $(BENCH_GC_SEED),--seed $(BENCH_GC_SEED)) \
           $(if $(BENCH_GC_FORCED),--forced $(BENCH_GC_FORCED)) \
           $(if $(BENCH_GC_WORKLOADS),--workloads $(BENCH_GC_WORKLOADS)) \
           $(if $(BENCH_GC_BACKENDS),--backends $(BENCH_GC_BACKENDS))

.PHONY: bench-gc bench-gc-smoke bench-gc-bin
bench-gc-bin: $(GCB_BINS)

bench-gc: deps bench-gc-bin
	$(Q)$(GCB_PY) bench/gc/run.py $(GCB_ARGS) --out $(GCB_DIR)

bench-gc-smoke: deps bench-gc-bin
	$(Q)$(GCB_PY) bench/gc/run.py --smoke $(GCB_ARGS) --out $(GCB_DIR)/smoke

ALL_TARGETS  += bench-gc-bin
TEST_TARGETS += bench-gc-smoke
