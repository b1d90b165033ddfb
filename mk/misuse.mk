# Memory-misuse scoreboard (issue 11): small programs with one heap bug each
# (tests/misuse/cases/), run under glibc, jemalloc, tcmalloc, mimalloc and
# kspan's shims; tests/misuse/run.py says who caught what, where.
#
#   make misuse        build the cases into build/misuse/bin, run them under
#                      every configuration present, print the table and
#                      write build/misuse/results.{md,json} (informational:
#                      fails only if a case does not build)
#   make test-misuse   the same, then require kspan's configurations to catch
#                      what the case headers expect of them: kspan release
#                      (every double and invalid free, the API checks, clean
#                      controls) and the guard configurations of the debug
#                      shim (kspan-guard: KSPAN_GUARD=all KSPAN_GUARD_ALIGN=1; kspan-guard-below:
#                      KSPAN_GUARD=all KSPAN_GUARD_BELOW=1: every overflow,
#                      underflow and use after free their headers expect, at
#                      the access)
#   make misuse-bin    build the cases only
#
# Knobs: MISUSE_REQUIRE=a,b (configurations test-misuse requires, instead of
# the default above), MISUSE_CASES=a,b / MISUSE_CONFIGS=a,b (a subset),
# MISUSE_TIMEOUT (seconds per run, default 10), MISUSE_REPEAT (runs of each
# case per configuration, default 2: an outcome that differs between runs
# shows as "varies"), MISUSE_CC (default cc),
# MISUSE_KSPAN_SO / MISUSE_DEBUG_SO (the libraries to preload).
#
# Both shims come from the `host` target (mk/shim.mk).

MISUSE_DIR      := $(BUILD)/misuse
MISUSE_PY       ?= python3
MISUSE_CC       ?= cc
MISUSE_TIMEOUT  ?= 10
MISUSE_REPEAT   ?= 2
MISUSE_KSPAN_SO ?= $(SHIM_SO)
MISUSE_DEBUG_SO ?= $(SHIM_DEBUG_SO)
# What test-misuse requires: kspan release and the debug shim's guard modes.
MISUSE_REQUIRE  ?= kspan,kspan-guard,kspan-guard-below

MISUSE_ARGS = --build $(MISUSE_DIR) --cc '$(MISUSE_CC)' --timeout $(MISUSE_TIMEOUT) --repeat $(MISUSE_REPEAT) \
              --kspan $(MISUSE_KSPAN_SO) --kspan-debug $(MISUSE_DEBUG_SO) \
              $(if $(MISUSE_CASES),--cases $(MISUSE_CASES)) \
              $(if $(MISUSE_CONFIGS),--configs $(MISUSE_CONFIGS))

.PHONY: misuse test-misuse misuse-bin misuse-libs

misuse-bin:
	$(Q)$(MISUSE_PY) tests/misuse/run.py $(MISUSE_ARGS) --build-only

misuse-libs: host

misuse: deps misuse-libs
	$(Q)$(MISUSE_PY) tests/misuse/run.py $(MISUSE_ARGS)

test-misuse: deps misuse-libs
	$(Q)$(MISUSE_PY) tests/misuse/run.py $(MISUSE_ARGS) --require $(MISUSE_REQUIRE)
