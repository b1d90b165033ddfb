# The host drop-in malloc: kspan as the process's malloc.
#
#   make host            build/host/libkspan.so (release, for LD_PRELOAD),
#                        build/host/libkspan.a (link it into a host tool:
#                        its malloc family replaces libc's) and
#                        build/host/libkspan-debug.so (the debug heap with
#                        internal assertions; KSPAN_GUARD=... selects guarded
#                        allocations, see shim/shim.c)
#   make test-preload    smoke run (part of `make test`): the C checks of
#                        tests/preload/smoke.c under LD_PRELOAD and linked
#                        with libkspan.a, deliberate misuse that must stop
#                        with kspan's message, and python3, sort and sqlite3
#                        compared byte for byte with and without kspan; then
#                        the debug shim (tests/preload/debug.py): forks from
#                        threaded C and python3 (through a bash wrapper),
#                        the malloc family in every guard mode, call sites
#                        resolved with addr2line and gdb, reports naming the
#                        function called, bad KSPAN_GUARD* values
#   make stress-preload  longer runs of real programs unchanged under
#                        LD_PRELOAD (python3 and its own test modules,
#                        sqlite3, gcc, git, sort on 50 MB), same output with
#                        and without kspan, and a table of wall times
#
# The release libraries are one build of lib/ + phys/ + mm/ +
# arch/host/platform.c + shim/shim.c: -O2, no assertions, randomised
# order off, -fPIC, hidden visibility (only the malloc family is exported),
# no semantic interposition, and LTO (gcc: a single partition), so that
# the platform's slot and guard hooks (initial-exec TLS) inline into
# kmalloc and kfree.  The .so is an LTO link of the objects; the .a holds
# one object made by an LTO relocatable link (-r, emitting machine code),
# so that its users get the inlined fast path without LTO themselves.
# SHIM_CC=clang builds the same with clang and lld.
# tests/preload/check-lib.sh checks the exports, the TLS model, and that the
# fast paths of malloc and free call nothing in the platform.

SHIM_NAME := $(notdir $(firstword $(SHIM_CC)))
ifneq ($(findstring clang,$(SHIM_NAME)),)
  SHIM_LTO    := -flto
  SHIM_LINKER := -fuse-ld=lld
  SHIM_RELOC  := -r -nostdlib -fuse-ld=lld
else
  SHIM_LTO    := -flto -flto-partition=one
  SHIM_LINKER :=
  SHIM_RELOC  := -r -nostdlib -flinker-output=nolto-rel
endif
SHIM_BASE := -std=gnu11 -O2 -g $(WARN) -Werror -Iinclude -I. -pthread -fPIC \
             -fvisibility=hidden -fno-semantic-interposition $(SHIM_LTO) \
             -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
             -fno-builtin-free
SHIM_LDFLAGS := -shared -pthread $(SHIM_LINKER) -Wl,-z,defs -Wl,-z,now \
                -Wl,--as-needed
SHIM_SRCS := $(KSPAN_SRCS) $(HOST_PLAT_SRCS) shim/shim.c

# (The flags stamp names the compiler, so SHIM_CC=clang rebuilds all.)
$(eval $(call objset,shim,$(SHIM_CC),$(SHIM_BASE) $(call features,0,0,1,0,1),$(SHIM_SRCS)))
$(eval $(call objset,shim-debug,$(SHIM_CC),$(SHIM_BASE) $(call features,1,1,1,1,1),$(SHIM_SRCS)))
SHIM_OBJS       := $(shim_OBJS)
SHIM_DEBUG_OBJS := $(shim-debug_OBJS)

$(SHIM_SO): $(SHIM_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(SHIM_BASE) $(SHIM_LDFLAGS) $^ -o $@
	@echo "  LTO     $@"

$(SHIM_DEBUG_SO): $(SHIM_DEBUG_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(SHIM_BASE) $(SHIM_LDFLAGS) $^ -o $@
	@echo "  LTO     $@"

$(BUILD)/shim/kspan-host.o: $(SHIM_OBJS)
	$(Q)$(SHIM_CC) $(filter-out -pthread,$(SHIM_BASE)) $(SHIM_RELOC) $^ -o $@

$(SHIM_A): $(BUILD)/shim/kspan-host.o
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcsD $@ $<
	@echo "  AR      $@"

# Preload tests: the C checks, built twice (plain, to run under LD_PRELOAD,
# and linked with libkspan.a), and the driver.
PRELOAD_DIR    := $(BUILD)/host/preload
PRELOAD_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -fno-builtin
PRELOAD_PY     ?= python3
PRELOAD_BINS   := $(PRELOAD_DIR)/smoke $(PRELOAD_DIR)/smoke-linked $(PRELOAD_DIR)/debugshim

$(PRELOAD_DIR)/smoke: tests/preload/smoke.c
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(PRELOAD_CFLAGS) $< -o $@ -ldl

$(PRELOAD_DIR)/smoke-linked: tests/preload/smoke.c $(SHIM_A)
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(PRELOAD_CFLAGS) -DLINKED_KSPAN=1 $< $(SHIM_A) -o $@ -ldl

# -O0: the call sites the debug shim reports must map to the marked lines.
$(PRELOAD_DIR)/debugshim: tests/preload/debugshim.c
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(filter-out -O1,$(PRELOAD_CFLAGS)) -O0 $< -o $@ -ldl

.PHONY: host test-preload stress-preload
host: $(SHIM_SO) $(SHIM_A) $(SHIM_DEBUG_SO)

test-preload: deps host $(PRELOAD_BINS)
	$(Q)bash tests/preload/check-lib.sh $(SHIM_SO) $(SHIM_A)
	$(Q)$(PRELOAD_PY) tests/preload/run.py smoke --lib $(SHIM_SO) --bin $(PRELOAD_DIR)
	$(Q)$(PRELOAD_PY) tests/preload/debug.py --lib $(SHIM_DEBUG_SO) --release $(SHIM_SO) --bin $(PRELOAD_DIR)

stress-preload: deps host
	$(Q)$(PRELOAD_PY) tests/preload/run.py stress --lib $(SHIM_SO) --bin $(PRELOAD_DIR)
