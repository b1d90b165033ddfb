# kspan -- top-level build.  See README.md.
#
#   make run    boot the kernel under QEMU (OVMF, TCG), run its self-tests,
#               print the report; exits non-zero if anything failed
#   make test   every test, in the order of TEST_TARGETS below
#
# mk/config.mk declares every knob and its default, mk/rules.mk the one way
# sources are compiled (object sets); each other mk/<part>.mk builds one
# part and may be read in any order.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

include mk/config.mk
include mk/rules.mk
include $(filter-out mk/config.mk mk/rules.mk,$(sort $(wildcard mk/*.mk)))

ALL_TARGETS := host-tests host lib kernel example bench-bin bench-gc-bin

# The suites of `make test`, one after the other, so that their output
# reads in order and the QEMU boots do not compete for the cores.
TEST_TARGETS := test-layers test-sizeclass-gen test-host test-host-tsan \
	test-lib test-example test-boot test-boot-runner test-boot-debug test-boot-nogc \
	test-heapmap test-gdb-helper test-preload test-misuse test-fuzz \
	bench-smoke bench-gc-smoke

.PHONY: all test clean deps test-layers
all: $(ALL_TARGETS)

test: deps
	@set -e; for t in $(TEST_TARGETS); do $(MAKE) --no-print-directory $$t; done
	@echo "make test: all suites passed"

# Which folder may include which (README.md "Layout").
test-layers:
	$(Q)python3 tests/layers.py

clean:
	rm -rf $(BUILD)

# Packages the project needs (Debian).  scripts/deps.sh installs the missing
# ones; the stamp keeps it from asking apt twice.
DEPS_STAMP := $(BUILD)/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	$(Q)bash scripts/deps.sh
	$(Q)mkdir -p $(dir $@) && touch $@
