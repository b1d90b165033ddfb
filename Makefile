# kspan — top-level build.  See README.md.
#
#   make run    boot the kernel under QEMU (OVMF, TCG), run its self-tests,
#               print the report; exits non-zero if anything failed
#   make test   every test: host cmocka suites (ASan+UBSan), QEMU boots, ...
#
# Each part of the build lives in mk/<part>.mk and adds itself to the
# TEST_TARGETS / ALL_TARGETS lists; this file only ties them together.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

include mk/common.mk
include $(sort $(filter-out mk/common.mk,$(wildcard mk/*.mk)))

.PHONY: all test clean deps
all: $(ALL_TARGETS)

# Tests run one after the other so that their output reads in order and the
# QEMU boots do not compete for the two cores.
test: deps
	@set -e; for t in $(TEST_TARGETS); do $(MAKE) --no-print-directory $$t; done
	@echo "make test: all suites passed"

clean:
	rm -rf $(BUILD)
