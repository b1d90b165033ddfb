# Allocator benchmark harness (issues 6, 12): workloads in bench/, run
# unchanged under glibc, jemalloc, tcmalloc, mimalloc, kspan and the
# hobby-kernel peers liballoc, TLSF and o1heap through LD_PRELOAD.
#
#   make bench         build the workloads, run the driver (bench/run.py):
#                      round-robin rounds, median ops/s, peak RSS, callgrind
#                      instructions per malloc+free pair; writes
#                      build/bench/results.{md,json} and build/bench/bench.png
#   make bench-smoke   every workload, very briefly, under every allocator
#                      present, verification only (part of `make test`)
#
# Knobs (make variables):
#   FULL=1             5 rounds and the 1 GiB fragmentation run
#   BENCH_ROUNDS=N     rounds (default 3)
#   BENCH_SCALE=X      multiply every workload's amount of work (default 1)
#   BENCH_WORKLOADS=a,b / BENCH_ALLOCS=a,b   run a subset
#   BENCH_CALLGRIND=0  skip the instruction counts
#   BENCH_KSPAN_SO     kspan's drop-in library (default build/host/libkspan.so)
#   BENCH_KSPAN_DEBUG_SO  its debug shim (default build/host/libkspan-debug.so),
#                      run as the allocators kspan-debug, kspan-guard
#                      (KSPAN_GUARD=all) and kspan-guard100 (KSPAN_GUARD=1/100)
#                      when BENCH_ALLOCS names them, e.g.
#                      BENCH_ALLOCS=kspan,kspan-guard,kspan-guard100: a table
#                      of their slowdown and peak RSS against the release shim
#   BENCH_KSPAN_ENV="K=V ..."  extra environment of the kspan (release) run
#   BENCH_SEED=N       the workloads' random seed (default 42)
#   PEERS_DIR=DIR      the hobby-kernel peers' folder (default ../shared/peers,
#                      relative to the repository root); its build.sh builds
#                      them into build/bench/peers.  Missing folder or failed
#                      build: the peers are skipped with a one-line note.
#
# The object-cache workload (bench/slab/main.c, kspan only: the API is
# kspan's) is a release program of lib/ + phys/ + mm/ + the host platform,
# like mk/perf.mk's; run.py runs it (--slab) and reports memory against
# kmalloc of the same sizes and the speed of the pair.
#
# kspan's library comes from the `host` target (mk/shim.mk); when it is
# missing the driver reports kspan as "not built" and still runs the peers.

BENCH_DIR      := $(BUILD)/bench
BENCH_CC       ?= cc
BENCH_PY       ?= python3
BENCH_CFLAGS   := -O2 -pthread -std=gnu11 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
                  -Wmissing-prototypes -Wno-unused-parameter \
                  -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
                  -fno-builtin-realloc
BENCH_KSPAN_SO ?= $(SHIM_SO)
BENCH_KSPAN_DEBUG_SO ?= $(SHIM_DEBUG_SO)
BENCH_KSPAN_ENV ?=
PEERS_DIR      ?= ../shared/peers
BENCH_PEERS    := $(BENCH_DIR)/peers

BENCH_SRCS := bench/main.c bench/common.c $(sort $(wildcard bench/w_*.c))
BENCH_BINS := $(BENCH_DIR)/kbench $(BENCH_DIR)/launch $(BENCH_DIR)/fastpath

$(BENCH_DIR)/kbench: $(BENCH_SRCS) bench/bench.h
	@mkdir -p $(dir $@)
	$(Q)$(BENCH_CC) $(BENCH_CFLAGS) $(BENCH_SRCS) -o $@ -ldl

$(BENCH_DIR)/launch: bench/launch.c
	@mkdir -p $(dir $@)
	$(Q)$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@

# callgrind counts this one's loop; bench/run.py subtracts the empty loop.
$(BENCH_DIR)/fastpath: bench/fastpath.c
	@mkdir -p $(dir $@)
	$(Q)$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@

BENCH_SLAB_CFLAGS := -std=gnu11 -O2 -g $(WARN) -flto -Iinclude -I. \
                     $(call features,0,0,1,$(RANDOMIZE),1)
$(eval $(call objset,bench-slab,gcc,$(BENCH_SLAB_CFLAGS),bench/slab/main.c $(KSPAN_SRCS) $(HOST_PLAT_SRCS)))
BENCH_SLAB := $(BENCH_DIR)/slab
$(BENCH_SLAB): $(bench-slab_OBJS)
	@mkdir -p $(dir $@)
	$(Q)gcc $(BENCH_SLAB_CFLAGS) $^ -pthread -o $@
BENCH_BINS += $(BENCH_SLAB)

BENCH_ARGS = --bin $(BENCH_DIR) --out $(BENCH_DIR) --kspan $(BENCH_KSPAN_SO) \
             --slab $(BENCH_SLAB) \
             --kspan-debug $(BENCH_KSPAN_DEBUG_SO) \
             $(if $(BENCH_KSPAN_ENV),--kspan-env '$(BENCH_KSPAN_ENV)') \
             --peers $(BENCH_PEERS) $(if $(PEERS_DIR),--peers-src $(PEERS_DIR)) \
             $(if $(BENCH_SEED),--seed $(BENCH_SEED)) \
             $(if $(filter 1,$(FULL)),--full) \
             $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS)) \
             $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) \
             $(if $(BENCH_WORKLOADS),--workloads $(BENCH_WORKLOADS)) \
             $(if $(BENCH_ALLOCS),--allocs $(BENCH_ALLOCS)) \
             $(if $(filter 0,$(BENCH_CALLGRIND)),--no-callgrind)

.PHONY: bench bench-bin bench-smoke bench-peers
# The hobby-kernel peers: $(PEERS_DIR)/build.sh, run where it is, builds
# them into $(BENCH_PEERS); bench/peers.sh never fails (it notes what it
# skipped in $(BENCH_PEERS)/status for the driver).
bench-peers:
	$(Q)bash bench/peers.sh "$(PEERS_DIR)" $(BENCH_PEERS)

bench-bin: $(BENCH_BINS)

bench: deps bench-bin host bench-peers
	$(Q)$(BENCH_PY) bench/run.py $(BENCH_ARGS)

bench-smoke: deps bench-bin host bench-peers
	$(Q)$(BENCH_PY) bench/run.py --smoke $(BENCH_ARGS)

