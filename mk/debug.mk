# Debugging and observability tools around the allocator (docs/debugging.md).
#
#   make debug             build the kernel and boot it under QEMU (TCG)
#                          stopped at the first instruction, waiting for gdb
#                          on :1234; prints the gdb command line that
#                          attaches with the kernel's symbols
#                          (scripts/kspan-gdb.py, kspan-attach)
#   make test-heapmap      the host suite tests/host/test_heapdump.c checks
#                          kspan_dump_heap() against a known mix and writes
#                          the dump; scripts/heapmap.py renders it from a
#                          mock serial log (stdlib PNG encoder, and
#                          matplotlib when a python3 has it); each PNG is
#                          decoded and checked (part of `make test`)
#   make test-gdb-helper   scripts/kspan-gdb.py under gdb on the same host
#                          program, stopped with a known mix allocated: the
#                          commands must report what the program knows
#                          (part of `make test`)
#   make heapmap-example   regenerate docs/heapmap.png from the fragmented
#                          heap of test_heapdump
#
# Knobs: MEM / SMP (as for `make run`), DEBUG_TIMEOUT (seconds QEMU may run
# under `make debug`, default 3600), GDB (default gdb).

DEBUG_DIR      := $(BUILD)/debug
DEBUG_TIMEOUT  ?= 3600
GDB            ?= gdb
# (host.mk, which defines HOST_DIR, is read after this file)
HEAPDUMP_TEST  := $(BUILD)/host/tests/test_heapdump
# A python3 with matplotlib, if any (Debian's python3-matplotlib): the
# first of these that can import it.
MPL_PYTHONS    ?= python3 /usr/bin/python3

.PHONY: debug test-heapmap test-gdb-helper heapmap-example

debug: deps kernel
	@echo "debug: QEMU waits for gdb on localhost:1234 (serial log build/qemu/debug.log)."
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

# The dump is embedded in a mock serial log (other lines before, between
# and after) to exercise the extraction, and fed on stdin once.
test-heapmap: deps $(HEAPDUMP_TEST)
	$(Q)mkdir -p $(DEBUG_DIR)
	$(Q)rm -f $(DEBUG_DIR)/heapdump.txt $(DEBUG_DIR)/heapmap*.png
	$(Q)KSPAN_HEAPDUMP_OUT=$(DEBUG_DIR)/heapdump.txt ASAN_OPTIONS=detect_leaks=1 \
		$(HEAPDUMP_TEST) >$(DEBUG_DIR)/test_heapdump.log 2>&1 || \
		{ cat $(DEBUG_DIR)/test_heapdump.log; exit 1; }
	$(Q)grep -q 'PASSED' $(DEBUG_DIR)/test_heapdump.log && test -s $(DEBUG_DIR)/heapdump.txt
	$(Q){ echo "kspan: kernel running; some boot line"; \
	      echo "ok 1 - a self-test"; \
	      sed -n '1,3p' $(DEBUG_DIR)/heapdump.txt | sed 's/$$/\r/'; \
	      echo "# a log line in the middle of the dump"; \
	      sed -n '4,$$p' $(DEBUG_DIR)/heapdump.txt; \
	      echo "42 passed, 0 failed"; } >$(DEBUG_DIR)/heapdump-serial.log
	$(Q)python3 scripts/heapmap.py --backend stdlib $(DEBUG_DIR)/heapdump-serial.log \
		-o $(DEBUG_DIR)/heapmap.png
	$(Q)python3 scripts/heapmap.py $(DEBUG_DIR)/heapdump.txt --verify $(DEBUG_DIR)/heapmap.png
	$(Q)python3 scripts/heapmap.py --backend stdlib -o $(DEBUG_DIR)/heapmap-stdin.png \
		<$(DEBUG_DIR)/heapdump-serial.log >/dev/null
	$(Q)cmp -s $(DEBUG_DIR)/heapmap.png $(DEBUG_DIR)/heapmap-stdin.png || \
		{ echo "test-heapmap: the map from stdin differs from the map from the file"; exit 1; }
	$(Q)if ! python3 scripts/heapmap.py --backend stdlib $(DEBUG_DIR)/test_heapdump.log \
		-o $(DEBUG_DIR)/heapmap-none.png >/dev/null 2>&1; then :; else \
		echo "test-heapmap: a log without a dump was accepted"; exit 1; fi
	$(Q)mpl=; for p in $(MPL_PYTHONS); do \
		if $$p -c 'import matplotlib' >/dev/null 2>&1; then mpl=$$p; break; fi; done; \
	if [ -n "$$mpl" ]; then \
		$$mpl scripts/heapmap.py --backend matplotlib $(DEBUG_DIR)/heapdump-serial.log \
			-o $(DEBUG_DIR)/heapmap-mpl.png >/dev/null && \
		python3 scripts/heapmap.py $(DEBUG_DIR)/heapdump.txt --verify $(DEBUG_DIR)/heapmap-mpl.png; \
	else echo "test-heapmap: no python3 with matplotlib; the stdlib renderer was checked"; fi
	@echo "test-heapmap: dump checked by test_heapdump, maps in $(DEBUG_DIR)/heapmap*.png"

# gdb stops test_heapdump in heapdump_gdb_probe(), with a known mix live
# (heapdump_probe[] = a 100-byte object, a 100000-byte one, a 3-page kpages
# block, a 1000-byte object; heapdump_probe_ksize[] = their ksize()).  The
# helper's answers are compared with what the program and gdb itself say,
# and kspan-dump (read by gdb) with kspan_dump_heap() (called in the
# program by gdb): the two must be identical.
GDB_HELPER_CMDS := \
	-ex 'set startup-with-shell off' -ex 'set pagination off' \
	-ex 'break heapdump_gdb_probe' -ex 'run' \
	-ex 'printf "EXPECT ksize %lu %lu %lu %lu\n", heapdump_probe_ksize[0], heapdump_probe_ksize[1], heapdump_probe_ksize[2], heapdump_probe_ksize[3]' \
	-ex 'printf "EXPECT addr %\#lx %\#lx %\#lx\n", (unsigned long)heapdump_probe[0], (unsigned long)heapdump_probe[1], (unsigned long)heapdump_probe[3]' \
	-ex 'echo ==span0\n' -ex 'kspan-span heapdump_probe[0]' \
	-ex 'echo ==span1\n' -ex 'kspan-span (char *)heapdump_probe[1] + 20000' \
	-ex 'echo ==span2\n' -ex 'kspan-span heapdump_probe[2]' \
	-ex 'echo ==span3\n' -ex 'kspan-span (char *)heapdump_probe[3] + 6' \
	-ex 'echo ==outside\n' -ex 'kspan-span &heapdump_probe' \
	-ex 'echo ==mcentral\n' -ex 'kspan-mcentral 17' \
	-ex 'echo ==mcache\n' -ex 'kspan-mcache 0' \
	-ex 'echo ==heap\n' -ex 'kspan-heap' \
	-ex 'echo ==cdump\n' -ex 'call (void)kspan_dump_heap()' \
	-ex 'echo ==pydump\n' -ex 'kspan-dump' \
	-ex 'echo ==end\n' -ex 'kill'

test-gdb-helper: deps $(HEAPDUMP_TEST)
	$(Q)mkdir -p $(DEBUG_DIR)
	$(Q)command -v $(GDB) >/dev/null || { echo "test-gdb-helper: $(GDB) not found (scripts/deps.sh installs gdb)"; exit 1; }
	$(Q)ASAN_OPTIONS=detect_leaks=0 timeout 120 $(GDB) -q -batch -nx \
		-x scripts/kspan-gdb.py $(GDB_HELPER_CMDS) $(HEAPDUMP_TEST) \
		>$(DEBUG_DIR)/gdb-helper.log 2>&1 || true
	$(Q)log=$(DEBUG_DIR)/gdb-helper.log; \
	sect() { sed -n "/^==$$1\$$/,/^==/p" $$log; }; \
	fail() { echo "test-gdb-helper: FAILED: $$*"; sed 's/^/  | /' $$log | tail -n 80; exit 1; }; \
	grep -q '^==end$$' $$log || fail "gdb did not get through the commands"; \
	set -- $$(sed -n 's/^EXPECT ksize //p' $$log); \
	[ $$# -eq 4 ] || fail "no EXPECT line"; \
	k0=$$1; k1=$$2; k2=$$3; k3=$$4; \
	set -- $$(sed -n 's/^EXPECT addr //p' $$log); \
	[ $$# -eq 3 ] || fail "no EXPECT addr line"; \
	a0=$$1; base=$$2; a3=$$3; \
	sect span0 | grep -q "state inuse" || fail "span0: not in use"; \
	sect span0 | grep -q "sizeclass 8 noscan, elemsize $$k0, nelems 73" || fail "span0: class 8 / elemsize $$k0 / 73 objects"; \
	sect span0 | grep -Eq "object [0-9]+ at $$a0 \(its start\), allocated" || fail "span0: object $$a0 not found allocated"; \
	sect span1 | grep -q "base $$base " || fail "span1: base $$base"; \
	sect span1 | grep -q "npages $$((k1 / 8192)) " || fail "span1: npages $$((k1 / 8192))"; \
	sect span1 | grep -q "spanclass 0: large object, $$k1 bytes" || fail "span1: large object of $$k1 bytes"; \
	sect span1 | grep -q "20000 bytes into it" || fail "span1: interior offset"; \
	sect span2 | grep -q "kpages block (manual), $$k2 bytes" || fail "span2: kpages block"; \
	sect span2 | grep -q "npages 3 " || fail "span2: 3 pages"; \
	sect span3 | grep -q "elemsize $$k3, nelems 8" || fail "span3: elemsize $$k3"; \
	sect span3 | grep -Eq "object [0-9]+ at $$a3 \(6 bytes into it\), allocated" || fail "span3: object $$a3 + 6"; \
	sect outside | grep -q "is not in the used arena" || fail "outside: an address outside the arena"; \
	sect mcentral | grep -q "ks_mcentral\[17\]: size class 8 ($$k0 B), noscan" || fail "mcentral: header"; \
	sect mcentral | grep -q "class 8 ($$k0 B) free [0-9]*/73 owner cpu 0" || fail "mcentral: the span cpu 0 caches"; \
	[ $$(sect mcentral | grep -c "^    span ") -eq 3 ] || fail "mcentral: 3 spans of class 8 (150 objects, 73 per span)"; \
	sect mcache | grep -q "alloc\[17\] class 8 ($$k0 B)" || fail "mcache: alloc[17]"; \
	sect mcache | grep -q "alloc\[63\] class 31 ($$k3 B)" || fail "mcache: alloc[63]"; \
	sect heap | grep -q "^arena: \[0x" || fail "heap: arena line"; \
	sect heap | grep -Eq "large_inuse [1-9]" || fail "heap: large objects"; \
	sect heap | grep -q "17(class 8):3" || fail "heap: spans per class"; \
	sect cdump | sed -n '/^kspan-heapdump v1/,/^end$$/p' >$(DEBUG_DIR)/gdb-cdump.txt; \
	sect pydump | sed -n '/^kspan-heapdump v1/,/^end$$/p' >$(DEBUG_DIR)/gdb-pydump.txt; \
	grep -q '^span ' $(DEBUG_DIR)/gdb-cdump.txt || fail "kspan_dump_heap() called from gdb printed no dump"; \
	cmp -s $(DEBUG_DIR)/gdb-cdump.txt $(DEBUG_DIR)/gdb-pydump.txt || \
		fail "kspan-dump differs from kspan_dump_heap(): $$(diff $(DEBUG_DIR)/gdb-cdump.txt $(DEBUG_DIR)/gdb-pydump.txt | head -5)"; \
	echo "test-gdb-helper: kspan-span / kspan-mcentral / kspan-mcache / kspan-heap agree with the program, kspan-dump with kspan_dump_heap() (log $$log)"

heapmap-example: $(HEAPDUMP_TEST)
	$(Q)mkdir -p $(DEBUG_DIR)
	$(Q)KSPAN_HEAPDUMP_EXAMPLE=$(DEBUG_DIR)/heapdump-example.txt $(HEAPDUMP_TEST) \
		>$(DEBUG_DIR)/test_heapdump.log 2>&1 || { cat $(DEBUG_DIR)/test_heapdump.log; exit 1; }
	$(Q)py=python3; for p in $(MPL_PYTHONS); do \
		if $$p -c 'import matplotlib' >/dev/null 2>&1; then py=$$p; break; fi; done; \
	$$py scripts/heapmap.py $(DEBUG_DIR)/heapdump-example.txt -o docs/heapmap.png && \
	python3 scripts/heapmap.py $(DEBUG_DIR)/heapdump-example.txt --verify docs/heapmap.png

TEST_TARGETS += test-heapmap test-gdb-helper
