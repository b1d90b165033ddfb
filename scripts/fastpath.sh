#!/usr/bin/env bash
# Instructions per kmalloc+kfree pair on the cached path, counted by
# valgrind --tool=callgrind (repeatable on a noisy machine, unlike time).
#
# Usage: scripts/fastpath.sh BINARY [SIZE] [BATCH]
# Runs BINARY N SIZE BATCH with N = 100000 and 200000 and prints
# (Ir(2N) - Ir(N)) / (N * BATCH): the steady-state cost of one pair with
# the benchmark loop's own few instructions included.
set -euo pipefail
bin=$1
size=${2:-32}
batch=${3:-1}
n=100000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() {
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
		"$bin" "$1" "$size" "$batch" >/dev/null 2>"$tmp/log.$1" || {
		cat "$tmp/log.$1" >&2
		exit 1
	}
	grep -E '^(summary|totals):' "$tmp/cg.$1" | head -1 | awk '{print $2}'
}

a=$(count $n)
b=$(count $((2 * n)))
awk -v a="$a" -v b="$b" -v n="$n" -v k="$batch" -v s="$size" \
	'BEGIN { printf "kmalloc(%d)+kfree: %.1f instructions per pair (batch %d, callgrind)\n", s, (b - a) / (n * k), k }'
