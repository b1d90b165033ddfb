# Debugging and observability tools around the allocator (docs/debugging.md).
#
#   make debug             build the kernel and boot it under QEMU (TCG)
#                          stopped at the first instruction, waiting for gdb
#                          on :1234; prints the gdb command line that
#                          attaches with the kernel's symbols
#                          (scripts/kspan-gdb.py, kspan-attach)
#   make test-heapmap      kspan_dump_heap() against a known mix, and
#                          scripts/heapmap.py's maps of it (tests/debug/heapmap.sh)
#   make test-gdb-helper   scripts/kspan-gdb.py under gdb on the same host
#                          program: the commands must report what the
#                          program knows (tests/debug/gdb-helper.sh)
#   make heapmap-example   regenerate docs/heapmap.png from the fragmented
#                          heap of test_heapdump
#
# Knobs: MEM / SMP (as for `make run`), DEBUG_TIMEOUT (seconds QEMU may run
# under `make debug`, default 3600), GDB (default gdb).

DEBUG_DIR     := $(BUILD)/debug-tools
DEBUG_TIMEOUT ?= 3600
GDB           ?= gdb
HEAPDUMP_TEST := $(HOST_TEST_DIR)/test_heapdump

.PHONY: debug test-heapmap test-gdb-helper heapmap-example

debug: deps kernel
	@echo "debug: QEMU waits for gdb on localhost:1234 (serial log $(BUILD)/qemu/debug.log)."
	@echo "debug: in another terminal, from $(CURDIR):"
	@echo ""
	@echo "    $(GDB) -q -x scripts/kspan-gdb.py -ex 'target remote :1234' -ex kspan-attach"
	@echo ""
	@echo "debug: kspan-attach runs the guest until the kernel prints its load"
	@echo "debug: offset, stops it and loads $(KERNEL_ELF) there"
	@echo "debug: (by hand: add-symbol-file $(KERNEL_ELF) -o <offset from the log>)."
	@echo "debug: QEMU stops after $(DEBUG_TIMEOUT) s (DEBUG_TIMEOUT); Ctrl-C here ends it."
	$(Q)bash scripts/run-qemu.sh --kernel $(KERNEL_EFI) --mem $(MEM) --smp $(SMP) \
		--timeout $(DEBUG_TIMEOUT) --name debug --log $(BUILD)/qemu/debug.log \
		-- -s -S || true

test-heapmap: deps $(HEAPDUMP_TEST)
	$(Q)bash tests/debug/heapmap.sh $(HEAPDUMP_TEST) $(DEBUG_DIR)

test-gdb-helper: deps $(HEAPDUMP_TEST)
	$(Q)bash tests/debug/gdb-helper.sh $(HEAPDUMP_TEST) $(DEBUG_DIR) $(GDB)

heapmap-example: $(HEAPDUMP_TEST)
	$(Q)mkdir -p $(DEBUG_DIR)
	$(Q)KSPAN_HEAPDUMP_EXAMPLE=$(DEBUG_DIR)/heapdump-example.txt $(HEAPDUMP_TEST) \
		>$(DEBUG_DIR)/test_heapdump.log 2>&1 || { cat $(DEBUG_DIR)/test_heapdump.log; exit 1; }
	$(Q)python3 scripts/heapmap.py $(DEBUG_DIR)/heapdump-example.txt -o docs/heapmap.png && \
		python3 scripts/heapmap.py $(DEBUG_DIR)/heapdump-example.txt --verify docs/heapmap.png
