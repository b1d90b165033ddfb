# Fast-path cost of the allocator itself (issue: heap), measured with
# callgrind on a release build of mm/ + the host platform, compiled as one
# LTO unit so the platform hooks inline the way a kernel's would.
#
#   make fastpath      print instructions per kmalloc+kfree pair

PERF_DIR    := $(BUILD)/perf
PERF_CC     ?= gcc
PERF_CFLAGS := -std=gnu11 -O2 -gdwarf-4 -flto -DKSPAN_DEBUG=0 \
               -DKSPAN_RANDOMIZE=$(RANDOMIZE) \
               -DKSPAN_HOST=1 -Iinclude -I. $(WARN)

$(PERF_DIR)/fastpath: $(HOST_FLAGS_STAMP) tests/perf/fastpath.c $(MM_SRCS) arch/host/platform.c $(MM_HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(PERF_CC) $(PERF_CFLAGS) tests/perf/fastpath.c $(MM_SRCS) \
		arch/host/platform.c -pthread -o $@

.PHONY: fastpath
fastpath: deps $(PERF_DIR)/fastpath
	@bash scripts/fastpath.sh $(PERF_DIR)/fastpath 32 1
	@bash scripts/fastpath.sh $(PERF_DIR)/fastpath 32 100
	@bash scripts/fastpath.sh $(PERF_DIR)/fastpath 256 100
