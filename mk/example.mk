# examples/mb2: a second kernel that links only build/libkspan.a.
#
#   make example        build/example/mb2.iso: a Multiboot2 kernel booted by
#                       GRUB (grub-mkrescue, BIOS) that implements the hooks,
#                       builds the frame map from the Multiboot2 memory map
#                       and runs an allocator smoke test
#   make test-example   boot it under QEMU (SeaBIOS, TCG): passes only if
#                       QEMU exits with the pass status and the log ends with
#                       "N passed, 0 failed"; then boot one ISO per
#                       deliberate failure (failtest=NAME) and check that
#                       each stops with the failure status and its message
#
# The kernel is built with the compiler of the library (make example
# CC=clang works too), with the same kernel flags, and linked by GNU ld.

EX_DIR    := $(BUILD)/example
EX_SRC    := examples/mb2
EX_LIB    := $(LIB_ARCHIVE)
EX_CFLAGS := $(call lib_target_flags,$(LIB_CC)) -std=gnu11 -ffreestanding \
             -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-pic -fno-pie \
             -fno-stack-protector -fno-asynchronous-unwind-tables -O2 \
             $(WARN) -Werror -Iinclude -I$(EX_SRC)
EX_TIMEOUT ?= 60
$(eval $(call objset,example,$(LIB_CC),$(EX_CFLAGS),$(sort $(wildcard $(EX_SRC)/*.c $(EX_SRC)/*.S))))

# Deliberate failures (examples/mb2/failtest.c) and what the log must show.
EX_FAILTESTS := nullderef stackoverflow badfree doublefree wildfree badcommit
EX_EXPECT_nullderef     := 'EXCEPTION: vector 14 \(.PF page fault' 'cr2 0x0000000000000000'
EX_EXPECT_stackoverflow := 'EXCEPTION: vector 14 \(.PF page fault' 'kernel stack: overflow'
EX_EXPECT_badfree       := '^PANIC: kspan: '
EX_EXPECT_doublefree    := '^PANIC: kspan: '
EX_EXPECT_wildfree      := '^PANIC: kspan: '
EX_EXPECT_badcommit     := '^PANIC: kspan: ks_plat_commit\(0x[0-9a-f]+, 0x1000\): not a multiple of 4096'
# Panics that must name the address the test printed before the bad call.
EX_NAMES_ADDR := badfree doublefree wildfree badcommit

$(EX_DIR)/linker.ld: $(EX_SRC)/linker.ld.in $(EX_SRC)/layout.h
	@mkdir -p $(dir $@)
	$(Q)$(LIB_CC) -E -P -undef -x c -I$(EX_SRC) $< -o $@

$(EX_DIR)/mb2.elf: $(example_OBJS) $(EX_LIB) $(EX_DIR)/linker.ld
	$(Q)ld -nostdlib -static -z max-page-size=0x1000 -T $(EX_DIR)/linker.ld \
		-o $@ $(example_OBJS) $(EX_LIB)
	@echo "  LD      $@"

# $(call ex_iso,OUT,CMDLINE): an ISO whose GRUB boots mb2.elf with CMDLINE.
define ex_iso
	@rm -rf $@.d && mkdir -p $@.d/boot/grub
	$(Q)cp $(EX_DIR)/mb2.elf $@.d/boot/mb2.elf
	$(Q)sed 's|@CMDLINE@|$(2)|' $(EX_SRC)/grub.cfg > $@.d/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $@.d > $@.log 2>&1 || { cat $@.log; exit 1; }
	@rm -rf $@.d
	@echo "  ISO     $@"
endef

$(EX_DIR)/mb2.iso: $(EX_DIR)/mb2.elf $(EX_SRC)/grub.cfg
	$(call ex_iso,$@,)

$(EX_DIR)/failtest-%.iso: $(EX_DIR)/mb2.elf $(EX_SRC)/grub.cfg
	$(call ex_iso,$@,failtest=$*)

.PHONY: example test-example example-failtests
example: $(EX_DIR)/mb2.iso
example-failtests: $(patsubst %,$(EX_DIR)/failtest-%.iso,$(EX_FAILTESTS))

test-example: deps example example-failtests
	$(Q)EX_TIMEOUT=$(EX_TIMEOUT) bash $(EX_SRC)/run.sh pass $(EX_DIR)/mb2.iso $(EX_DIR)/mb2.log
	$(Q)$(foreach t,$(EX_FAILTESTS),$(MAKE) --no-print-directory test-example-failtest-$(t) &&) true
	@echo "test-example: the smoke test and $(words $(EX_FAILTESTS)) failure tests passed"

# One deliberate failure (run one at a time by test-example).
test-example-failtest-%: $(EX_DIR)/failtest-%.iso
	$(Q)EX_TIMEOUT=$(EX_TIMEOUT) bash $(EX_SRC)/run.sh fail $< $(EX_DIR)/failtest-$*.log \
		$(if $(filter $*,$(EX_NAMES_ADDR)),--names-address) $(EX_EXPECT_$*)

