#!/usr/bin/env bash
# The figures of a built libkspan.a that docs/porting.md quotes:
#   exported functions   globals it defines (the public API)
#   undefined symbols    what the kernel must provide
#   .bss / .data         static memory with the default 64 CPU slots
#   per CPU slot         static bytes each further slot adds, from a second
#                        build with KSPAN_MAX_CPUS=1 (ARCHIVE_1CPU)
#
# Usage: lib-figures.sh ARCHIVE ARCHIVE_1CPU            print them
#        lib-figures.sh --check DOC ARCHIVE ARCHIVE_1CPU
#                        and compare with DOC's table; the table's rows are
#                        "| <name> | <value> |" under a header row that
#                        starts "| figure (checked by make test-lib)"
set -euo pipefail
check=
if [ "${1:-}" = --check ]; then check=$2; shift 2; fi
[ $# -eq 2 ] || { echo "usage: $0 [--check DOC] ARCHIVE ARCHIVE_1CPU" >&2; exit 2; }
ar=$1 ar1=$2

section() { # archive section -> bytes
	size -A "$1" 2>/dev/null | awk -v s="$2" '$1 == s { t += $2 } END { print t + 0 }'
}
exports=$(nm -g --defined-only "$ar" | awk 'NF >= 3' | wc -l)
undef=$(nm -u "$ar" | awk '$1 == "U" { print $2 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
bss=$(section "$ar" .bss)
data=$(section "$ar" .data)
bss1=$(section "$ar1" .bss)
data1=$(section "$ar1" .data)
percpu=$(( (bss + data - bss1 - data1) / 63 ))
kib() { echo $(( ($1 + 1023) / 1024 )); }

printf 'libkspan.a figures (%s):\n' "$ar"
printf '  exported functions : %s\n' "$exports"
printf '  undefined symbols  : %s\n' "$undef"
printf '  .bss               : %s bytes (%s KiB), .data %s bytes\n' "$bss" "$(kib "$bss")" "$data"
printf '  per CPU slot       : %s bytes of static data (KSPAN_MAX_CPUS=64 vs 1)\n' "$percpu"

[ -n "$check" ] || exit 0
[ -f "$check" ] || { echo "lib-figures: no $check" >&2; exit 2; }
table=$(awk '/^\| figure \(checked by make test-lib\)/ { on = 1; next } on && /^\|/ { print; next } on { exit }' "$check")
[ -n "$table" ] || { echo "lib-figures: FAIL: $check has no table headed '| figure (checked by make test-lib) |'" >&2; exit 1; }
doc() { printf '%s\n' "$table" | awk -F'|' -v k="$1" '{ n = $2; gsub(/^ +| +$/, "", n); if (n == k) { v = $3; gsub(/^ +| +$/, "", v); gsub(/`/, "", v); print v } }'; }
fail=0
want() { # name, value the library has
	local got; got=$(doc "$1")
	if [ "$got" != "$2" ]; then
		echo "lib-figures: FAIL: $check says '$1' is '${got:-missing}', the library has '$2'" >&2
		fail=1
	fi
}
want "exported functions" "$exports"
want "undefined symbols" "$undef"
want ".bss with 64 CPU slots" "$(kib "$bss") KiB"
want "static data per CPU slot" "$percpu bytes"
[ $fail -eq 0 ] && echo "lib-figures: ok: $check quotes the library's figures"
exit $fail
