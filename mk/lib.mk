# libkspan.a: lib/ + phys/ + mm/ built freestanding, for any x86_64 kernel
# (docs/porting.md).
#
#   make lib              build/libkspan.a with gcc (CC=clang: with clang,
#                         --target=x86_64-unknown-none-elf), and print its
#                         figures (exports, undefined symbols, .bss)
#   make test-lib         build with gcc AND clang (-Werror), then check each
#                         archive (tests/lib/check-lib.sh): it defines exactly
#                         the functions of the public headers (nothing else
#                         leaks), needs only the ks_plat_* hooks and the mem*
#                         functions, links into a kernel that defines its own
#                         arena_init, mheap_alloc, gc_mark and ks_panic, and
#                         matches the figures docs/porting.md quotes
#
# The archive holds one object: the members are linked with `ld -r` and
# every global that is not in a public header is made local (objcopy
# --keep-global-symbols with the list tests/lib/api-list.sh reads from
# include/kspan/*.h).  Flags for a kernel: -mcmodel=kernel (the library may
# be linked in the top 2 GiB), no red zone, general registers only, no
# stack protector; builtins stay on, so the kernel provides memset, memcpy,
# memmove and memcmp.
#
# Knobs for other kernels (docs/porting.md):
#   LIB_MCMODEL=small   a kernel linked in the low 2 GiB
#   LIB_DEFS=-DKSPAN_MAX_CPUS=1   fewer CPU slots (default 64)
#   LIB_OWN_SLOTS=1     fast paths without the interrupt guard, for a kernel
#                       that gives interrupt handlers slots of their own
#                       (ks_plat_own_slot, ks_plat_irq_slot)

LIB_MCMODEL   ?= kernel
LIB_DEFS      ?=
LIB_OWN_SLOTS ?= 0
LIB_CFLAGS  := -std=gnu11 -ffreestanding -nostdlib -mno-red-zone \
               -mgeneral-regs-only -mcmodel=$(LIB_MCMODEL) -fno-pic -fno-pie \
               -fno-stack-protector -O2 $(WARN) -Werror \
               $(call features,$(DEBUG),$(DEBUG),$(GC),$(RANDOMIZE),$(LIB_OWN_SLOTS)) $(LIB_DEFS) \
               -Iinclude -I.
LIB_TEST_CCS := gcc clang

lib_archive      = $(BUILD)/lib-$(call lib_name,$(1))/libkspan.a
LIB_API_LIST     := $(BUILD)/lib-api.txt

$(LIB_API_LIST): $(wildcard include/kspan/*.h) tests/lib/api-list.sh
	@mkdir -p $(dir $@)
	$(Q)bash tests/lib/api-list.sh include/kspan > $@.new && mv $@.new $@

# One object set and one archive per compiler.
define lib_rules
$$(eval $$(call objset,lib-$(call lib_name,$(1)),$(1),$(call lib_target_flags,$(1)) $$(LIB_CFLAGS),$$(KSPAN_SRCS)))
$(call lib_archive,$(1)): $$(lib-$(call lib_name,$(1))_OBJS) $$(LIB_API_LIST)
	$$(Q)ld -r -o $$(@D)/kspan-all.o $$(lib-$(call lib_name,$(1))_OBJS)
	$$(Q)objcopy --keep-global-symbols=$$(LIB_API_LIST) $$(@D)/kspan-all.o $$(@D)/kspan.o
	@rm -f $$@
	$$(Q)ar rcsD $$@ $$(@D)/kspan.o
	@echo "  AR      $$@ ($(words $(KSPAN_SRCS)) sources in one object, $(1))"
endef
$(foreach c,$(sort $(LIB_TEST_CCS) $(LIB_CC)),$(eval $(call lib_rules,$(c))))

# The same with one CPU slot, for the per-slot static cost (lib-figures.sh).
$(eval $(call objset,lib-1cpu,gcc,$(LIB_CFLAGS) -DKSPAN_MAX_CPUS=1,$(KSPAN_SRCS)))
LIB_1CPU := $(BUILD)/lib-1cpu/libkspan.a
$(LIB_1CPU): $(lib-1cpu_OBJS)
	@rm -f $@
	$(Q)ar rcsD $@ $^

# build/libkspan.a is the archive of the selected compiler (copied when it
# differs, so that CC=clang after CC=gcc takes effect).
$(LIB_ARCHIVE): $(call lib_archive,$(LIB_CC)) FORCE
	@cmp -s $< $@ || cp $< $@

.PHONY: lib test-lib
lib: $(LIB_ARCHIVE) $(LIB_1CPU)
	$(Q)bash tests/lib/lib-figures.sh $(LIB_ARCHIVE) $(LIB_1CPU)

test-lib: $(foreach c,$(LIB_TEST_CCS),$(call lib_archive,$(c))) $(LIB_1CPU)
	$(Q)set -e; for c in $(LIB_TEST_CCS); do \
		bash tests/lib/check-lib.sh $(BUILD)/lib-$$c/libkspan.a $$c $(LIB_1CPU); \
	done
	$(Q)bash tests/lib/selftest-checks.sh $(call lib_archive,gcc) gcc
