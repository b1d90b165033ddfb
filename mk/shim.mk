# The host drop-in malloc (issue 6): kspan as the process's malloc.
#
#   make host            build/host/libkspan.so (for LD_PRELOAD) and
#                        build/host/libkspan.a (link it into a host tool or
#                        test: its malloc family replaces libc's)
#   make test-preload    smoke run (< 2 min, part of `make test`): the C
#                        checks of tests/preload/smoke.c under LD_PRELOAD and
#                        linked with libkspan.a, deliberate misuse that must
#                        stop with kspan's message, and python3, sort and
#                        sqlite3 compared byte for byte with and without
#                        kspan
#   make stress-preload  longer runs of real programs unchanged under
#                        LD_PRELOAD (python3 and its own test modules,
#                        sqlite3, gcc, git, sort on 50 MB), same output with
#                        and without kspan, and a table of wall times
#
# Both libraries are one release build of mm/ + arch/host/platform.c +
# arch/host/shim.c: -O2, KSPAN_DEBUG=0, -fPIC, hidden visibility (only the
# malloc family is exported, see arch/host/shim.c), no semantic
# interposition, and LTO (gcc: a single partition), so that the platform's
# slot and guard hooks (initial-exec TLS, see arch/host/platform.c) inline
# into kmalloc and kfree.  The .so is an LTO link of the objects; the .a
# holds one object made by an LTO relocatable link (-r, emitting machine
# code), so that its users get the inlined fast path without needing LTO
# themselves.  SHIM_CC=clang builds the same with clang and lld (objects of
# each compiler in build/host/shim/<cc>/).  tests/preload/check-lib.sh
# checks the exports, the TLS model, and that the fast paths of malloc,
# free, kmalloc and kfree call nothing in the platform.
#
# Invariants: the libraries export the malloc family only; their symbols
# need nothing but libc (and libgcc); the .a never holds LTO-only code.

SHIM_CC     ?= gcc
SHIM_NAME   := $(notdir $(firstword $(SHIM_CC)))
SHIM_DIR    := $(BUILD)/host/shim/$(SHIM_NAME)
SHIM_SO     := $(BUILD)/host/libkspan.so
SHIM_A      := $(BUILD)/host/libkspan.a
SHIM_SRCS   := $(MM_SRCS) arch/host/platform.c arch/host/shim.c
SHIM_OBJS   := $(patsubst %.c,$(SHIM_DIR)/obj/%.o,$(SHIM_SRCS))
# gcc: one LTO partition (everything can inline into everything); the
# relocatable link emits machine code.  clang: LTO through lld, whose -r
# link with bitcode inputs also emits machine code.
ifneq ($(findstring clang,$(SHIM_NAME)),)
  SHIM_LTO    := -flto
  SHIM_LINKER := -fuse-ld=lld
  SHIM_RELOC  := -r -nostdlib -fuse-ld=lld
else
  SHIM_LTO    := -flto -flto-partition=one
  SHIM_LINKER :=
  SHIM_RELOC  := -r -nostdlib -flinker-output=nolto-rel
endif
SHIM_CFLAGS := -std=gnu11 -O2 -g $(WARN) -Werror -DKSPAN_DEBUG=0 \
               -Iinclude -I. -pthread -fPIC -fvisibility=hidden \
               -fno-semantic-interposition $(SHIM_LTO) \
               -fno-builtin-malloc -fno-builtin-calloc \
               -fno-builtin-realloc -fno-builtin-free
SHIM_LDFLAGS := -shared -pthread $(SHIM_LINKER) -Wl,-z,defs -Wl,-z,now \
                -Wl,--as-needed

# Preload tests: the C checks, built twice (plain, to run under LD_PRELOAD,
# and linked with libkspan.a), and the driver.
PRELOAD_DIR    := $(BUILD)/host/preload
PRELOAD_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -fno-builtin
PRELOAD_PY     ?= python3
PRELOAD_BINS   := $(PRELOAD_DIR)/smoke $(PRELOAD_DIR)/smoke-linked

# Rebuild when the compiler or the flags change: objects through their
# compiler's cflags stamp, the libraries (shared by both compilers) and the
# test programs through the selected-compiler stamp.
$(SHIM_DIR)/cflags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SHIM_CC) $(SHIM_CFLAGS) $(SHIM_LDFLAGS)' > $@.new; \
	 if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

SHIM_SELECTED := $(BUILD)/host/shim/selected
$(SHIM_SELECTED): FORCE
	@mkdir -p $(dir $@)
	@echo '$(SHIM_NAME)' > $@.new; \
	 if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(SHIM_DIR)/obj/%.o: %.c $(SHIM_DIR)/cflags
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(SHIM_CFLAGS) -MMD -MP -c $< -o $@

-include $(patsubst %.o,%.d,$(SHIM_OBJS))

$(SHIM_SO): $(SHIM_OBJS) $(SHIM_SELECTED)
	$(Q)$(SHIM_CC) $(SHIM_CFLAGS) $(SHIM_LDFLAGS) $(SHIM_OBJS) -o $@
	@echo "  LTO     $@"

$(SHIM_DIR)/kspan-host.o: $(SHIM_OBJS)
	$(Q)$(SHIM_CC) $(filter-out -pthread,$(SHIM_CFLAGS)) $(SHIM_RELOC) $(SHIM_OBJS) -o $@

$(SHIM_A): $(SHIM_DIR)/kspan-host.o $(SHIM_SELECTED)
	@rm -f $@
	$(Q)ar rcsD $@ $<
	@echo "  AR      $@"

.PHONY: host test-preload stress-preload
host: $(SHIM_SO) $(SHIM_A)

$(PRELOAD_DIR)/smoke: tests/preload/smoke.c $(SHIM_SELECTED)
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(PRELOAD_CFLAGS) $< -o $@ -ldl

$(PRELOAD_DIR)/smoke-linked: tests/preload/smoke.c $(SHIM_A)
	@mkdir -p $(dir $@)
	$(Q)$(SHIM_CC) $(PRELOAD_CFLAGS) -DLINKED_KSPAN=1 $< $(SHIM_A) -o $@ -ldl

test-preload: deps host $(PRELOAD_BINS)
	$(Q)bash tests/preload/check-lib.sh $(SHIM_SO) $(SHIM_A)
	$(Q)$(PRELOAD_PY) tests/preload/run.py smoke --lib $(SHIM_SO) --bin $(PRELOAD_DIR)

stress-preload: deps host
	$(Q)$(PRELOAD_PY) tests/preload/run.py stress --lib $(SHIM_SO) --bin $(PRELOAD_DIR)

ALL_TARGETS  += host
TEST_TARGETS += test-preload
