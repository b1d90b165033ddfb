#!/usr/bin/env bash
# The kernel's figure of `make fastpath`: boot the release kernel on one CPU
# under QEMU with -icount shift=0, where the guest's TSC counts its
# instructions, and run only the "fastpath" self-test
# (tests/kernel/fastpath.c): instructions per kmalloc(32)+kfree pair and per
# kmem_cache_alloc+kmem_cache_free pair of a 32-byte cache, the
# calls included and the loop's own instructions subtracted, as the host's
# callgrind figures.
#
# Usage: tests/perf/kfastpath.sh KERNEL.efi OUT_DIR
set -euo pipefail
efi=${1:?usage: $0 KERNEL.efi OUT_DIR}
dir=${2:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir"
log=$dir/kfastpath.log
# OVMF boots slowly with -icount; the test itself takes a second.
if ! bash "$here/../../scripts/run-qemu.sh" --kernel "$efi" --smp 1 --quiet \
	--name kfastpath --log "$log" --timeout "${QEMU_TIMEOUT:-400}" \
	--fw-cfg only=fastpath -- -icount shift=0 >"$dir/kfastpath.verdict" 2>&1; then
	cat "$dir/kfastpath.verdict" >&2
	exit 1
fi
line=$(grep -a '^fastpath: kmalloc' "$log" | tail -1)
[ -n "$line" ] || { echo "kfastpath: no figure in $log" >&2; exit 1; }
per=$(sed -n 's/^fastpath: kmalloc([0-9]*)+kfree: \([0-9.]*\) per pair, loop \([0-9.]*\).*/\1 \2/p' <<<"$line")
set -- $per
echo "kernel: kmalloc(32)+kfree: $1 instructions per pair (QEMU -icount, loop $2 subtracted; calls included)"
cline=$(grep -a '^fastpath: kmem_cache_alloc' "$log" | tail -1)
cper=$(sed -n 's/^fastpath: kmem_cache_alloc+kmem_cache_free (\([0-9]*\)-byte cache): \([0-9.]*\) per pair.*/\2/p' <<<"$cline")
[ -n "$cper" ] || { echo "kfastpath: no kmem_cache figure in $log" >&2; exit 1; }
echo "kernel: kmem_cache_alloc+kmem_cache_free (32-byte cache): $cper instructions per pair (QEMU -icount, the same loop subtracted)"
