#!/usr/bin/env bash
# test-heapmap: tests/host/test_heapdump checks kspan_dump_heap() against a
# known mix and writes the dump; scripts/heapmap.py renders it from a mock
# serial log (the dump embedded among other lines, fed once from a file and
# once on stdin), with the stdlib PNG encoder and, when a python3 has it,
# matplotlib; each PNG is decoded and checked against the dump.
#
# Usage: heapmap.sh PROGRAM OUT_DIR
set -eu
bin=${1:?usage: $0 PROGRAM OUT_DIR}
dir=${2:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
mkdir -p $dir
rm -f $dir/heapdump.txt $dir/heapmap*.png
KSPAN_HEAPDUMP_OUT=$dir/heapdump.txt ASAN_OPTIONS=detect_leaks=1 \
	$bin >$dir/test_heapdump.log 2>&1 || \
	{ cat $dir/test_heapdump.log; exit 1; }
grep -q 'PASSED' $dir/test_heapdump.log && test -s $dir/heapdump.txt
{ echo "kspan: kernel running; some boot line"; \
      echo "ok 1 - a self-test"; \
      sed -n '1,3p' $dir/heapdump.txt | sed 's/$/\r/'; \
      echo "# a log line in the middle of the dump"; \
      sed -n '4,$p' $dir/heapdump.txt; \
      echo "42 passed, 0 failed"; } >$dir/heapdump-serial.log
python3 scripts/heapmap.py --backend stdlib $dir/heapdump-serial.log \
	-o $dir/heapmap.png
python3 scripts/heapmap.py $dir/heapdump.txt --verify $dir/heapmap.png
python3 scripts/heapmap.py --backend stdlib -o $dir/heapmap-stdin.png \
	<$dir/heapdump-serial.log >/dev/null
cmp -s $dir/heapmap.png $dir/heapmap-stdin.png || \
	{ echo "test-heapmap: the map from stdin differs from the map from the file"; exit 1; }
if ! python3 scripts/heapmap.py --backend stdlib $dir/test_heapdump.log \
	-o $dir/heapmap-none.png >/dev/null 2>&1; then :; else \
	echo "test-heapmap: a log without a dump was accepted"; exit 1; fi
mpl=; for p in python3 /usr/bin/python3; do \
	if $p -c 'import matplotlib' >/dev/null 2>&1; then mpl=$p; break; fi; done; \
if [ -n "$mpl" ]; then \
	$mpl scripts/heapmap.py --backend matplotlib $dir/heapdump-serial.log \
		-o $dir/heapmap-mpl.png >/dev/null && \
	python3 scripts/heapmap.py $dir/heapdump.txt --verify $dir/heapmap-mpl.png; \
else echo "test-heapmap: no python3 with matplotlib; the stdlib renderer was checked"; fi
echo "test-heapmap: dump checked by test_heapdump, maps in $dir/heapmap*.png"
