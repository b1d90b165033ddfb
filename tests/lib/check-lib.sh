#!/usr/bin/env bash
# Every check of one built libkspan.a (make test-lib runs it per compiler):
#   1. check-undefined.sh: it needs only the ks_plat_* hooks and mem*;
#   2. check-api.sh: it defines exactly the public headers' functions;
#   3. a kernel that defines its own arena_init, mheap_alloc, gc_mark and
#      ks_panic (names kspan uses inside) links with it, and kspan's calls
#      still reach kspan's own functions;
#   4. the figures docs/porting.md quotes match the gcc build
#      (tests/lib/lib-figures.sh).
#
# Usage: check-lib.sh ARCHIVE CC ARCHIVE_1CPU
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 ARCHIVE CC ARCHIVE_1CPU" >&2; exit 2; }
ar_path=$1
cc=$2
ar1=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bash "$here/check-undefined.sh" "$ar_path" "$root/include/kspan/platform.h"
bash "$here/check-api.sh" "$ar_path" "$root/include/kspan"

# 3. Name clashes.  clash.c defines the internal names and stub hooks; the
# link must succeed, and the library's own kmalloc must still call the
# library's mheap_alloc (a local symbol), not the kernel's.
target=
case $cc in *clang*) target=--target=x86_64-unknown-none-elf ;; esac
"$cc" $target -std=gnu11 -ffreestanding -fno-pic -fno-pie -mcmodel=kernel \
	-mno-red-zone -mgeneral-regs-only -fno-stack-protector -O1 \
	-I"$root/include" -c "$here/clash.c" -o "$tmp/clash.o"
if ! ld -nostdlib -static -e clash_entry -Ttext=0xffffffff80100000 \
	-o "$tmp/clash.elf" "$tmp/clash.o" "$ar_path" 2>"$tmp/ld.log"; then
	echo "check-lib: FAIL: a kernel defining arena_init, mheap_alloc, gc_mark and ks_panic does not link with $ar_path:" >&2
	cat "$tmp/ld.log" >&2
	exit 1
fi
for s in arena_init mheap_alloc ks_panic; do
	n=$(nm "$tmp/clash.elf" | awk -v s="$s" '$3 == s' | wc -l)
	if [ "$n" -lt 2 ]; then
		echo "check-lib: FAIL: expected the kernel's $s and kspan's own (local) one, found $n" >&2
		exit 1
	fi
done
echo "check-lib: ok: a kernel with its own arena_init, mheap_alloc, gc_mark and ks_panic links with $ar_path"

# 4. The guide's figures (it quotes the default build, gcc's).
case $cc in
gcc) bash "$here/lib-figures.sh" --check "$root/docs/porting.md" "$ar_path" "$ar1" ;;
*) bash "$here/lib-figures.sh" "$ar_path" "$ar1" ;;
esac
