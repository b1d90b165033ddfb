# Every knob of the build, declared once, with its default; the source sets
# of each layer; the paths of the artifacts parts share.  Nothing else in
# mk/ sets a default for these, and no part depends on the order in which
# the parts are read (see Makefile).
#
# Feature switches (make VAR=value on any target):
#   DEBUG=1      the debug heap (red zones, poison, call sites, guarded
#                allocations; mm/debugheap.c), internal assertions and the
#                lock-order checks, in the kernel, libkspan.a and the
#                example kernel.  The host suites build fixed configurations
#                of their own (mk/host.mk), and `make host` always builds
#                both shims (release libkspan.so, debug libkspan-debug.so).
#   GC=0         leaves the collector out (include/kspan/gc.h): no heap
#                bitmap, mark bits, collector lists or tiny allocator.
#   RANDOMIZE=0  objects come out of a span in address order (mm/mspan.h).
#                The host shim always builds with 0 (the drop-in malloc is
#                measured against allocators that do not randomise).
# The C sources have no defaults of their own for these: every build passes
# all of them (lib/config.h stops a build that forgets one).

BUILD     ?= build
Q         ?= @
DEBUG     ?= 0
GC        ?= 1
RANDOMIZE ?= 1

# Kernel runs (make run, make debug): guest RAM, CPUs, the SMP benchmark,
# QEMU's wall-clock limit in seconds.
MEM          ?= 512M
SMP          ?= 4
BENCH        ?= 1
QEMU_TIMEOUT ?= 180

# Compilers: the kernel and libkspan.a default to gcc (CC=clang builds the
# library and the example kernel with clang); host suites and the fuzzer
# use clang (its sanitizers and libFuzzer); the host shim gcc.
ifeq ($(origin CC),default)
  LIB_CC := gcc
else
  LIB_CC := $(CC)
endif
# $(call lib_name,CC): a compiler's folder name (/usr/bin/clang-14 ->
# clang-14); $(call lib_target_flags,CC): clang builds for the bare target.
lib_name         = $(notdir $(firstword $(1)))
lib_target_flags = $(if $(findstring clang,$(call lib_name,$(1))),--target=x86_64-unknown-none-elf)
KERNEL_CC ?= gcc
HOST_CC   ?= clang
SHIM_CC   ?= gcc
FUZZ_CC   ?= clang

# $(call features,ASSERTS,DEBUG_HEAP,GC,RANDOMIZE[,OWN_SLOTS]): the -D
# flags of one configuration.  FEATURES is the one the knobs above select
# (DEBUG=1 turns on both the assertions and the debug heap).  OWN_SLOTS
# (default 0, as libkspan.a is built) is 1 for kspan's own kernel and host
# platform, which give callers slots of their own (lib/config.h).
features = -DKSPAN_DEBUG=$(1) -DKSPAN_DEBUG_HEAP=$(2) -DKSPAN_GC=$(3) \
           -DKSPAN_RANDOMIZE=$(4) -DKSPAN_OWN_SLOTS=$(if $(5),$(5),0)
FEATURES := $(call features,$(DEBUG),$(DEBUG),$(GC),$(RANDOMIZE))

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter -Werror=implicit-function-declaration

# ---- Source sets, one per layer (README.md "Layout") --------------------
# lib/: utilities; phys/: memory map and frame map; mm/: the heap.  The
# library a kernel links (libkspan.a) is all three.
LIB_SRCS    := $(sort $(wildcard lib/*.c))
PHYS_SRCS   := $(sort $(wildcard phys/*.c))
MM_SRCS     := $(sort $(wildcard mm/*.c))
KSPAN_SRCS  := $(LIB_SRCS) $(PHYS_SRCS) $(MM_SRCS)
KSPAN_HDRS  := $(wildcard include/kspan/*.h lib/*.h mm/*.h)
HOST_PLAT_SRCS := arch/host/platform.c
# Pure functions of boot/ that the host suites test.
BOOT_PURE_SRCS := boot/efi_memmap.c

# ---- Artifacts shared between parts --------------------------------------
SHIM_SO       := $(BUILD)/host/libkspan.so
SHIM_DEBUG_SO := $(BUILD)/host/libkspan-debug.so
SHIM_A        := $(BUILD)/host/libkspan.a
LIB_ARCHIVE   := $(BUILD)/libkspan.a
KERNEL_EFI    := $(BUILD)/kernel/kspan.efi
KERNEL_ELF    := $(BUILD)/kernel/kspan.elf
HOST_TEST_DIR := $(BUILD)/host/tests
