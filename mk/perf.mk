# Fast-path cost of the allocator itself, measured with callgrind on a
# release build of lib/ + phys/ + mm/ + the host platform, linked with LTO
# so the platform hooks inline the way a kernel's would.
#
#   make fastpath      instructions per kmalloc+kfree pair (host), several
#                      sizes and batch lengths

PERF_CFLAGS := -std=gnu11 -O2 -gdwarf-4 -flto $(WARN) -Iinclude -I. \
               $(call features,0,0,1,$(RANDOMIZE),1)
$(eval $(call objset,perf,gcc,$(PERF_CFLAGS),$(KSPAN_SRCS) $(HOST_PLAT_SRCS) tests/perf/fastpath.c))
PERF_BIN := $(BUILD)/perf/fastpath

$(PERF_BIN): $(perf_OBJS)
	$(Q)gcc $(PERF_CFLAGS) $^ -pthread -o $@

.PHONY: fastpath
fastpath: deps $(PERF_BIN)
	@bash scripts/fastpath.sh $(PERF_BIN) 32 1
	@bash scripts/fastpath.sh $(PERF_BIN) 32 100
	@bash scripts/fastpath.sh $(PERF_BIN) 256 100
