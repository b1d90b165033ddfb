# Collector benchmark (issue 16): kspan's mark-sweep collector against the
# Boehm-Demers-Weiser collector (Debian's libgc), on the same workloads
# (bench/gc/workloads.c) through a small adapter layer.  See
# bench/gc/README.md.
#
#   make bench-gc        every workload under kspan, kspan-par (every CPU
#                        marks), kspan-cons, boehm-1 and boehm-default,
#                        interleaved rounds, medians; writes
#                        build/bench-gc/results.{md,json}
#   make bench-gc-smoke  tiny scale, one round: the checksums must agree
#                        (part of `make test`, a few seconds); writes
#                        build/bench-gc/smoke/results.{md,json}
#   make fastpath-gc     instructions per kgc_alloc / kgc_alloc_noscan (and
#                        kmalloc without free, alike), callgrind
#
# Knobs (make variables):
#   BENCH_GC_ROUNDS=N        rounds (default 5)
#   BENCH_GC_SCALE=X         multiply every workload's size (default 1)
#   BENCH_GC_SEED=N          the seed of every randomised choice (default 1)
#   BENCH_GC_FORCED=N        forced collections per live-heap run (default 5)
#   BENCH_GC_WORKLOADS=a,b   gcbench,garbage,tree64,tree256,list256
#   BENCH_GC_BACKENDS=a,b    kspan,kspan-par,kspan-cons,boehm-1,boehm-default
#
# kspan is a release program (-O2, no assertions, LTO) of lib/ + phys/ +
# mm/ + the host platform and its marker threads + bench/gc (one object
# set, like mk/perf.mk);
# Boehm's is bench/gc with Debian's libgc.  The mark phase is timed by the
# collector itself (kgc_stats.last_mark).

GCB_DIR      := $(BUILD)/bench-gc
GCB_CC       ?= gcc
GCB_PY       ?= python3
GCB_CFLAGS   := -std=gnu11 -O2 -g $(WARN) -flto
GCB_SRCS     := bench/gc/main.c bench/gc/workloads.c
$(eval $(call objset,gcb-kspan,$(GCB_CC),$(GCB_CFLAGS) $(call features,0,0,1,$(RANDOMIZE),1) -Iinclude -I.,$(GCB_SRCS) bench/gc/backend_kspan.c $(KSPAN_SRCS) $(HOST_PLAT_SRCS) arch/host/gcpool.c))
$(eval $(call objset,gcb-boehm,$(GCB_CC),$(GCB_CFLAGS),$(GCB_SRCS) bench/gc/backend_boehm.c))

$(GCB_DIR)/gcb-kspan: $(gcb-kspan_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_CFLAGS) $^ -pthread -o $@

$(GCB_DIR)/gcb-boehm: $(gcb-boehm_OBJS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_CFLAGS) $^ -lgc -pthread -o $@

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

# The allocation-cost program: release build like gcb-kspan, DWARF 4 for
# valgrind.
$(eval $(call objset,gcb-fast,$(GCB_CC),$(GCB_CFLAGS) -gdwarf-4 $(call features,0,0,1,$(RANDOMIZE),1) -Iinclude -I.,bench/gc/fastpath.c $(KSPAN_SRCS) $(HOST_PLAT_SRCS)))
GCB_FAST := $(GCB_DIR)/gcb-fastpath
$(GCB_FAST): $(gcb-fast_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(GCB_CC) $(GCB_CFLAGS) $^ -pthread -o $@

.PHONY: bench-gc bench-gc-smoke bench-gc-bin fastpath-gc
bench-gc-bin: $(GCB_BINS)

bench-gc: deps bench-gc-bin
	$(Q)$(GCB_PY) bench/gc/run.py $(GCB_ARGS) --out $(GCB_DIR)

bench-gc-smoke: deps bench-gc-bin
	$(Q)$(GCB_PY) bench/gc/run.py --smoke $(GCB_ARGS) --out $(GCB_DIR)/smoke

fastpath-gc: deps $(GCB_FAST)
	@for m in "kgc 32" "kgc 48" "kgc 256" "kgc-cons 32" "kgc-noscan 32" "kgc-noscan 8" \
	          "kgc-gc 32" "kmalloc 32"; do \
	  bash bench/gc/fastpath.sh $(GCB_FAST) $$m || exit 1; done
