# Shared definitions for every part of the build.

BUILD    ?= build
DEBUG    ?= 0
Q        ?= @

# The allocator sources: the very same files build freestanding (kernel,
# libkspan.a) and for the host (tests, shim).
MM_SRCS  := $(sort $(wildcard mm/*.c))
MM_HDRS  := $(wildcard mm/*.h include/kspan/*.h)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Werror=implicit-function-declaration
# DEBUG=1: internal assertions, lock checks and the debug heap (red zones,
# poison, call sites: mm/debugheap.c).
ifeq ($(DEBUG),1)
  DBGDEF := -DKSPAN_DEBUG=1 -DKSPAN_DEBUG_HEAP=1
else
  DBGDEF := -DKSPAN_DEBUG=0 -DKSPAN_DEBUG_HEAP=0
endif
# GC=0 builds kspan without the collector (include/kspan/gc.h).
GC       ?= 1
DBGDEF   += -DKSPAN_GC=$(GC)
# RANDOMIZE=0: objects come out of a span in address order (mm/mspan.h).
RANDOMIZE ?= 1
DBGDEF   += -DKSPAN_RANDOMIZE=$(RANDOMIZE)

ALL_TARGETS  :=
TEST_TARGETS :=

# Packages the project needs (Debian).  scripts/deps.sh installs the missing
# ones; the stamp keeps it from asking apt twice.
DEPS_STAMP := $(BUILD)/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	$(Q)bash scripts/deps.sh
	$(Q)mkdir -p $(dir $@) && touch $@
