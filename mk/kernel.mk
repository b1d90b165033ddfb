# kspan's kernel: one UEFI application (GNU-EFI crt0, kspan's linker.ld)
# that boots under QEMU + OVMF, runs its self-tests and exits QEMU.
#
#   make kernel            build/kernel/kspan.efi (+ kspan.elf with symbols)
#   make run               boot it (MEM=512M SMP=4 by default), print all it
#                          prints, then the SMP scaling benchmark (BENCH=0:
#                          skip it)
#   make test-boot         boots that must all pass (TEST_BOOTS below)
#   make test-boot-runner  kernels that fail on purpose (failing self-test,
#                          panic, page fault, triple fault, hang, guarded
#                          use after free) must make scripts/run-qemu.sh
#                          report failure
#   make test-boot-debug   the DEBUG=1 kernel, booted once on 2 CPUs
#   make test-boot-nogc    the GC=0 kernel (no collector, no heap bitmap),
#                          booted once with 6 GiB on 2 CPUs: its self-test
#                          holds the metadata to 0.5% of usable RAM
#
# Kernel code (boot/, arch/x86_64/, kernel/, tests/kernel/ and the library
# sources) builds freestanding with gcc; only boot/efi_main.c sees the
# GNU-EFI headers.

KERNEL_LD      ?= ld
KERNEL_OBJCOPY ?= objcopy
EFI_INC        ?= /usr/include/efi
EFI_LIB        ?= /usr/lib
EFI_CRT0       ?= $(EFI_LIB)/crt0-efi-x86_64.o
KERNEL_LIBGCC  := $(shell $(KERNEL_CC) -print-libgcc-file-name)

# MEM:SMP[:NAME=VALUE fw_cfg test hook] per boot.  The SMP self-tests do a
# fixed amount of work in all, so -smp 16 on two host cores takes about as
# long as -smp 4; the exhaustion tests fill at most 1 GiB, so 256 GiB of
# guest RAM (more than the host has: scripts/run-qemu.sh reserves nothing)
# boots in about 15 s.
TEST_BOOTS ?= 128M:2:smp-phantom=200 512M:1 6G:2 512M:4 16G:16 256G:2

KERNEL_DIR := $(BUILD)/kernel
KERNEL_CFLAGS := -std=gnu11 -O2 -g $(WARN) $(call features,$(DEBUG),$(DEBUG),$(GC),$(RANDOMIZE),1) -Iinclude -I. \
	-ffreestanding -fno-stack-protector -fno-stack-check \
	-fshort-wchar -mno-red-zone -mgeneral-regs-only -fpic \
	-maccumulate-outgoing-args -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns
KERNEL_EFI_CFLAGS := -isystem $(EFI_INC) -isystem $(EFI_INC)/x86_64 \
	-DGNU_EFI_USE_MS_ABI
KERNEL_LDFLAGS := -nostdlib -shared -Bsymbolic -znocombreloc --no-undefined \
	-T linker.ld
KERNEL_EFI_SECTIONS := -j .text -j .sdata -j .data -j .rodata -j .dynamic \
	-j .dynsym -j .rel -j .rela -j .rel.* -j .rela.* -j .reloc

# tests/kernel/variant.c holds the deliberately failing tests; only the
# variant kernels of test-boot-runner link it.
KERNEL_SRCS := $(filter-out boot/efi_main.c,$(wildcard boot/*.c)) $(wildcard arch/x86_64/*.c) \
	$(wildcard arch/x86_64/*.S) $(wildcard kernel/*.c) \
	$(filter-out tests/kernel/variant.c,$(wildcard tests/kernel/*.c)) \
	$(KSPAN_SRCS)
# The kernel's own code and the library are compiled for link-time
# optimisation and turned into one object by an LTO relocatable link (one
# partition, machine code out), as mk/shim.mk does for the host library:
# the platform hooks (ks_plat_own_slot, ks_plat_irq_save, ...) inline
# into kmalloc and kfree as they would in a kernel that defines them in a
# header.  The GNU-EFI entry and the variants stay ordinary objects.
KERNEL_LTO := -flto -flto-partition=one -fno-semantic-interposition -fvisibility=hidden
$(eval $(call objset,kernel,$(KERNEL_CC),$(KERNEL_CFLAGS) $(KERNEL_LTO),$(KERNEL_SRCS)))
$(eval $(call objset,kernel-efi,$(KERNEL_CC),$(KERNEL_CFLAGS) $(KERNEL_EFI_CFLAGS),boot/efi_main.c))
KERNEL_LTO_OBJ := $(KERNEL_DIR)/kspan-lto.o
$(KERNEL_LTO_OBJ): $(kernel_OBJS)
	$(Q)$(KERNEL_CC) $(KERNEL_CFLAGS) $(KERNEL_LTO) -r -nostdlib \
		-flinker-output=nolto-rel $^ -o $@
KERNEL_OBJS := $(kernel-efi_OBJS) $(KERNEL_LTO_OBJ)

# Link an ELF, check that the only dynamic relocations are the RELATIVE
# ones GNU-EFI's _relocate can apply, and convert it to PE32+.
#   $(call kernel_link,elf,efi,objects)
define kernel_link
	@mkdir -p $(dir $(1))
	$(Q)$(KERNEL_LD) $(KERNEL_LDFLAGS) $(EFI_CRT0) $(3) -L$(EFI_LIB) \
		-lgnuefi -lefi $(KERNEL_LIBGCC) -o $(1)
	$(Q)bad=$$(readelf -rW $(1) | awk '/^ *[0-9a-f]+ +[0-9a-f]+ +R_X86_64_/ && $$3 != "R_X86_64_RELATIVE" {print $$3, $$5}' | sort -u); \
	if [ -n "$$bad" ]; then \
		echo "kernel: $(1) has relocations _relocate cannot apply:"; \
		echo "$$bad"; rm -f $(1); exit 1; fi
	$(Q)$(KERNEL_OBJCOPY) $(KERNEL_EFI_SECTIONS) --target efi-app-x86_64 \
		--subsystem=10 $(1) $(2)
endef

$(KERNEL_EFI): $(KERNEL_OBJS) linker.ld $(EFI_CRT0)
	$(call kernel_link,$(KERNEL_ELF),$@,$(KERNEL_OBJS))
	@echo "kernel: $@"

# ---- Variants that must fail (test-boot-runner) ------------------------
KERNEL_VARIANTS := fail panic pagefault triplefault hang guard
KERNEL_VARIANT_EFIS := $(foreach v,$(KERNEL_VARIANTS),$(KERNEL_DIR)/variant-$(v)/kspan.efi)

define kernel_variant
$$(eval $$(call objset,variant-$(1),$$(KERNEL_CC),$$(KERNEL_CFLAGS) -DKSPAN_VARIANT_$(shell echo $(1) | tr a-z A-Z)=1,tests/kernel/variant.c))
$$(KERNEL_DIR)/variant-$(1)/kspan.efi: $$(KERNEL_OBJS) $$(variant-$(1)_OBJS) linker.ld $$(EFI_CRT0)
	$$(call kernel_link,$$(KERNEL_DIR)/variant-$(1)/kspan.elf,$$@,$$(KERNEL_OBJS) $$(variant-$(1)_OBJS))
endef
$(foreach v,$(KERNEL_VARIANTS),$(eval $(call kernel_variant,$(v))))

.PHONY: kernel kernel-variants run test-boot test-boot-runner test-boot-debug test-boot-nogc
kernel: $(KERNEL_EFI)
kernel-variants: $(KERNEL_VARIANT_EFIS)

run: deps kernel
	$(Q)bash scripts/run-qemu.sh --kernel $(KERNEL_EFI) --mem $(MEM) \
		--smp $(SMP) --timeout $(QEMU_TIMEOUT) \
		$(if $(filter 1,$(BENCH)),--bench)

test-boot: deps kernel
	$(Q)bash tests/boot/boots.sh $(KERNEL_EFI) $(QEMU_TIMEOUT) $(TEST_BOOTS)

test-boot-runner: deps kernel $(KERNEL_VARIANT_EFIS)
	$(Q)bash tests/boot/runner-test.sh $(KERNEL_DIR)

test-boot-debug: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/debug DEBUG=1 SMP=2 BENCH=0 run

test-boot-nogc: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/nogc GC=0 MEM=6G SMP=2 BENCH=0 run
