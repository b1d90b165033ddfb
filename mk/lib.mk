# libkspan.a: the allocator (mm/) built freestanding, for any x86_64 kernel.
#
#   make lib              build/libkspan.a with gcc (the default)
#   make lib CC=clang     the same with clang (--target=x86_64-unknown-none-elf)
#   make test-lib         build with gcc AND clang (-Werror: zero warnings),
#                         then check each archive: its only undefined symbols
#                         are the ks_plat_* hooks of include/kspan/platform.h
#                         and memset/memcpy/memmove/memcmp; every function of
#                         the public headers is defined
#
# Objects and the archive of one compiler live in build/lib/<cc>/ so that the
# gcc and clang builds coexist; build/libkspan.a is a copy of the archive of
# the selected compiler.  Flags for a kernel: -mcmodel=kernel (the library
# may be linked in the top 2 GiB), no red zone (interrupts arrive on the same
# stack), general registers only (no SSE state in kernel code), no stack
# protector (no __stack_chk_fail to provide).  Builtins stay on: the compiler
# may emit calls to memset/memcpy/memmove/memcmp, which the kernel provides.
# See docs/porting.md.

# Make's built-in default for CC is "cc"; kspan's default is gcc.
ifeq ($(origin CC),default)
  LIB_CC := gcc
else
  LIB_CC := $(CC)
endif

# Knobs for other kernels (docs/porting.md):
#   LIB_MCMODEL=small   for a kernel linked in the low 2 GiB instead of the
#                       top 2 GiB (the mb2 example needs the default, kernel)
#   LIB_DEFS=-DKSPAN_MAX_CPUS=1   fewer per-CPU cache slots (default 64)
LIB_MCMODEL ?= kernel
LIB_DEFS    ?=

LIB_DIR    := $(BUILD)/lib
LIB_CFLAGS := -std=gnu11 -ffreestanding -nostdlib -mno-red-zone \
              -mgeneral-regs-only -mcmodel=$(LIB_MCMODEL) -fno-pic -fno-pie \
              -fno-stack-protector -O2 $(WARN) -Werror $(DBGDEF) $(LIB_DEFS) \
              -Iinclude -I.
LIB_ARFLAGS := rcsD

# $(call lib_name,CC): the folder name of a compiler (/usr/bin/clang-14 ->
# clang-14).  $(call lib_target_flags,CC): clang builds for the bare target.
lib_name         = $(notdir $(firstword $(1)))
lib_target_flags = $(if $(findstring clang,$(call lib_name,$(1))),--target=x86_64-unknown-none-elf)
lib_archive      = $(LIB_DIR)/$(call lib_name,$(1))/libkspan.a

# The compilers test-lib builds with, plus the selected one.
LIB_TEST_CCS := gcc clang
LIB_ALL_CCS  := $(sort $(LIB_TEST_CCS) $(LIB_CC))

# One set of rules per compiler.  The flags are written to a stamp file that
# changes only when they change (DEBUG=1, another CC), so objects rebuild
# then and only then.
define lib_rules
$(LIB_DIR)/$(call lib_name,$(1))/cflags: FORCE
	@mkdir -p $$(dir $$@)
	@echo '$(1) $(call lib_target_flags,$(1)) $(LIB_CFLAGS)' > $$@.new; \
	 if cmp -s $$@.new $$@; then rm -f $$@.new; else mv $$@.new $$@; fi

$(LIB_DIR)/$(call lib_name,$(1))/obj/%.o: %.c $(LIB_DIR)/$(call lib_name,$(1))/cflags
	@mkdir -p $$(dir $$@)
	$(Q)$(1) $(call lib_target_flags,$(1)) $(LIB_CFLAGS) -MMD -MP -c $$< -o $$@

$(call lib_archive,$(1)): $(patsubst %.c,$(LIB_DIR)/$(call lib_name,$(1))/obj/%.o,$(MM_SRCS))
	@rm -f $$@
	$(Q)ar $(LIB_ARFLAGS) $$@ $$^
	@echo "  AR      $$@ ($(words $(MM_SRCS)) objects, $(1))"

-include $(patsubst %.c,$(LIB_DIR)/$(call lib_name,$(1))/obj/%.d,$(MM_SRCS))
endef
$(foreach c,$(LIB_ALL_CCS),$(eval $(call lib_rules,$(c))))

# build/libkspan.a is the archive of the selected compiler; the stamp makes
# it follow a change of CC even when the other archive is newer.
LIB_ARCHIVE := $(BUILD)/libkspan.a
$(LIB_DIR)/selected: FORCE
	@mkdir -p $(dir $@)
	@echo '$(call lib_name,$(LIB_CC))' > $@.new; \
	 if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(LIB_ARCHIVE): $(call lib_archive,$(LIB_CC)) $(LIB_DIR)/selected
	$(Q)cp $< $@

.PHONY: lib test-lib FORCE
FORCE:
lib: $(LIB_ARCHIVE)

test-lib: $(foreach c,$(LIB_TEST_CCS),$(call lib_archive,$(c)))
	@set -e; for a in $^; do \
		bash tests/lib/check-undefined.sh $$a include/kspan/platform.h; \
		bash tests/lib/check-api.sh $$a include/kspan mm/frame.h; \
	done
	$(Q)bash tests/lib/selftest-checks.sh $(call lib_archive,gcc) gcc

ALL_TARGETS  += lib
TEST_TARGETS += test-lib
