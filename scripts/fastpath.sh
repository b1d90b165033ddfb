#!/usr/bin/env bash
# Instructions per kmalloc+kfree pair on the cached path, counted by
# valgrind --tool=callgrind (repeatable on a noisy machine, unlike time).
#
# Usage: scripts/fastpath.sh BINARY [SIZE] [BATCH] [bulk|cache]
# Runs BINARY N SIZE BATCH [bulk|cache] with N = 100000 and 200000 and
# prints (Ir(2N) - Ir(N)) / (N * BATCH): the steady-state cost of one pair,
# less the same loop's without kmalloc and kfree (BINARY ... empty); with
# cache, of a kmem_cache_alloc + kmem_cache_free pair of a SIZE-byte cache
# (the same loop); with bulk, of one object through kmalloc_bulk +
# kfree_bulk, the few instructions of its loop included.
set -euo pipefail
bin=$1
size=${2:-32}
batch=${3:-1}
mode=${4:-}
collect=
n=100000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() {
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" $collect \
		"$bin" "$1" "$size" "$batch" $mode >/dev/null 2>"$tmp/log.$1" || {
		cat "$tmp/log.$1" >&2
		exit 1
	}
	grep -E '^(summary|totals):' "$tmp/cg.$1" | head -1 | awk '{print $2}'
}

a=$(count $n)
b=$(count $((2 * n)))
if [ "$mode" != bulk ]; then
	keep=$mode
	mode=empty
	ea=$(count $n)
	eb=$(count $((2 * n)))
	mode=$keep
else
	ea=0 eb=0
	# kfree_bulk's share: callgrind collecting inside it only.

	collect="--collect-atstart=no --toggle-collect=kfree_bulk"
	fa=$(count $n)
	fb=$(count $((2 * n)))
	collect=
	awk -v a="$fa" -v b="$fb" -v n="$n" -v k="$batch" \
		'BEGIN { printf "  of which kfree_bulk: %.1f per object, kmalloc_bulk and the loop: the rest\n", (b - a) / (n * k) }' >"$tmp/free.txt"
fi
awk -v a="$((a - ea))" -v b="$((b - eb))" -v n="$n" -v k="$batch" -v s="$size" -v m="$mode" \
	'BEGIN { if (m == "bulk") printf "kmalloc_bulk(%d, %d)+kfree_bulk: %.1f instructions per object (callgrind)\n", s, k, (b - a) / (n * k);
	         else if (m == "cache") printf "kmem_cache_alloc+kmem_cache_free (%d-byte cache): %.1f instructions per pair (batch %d, callgrind)\n", s, (b - a) / (n * k), k;
	         else printf "kmalloc(%d)+kfree: %.1f instructions per pair (batch %d, callgrind)\n", s, (b - a) / (n * k), k }'
[ -f "$tmp/free.txt" ] && cat "$tmp/free.txt"
exit 0
