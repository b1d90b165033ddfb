# Fast-path cost of the allocator itself, in instructions (repeatable on a
# noisy machine, unlike time), in three builds:
#
#   library   callgrind on a release build of lib/ + phys/ + mm/ + the host
#             platform, linked with LTO so the platform hooks inline the
#             way a kernel's would: kmalloc+kfree pairs at several sizes and
#             batch lengths, kmem_cache_alloc+kmem_cache_free pairs of a
#             32-byte cache, and kmalloc_bulk + kfree_bulk per object
#   preload   callgrind on bench/fastpath.c's malloc(32)+free loop under
#             LD_PRELOAD, kspan's libkspan.so against every allocator make
#             bench finds (bench/run.py --fastpath-only): the same
#             measurement as make bench's
#   kernel    the release kernel on one CPU under QEMU -icount shift=0,
#             where the TSC counts instructions: the same loop with kmalloc
#             and kfree (tests/perf/kfastpath.sh, tests/kernel/fastpath.c)
#
#   make fastpath      all three (the kernel boot takes a minute or two:
#                      OVMF is slow under -icount)

PERF_CFLAGS := -std=gnu11 -O2 -gdwarf-4 -flto $(WARN) -Iinclude -I. \
               $(call features,0,0,1,$(RANDOMIZE),1)
$(eval $(call objset,perf,gcc,$(PERF_CFLAGS),$(KSPAN_SRCS) $(HOST_PLAT_SRCS) tests/perf/fastpath.c))
PERF_BIN := $(BUILD)/perf/fastpath

$(PERF_BIN): $(perf_OBJS)
	$(Q)gcc $(PERF_CFLAGS) $^ -pthread -o $@

.PHONY: fastpath
fastpath: deps $(PERF_BIN) bench-bin host bench-peers $(KERNEL_EFI)
	@echo "library (host build, LTO):"
	@bash scripts/fastpath.sh $(PERF_BIN) 32 1
	@bash scripts/fastpath.sh $(PERF_BIN) 32 1 cache
	@bash scripts/fastpath.sh $(PERF_BIN) 32 100
	@bash scripts/fastpath.sh $(PERF_BIN) 32 100 cache
	@bash scripts/fastpath.sh $(PERF_BIN) 256 100
	@bash scripts/fastpath.sh $(PERF_BIN) 32 100 bulk
	$(Q)$(BENCH_PY) bench/run.py --fastpath-only --lib-fastpath $(PERF_BIN) $(BENCH_ARGS)
	@bash tests/perf/kfastpath.sh $(KERNEL_EFI) $(BUILD)/perf
