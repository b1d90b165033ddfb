#!/usr/bin/env bash
# Instructions per collector allocation (bench/gc/fastpath.c), counted by
# valgrind --tool=callgrind: (Ir(2N) - Ir(N)) / N, repeatable on a noisy
# machine.
#
# Usage: bench/gc/fastpath.sh BINARY MODE SIZE
set -euo pipefail
bin=$1
mode=$2
size=$3
n=200000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() {
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
		"$bin" "$mode" "$1" "$size" >/dev/null 2>"$tmp/log.$1" || {
		cat "$tmp/log.$1" >&2
		exit 1
	}
	grep -E '^(summary|totals):' "$tmp/cg.$1" | head -1 | awk '{print $2}'
}

a=$(count $n)
b=$(count $((2 * n)))
awk -v a="$a" -v b="$b" -v n="$n" -v m="$mode" -v s="$size" \
	'BEGIN { printf "%-10s %4d B: %6.1f instructions per allocation (callgrind)\n", m, s, (b - a) / n }'
