#!/usr/bin/env bash
# test-gdb-helper: scripts/kspan-gdb.py under gdb on a host program
# (tests/host/test_heapdump), stopped in heapdump_gdb_probe() with a known
# mix live (heapdump_probe[] = a 100-byte object, a 100000-byte one, a
# 3-page kpages block, a 1000-byte object; heapdump_probe_ksize[] = their
# ksize()).  The helper's answers are compared with what the program and
# gdb itself say, and kspan-dump (read by gdb) with kspan_dump_heap()
# (called in the program by gdb): the two must be identical.
#
# Usage: gdb-helper.sh PROGRAM OUT_DIR [GDB]
set -u
bin=${1:?usage: $0 PROGRAM OUT_DIR [GDB]}
dir=${2:?}
gdb=${3:-gdb}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
mkdir -p "$dir"
cmds=(
	-ex 'set startup-with-shell off' -ex 'set pagination off'
	-ex 'break heapdump_gdb_probe' -ex 'run'
	-ex 'printf "EXPECT ksize %lu %lu %lu %lu\n", heapdump_probe_ksize[0], heapdump_probe_ksize[1], heapdump_probe_ksize[2], heapdump_probe_ksize[3]'
	-ex 'printf "EXPECT addr %#lx %#lx %#lx\n", (unsigned long)heapdump_probe[0], (unsigned long)heapdump_probe[1], (unsigned long)heapdump_probe[3]'
	-ex 'echo ==span0\n' -ex 'kspan-span heapdump_probe[0]'
	-ex 'echo ==span1\n' -ex 'kspan-span (char *)heapdump_probe[1] + 20000'
	-ex 'echo ==span2\n' -ex 'kspan-span heapdump_probe[2]'
	-ex 'echo ==span3\n' -ex 'kspan-span (char *)heapdump_probe[3] + 6'
	-ex 'echo ==outside\n' -ex 'kspan-span &heapdump_probe'
	-ex 'echo ==mcentral\n' -ex 'kspan-mcentral 17'
	-ex 'echo ==mcache\n' -ex 'kspan-mcache 0'
	-ex 'echo ==heap\n' -ex 'kspan-heap'
	-ex 'echo ==caches\n' -ex 'kspan-caches'
	-ex 'echo ==cspan\n' -ex 'kspan-span heapdump_probe_cobj'
	-ex 'echo ==cdump\n' -ex 'call (void)kspan_dump_heap()'
	-ex 'echo ==pydump\n' -ex 'kspan-dump'
	-ex 'echo ==end\n' -ex 'kill'
)
mkdir -p $dir
command -v $gdb >/dev/null || { echo "test-gdb-helper: $gdb not found (scripts/deps.sh installs gdb)"; exit 1; }
ASAN_OPTIONS=detect_leaks=0 timeout 120 $gdb -q -batch -nx \
	-x scripts/kspan-gdb.py "${cmds[@]}" $bin \
	>$dir/gdb-helper.log 2>&1 || true
log=$dir/gdb-helper.log; \
sect() { sed -n "/^==$1\$/,/^==/p" $log; }; \
fail() { echo "test-gdb-helper: FAILED: $*"; sed 's/^/  | /' $log | tail -n 80; exit 1; }; \
grep -q '^==end$' $log || fail "gdb did not get through the commands"; \
set -- $(sed -n 's/^EXPECT ksize //p' $log); \
[ $# -eq 4 ] || fail "no EXPECT line"; \
k0=$1; k1=$2; k2=$3; k3=$4; \
set -- $(sed -n 's/^EXPECT addr //p' $log); \
[ $# -eq 3 ] || fail "no EXPECT addr line"; \
a0=$1; base=$2; a3=$3; \
sect span0 | grep -q "state inuse" || fail "span0: not in use"; \
sect span0 | grep -q "sizeclass 8 noscan, elemsize $k0, nelems 73" || fail "span0: class 8 / elemsize $k0 / 73 objects"; \
sect span0 | grep -Eq "object [0-9]+ at $a0 \(its start\), allocated" || fail "span0: object $a0 not found allocated"; \
sect span1 | grep -q "base $base " || fail "span1: base $base"; \
sect span1 | grep -q "npages $((k1 / 8192)) " || fail "span1: npages $((k1 / 8192))"; \
sect span1 | grep -q "spanclass 0: large object, $k1 bytes" || fail "span1: large object of $k1 bytes"; \
sect span1 | grep -q "20000 bytes into it" || fail "span1: interior offset"; \
sect span2 | grep -q "kpages block (manual), $k2 bytes" || fail "span2: kpages block"; \
sect span2 | grep -q "npages 3 " || fail "span2: 3 pages"; \
sect span3 | grep -q "elemsize $k3, nelems 32" || fail "span3: elemsize $k3, 32 objects a span"; \
sect span3 | grep -Eq "object [0-9]+ at $a3 \(6 bytes into it\), allocated" || fail "span3: object $a3 + 6"; \
sect outside | grep -q "is not in the used arena" || fail "outside: an address outside the arena"; \
sect mcentral | grep -q "ks_mcentral\[17\]: size class 8 ($k0 B), noscan" || fail "mcentral: header"; \
sect mcentral | grep -q "class 8 ($k0 B) free [0-9]*/73 owner cpu 0" || fail "mcentral: the span cpu 0 caches"; \
[ $(sect mcentral | grep -c "^    span ") -eq 3 ] || fail "mcentral: 3 spans of class 8 (150 objects, 73 per span)"; \
sect mcache | grep -q "class 8 ($k0 B): cur span" || fail "mcache: class 8's current span"; \
sect mcache | grep -q "class 31 ($k3 B): cur span" || fail "mcache: class 31's current span"; \
sect heap | grep -q "^arena: \[0x" || fail "heap: arena line"; \
sect heap | grep -Eq "large_inuse [1-9]" || fail "heap: large objects"; \
sect heap | grep -q "17(class 8):3" || fail "heap: spans per class"; \
sect caches | grep -Eq '^cache [0-9]+ "probe_cache" at 0x[0-9a-f]+: size 200, align 8, elemsize 200, 40 objects in 1-page spans, 3 spans; per-CPU fast path' || fail "caches: probe_cache"; \
sect caches | grep -q "cpu 0: " || fail "caches: cpu 0 holds spans of probe_cache"; \
sect cspan | grep -q 'object cache "probe_cache"' || fail "cspan: the span names its cache"; \
sect cspan | grep -Eq "object [0-9]+ at 0x[0-9a-f]+ \(its start\), allocated" || fail "cspan: the cache object"; \
sect cdump | sed -n '/^kspan-heapdump v1/,/^end$/p' >$dir/gdb-cdump.txt; \
sect pydump | sed -n '/^kspan-heapdump v1/,/^end$/p' >$dir/gdb-pydump.txt; \
grep -q '^span ' $dir/gdb-cdump.txt || fail "kspan_dump_heap() called from gdb printed no dump"; \
cmp -s $dir/gdb-cdump.txt $dir/gdb-pydump.txt || \
	fail "kspan-dump differs from kspan_dump_heap(): $(diff $dir/gdb-cdump.txt $dir/gdb-pydump.txt | head -5)"; \
echo "test-gdb-helper: kspan-span / kspan-mcentral / kspan-mcache / kspan-heap / kspan-caches agree with the program, kspan-dump with kspan_dump_heap() (log $log)"
