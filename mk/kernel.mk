# kspan's kernel: one UEFI application (GNU-EFI crt0, kspan's linker.ld)
# that boots under QEMU + OVMF, runs its self-tests and exits QEMU.
#
#   make kernel            build/kernel/kspan.efi (+ kspan.elf with symbols)
#   make run               boot it (MEM=512M SMP=4 by default), print all it
#                          prints, then the SMP scaling benchmark (BENCH=0:
#                          skip it)
#   make test-boot         boots that must all pass: -m 128M -smp 2 (plus a
#                          phantom CPU that must be reported and left
#                          out), -m 512M -smp 1, -m 6G -smp 2, -m 512M -smp 4
#   make test-boot-runner  kernels that fail on purpose (failing self-test,
#                          panic, page fault, triple fault, hang) must make
#                          scripts/run-qemu.sh report failure
#
# Kernel code (boot/, arch/x86_64/, kernel/, and all of mm/) builds
# freestanding with gcc; only boot/efi_main.c sees the GNU-EFI headers.

KERNEL_CC   ?= gcc
KERNEL_LD   ?= ld
KERNEL_OBJCOPY ?= objcopy
EFI_INC     ?= /usr/include/efi
EFI_LIB     ?= /usr/lib
EFI_CRT0    ?= $(EFI_LIB)/crt0-efi-x86_64.o
# Freestanding code still needs the compiler's support library (mm/ uses
# __builtin_popcountll, which is __popcountdi2 without -mpopcnt).
KERNEL_LIBGCC := $(shell $(KERNEL_CC) -print-libgcc-file-name)

MEM         ?= 512M
SMP         ?= 4
BENCH       ?= 1
QEMU_TIMEOUT ?= 180
# test-boot: MEM:SMP[:NAME=VALUE fw_cfg test hook] per boot.  The 6G boot
# spends most of its time in the heap's exhaust-memory test (the host
# zeroes guest RAM), so it runs with two CPUs; the SMP self-tests' full
# load (10^6 operations per CPU) runs in the -smp 4 boot.
TEST_BOOTS  ?= 128M:2:smp-phantom=200 512M:1 6G:2 512M:4

KERNEL_DIR  := $(BUILD)/kernel
KERNEL_OBJ  := $(KERNEL_DIR)/obj
KERNEL_ELF  := $(KERNEL_DIR)/kspan.elf
KERNEL_EFI  := $(KERNEL_DIR)/kspan.efi

KERNEL_CFLAGS := -std=gnu11 -O2 -g $(WARN) $(DBGDEF) -Iinclude -I. \
	-DKSPAN_KERNEL=1 -ffreestanding -fno-stack-protector -fno-stack-check \
	-fshort-wchar -mno-red-zone -mgeneral-regs-only -fpic \
	-maccumulate-outgoing-args -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns -MMD -MP
KERNEL_EFI_CFLAGS := -isystem $(EFI_INC) -isystem $(EFI_INC)/x86_64 \
	-DGNU_EFI_USE_MS_ABI
KERNEL_LDFLAGS := -nostdlib -shared -Bsymbolic -znocombreloc --no-undefined \
	-T linker.ld
KERNEL_EFI_SECTIONS := -j .text -j .sdata -j .data -j .rodata -j .dynamic \
	-j .dynsym -j .rel -j .rela -j .rel.* -j .rela.* -j .reloc

# kernel/test_variant.c holds the deliberately failing tests; only the
# variant kernels of test-boot-runner link it.
KERNEL_C_SRCS := $(wildcard boot/*.c) $(wildcard arch/x86_64/*.c) \
	$(filter-out kernel/test_variant.c,$(wildcard kernel/*.c)) $(MM_SRCS)
KERNEL_S_SRCS := $(wildcard arch/x86_64/*.S)
KERNEL_OBJS   := $(patsubst %.c,$(KERNEL_OBJ)/%.o,$(KERNEL_C_SRCS)) \
	$(patsubst %.S,$(KERNEL_OBJ)/%.o,$(KERNEL_S_SRCS))

$(KERNEL_OBJ)/boot/efi_main.o: KERNEL_EXTRA_CFLAGS := $(KERNEL_EFI_CFLAGS)

$(KERNEL_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(KERNEL_CC) $(KERNEL_CFLAGS) $(KERNEL_EXTRA_CFLAGS) -c $< -o $@

$(KERNEL_OBJ)/%.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(KERNEL_CC) $(KERNEL_CFLAGS) -c $< -o $@

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

$(KERNEL_DIR)/variant-%/test_variant.o: kernel/test_variant.c
	@mkdir -p $(dir $@)
	$(Q)$(KERNEL_CC) $(KERNEL_CFLAGS) \
		-DKSPAN_VARIANT_$$(echo $* | tr a-z A-Z)=1 -c $< -o $@

$(KERNEL_DIR)/variant-%/kspan.efi: $(KERNEL_OBJS) \
		$(KERNEL_DIR)/variant-%/test_variant.o linker.ld $(EFI_CRT0)
	$(call kernel_link,$(KERNEL_DIR)/variant-$*/kspan.elf,$@,$(KERNEL_OBJS) $(KERNEL_DIR)/variant-$*/test_variant.o)

-include $(KERNEL_OBJS:.o=.d) \
	$(foreach v,$(KERNEL_VARIANTS),$(KERNEL_DIR)/variant-$(v)/test_variant.d)

.PHONY: kernel kernel-variants run test-boot test-boot-runner
kernel: $(KERNEL_EFI)
kernel-variants: $(KERNEL_VARIANT_EFIS)

run: deps kernel
	$(Q)bash scripts/run-qemu.sh --kernel $(KERNEL_EFI) --mem $(MEM) \
		--smp $(SMP) --timeout $(QEMU_TIMEOUT) \
		$(if $(filter 1,$(BENCH)),--bench)

test-boot: deps kernel
	$(Q)set -e; for b in $(TEST_BOOTS); do \
		m=$${b%%:*}; rest=$${b#*:}; n=$${rest%%:*}; hook=; \
		case $$rest in *:*) hook=$${rest#*:} ;; esac; \
		echo "== test-boot: -m $$m -smp $$n$${hook:+, $$hook}"; \
		bash scripts/run-qemu.sh --kernel $(KERNEL_EFI) --mem $$m \
			--smp $$n --timeout $(QEMU_TIMEOUT) --quiet \
			$${hook:+--fw-cfg $$hook}; \
	done; echo "test-boot: all boots passed ($(TEST_BOOTS))"

test-boot-runner: deps kernel $(KERNEL_VARIANT_EFIS)
	$(Q)bash tests/boot/runner-test.sh $(KERNEL_DIR)

ALL_TARGETS  += kernel
TEST_TARGETS += test-boot test-boot-runner

# The UEFI map translation is pure C: the host suite tests it.
HOST_PURE_SRCS += boot/efi_memmap.c
# host.mk expanded its link prerequisites before this file was read.
$(HOST_TESTS): $(HOST_DIR)/obj/boot/efi_memmap.o

# The same kernel with DEBUG=1 (debug heap: red zones, poison, call sites;
# assertions and lock-order checks), booted once on 2 CPUs.
.PHONY: test-boot-debug
test-boot-debug: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/debug DEBUG=1 SMP=2 BENCH=0 run

TEST_TARGETS += test-boot-debug
