#!/usr/bin/env bash
# Check that libkspan.a defines every function its public headers declare:
# a kernel that includes include/kspan/*.h (and mm/frame.h, the frame map
# the kernel builds from its memory map) must link against the archive
# without an undefined reference.  The ks_plat_* hooks are excluded: the
# kernel provides those.  static inline functions are excluded too.
#
# The declarations are read by clang's AST dump, not by pattern matching,
# so a multi-line prototype or an attribute cannot hide one.
#
# Usage: check-api.sh ARCHIVE INCLUDE_DIR [EXTRA_HEADER ...]
#   INCLUDE_DIR is include/kspan; every *.h in it is checked.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 ARCHIVE INCLUDE_DIR [EXTRA_HEADER ...]" >&2
	exit 2
fi
ar_path=$1; shift
incdir=$1; shift
[ -f "$ar_path" ] || { echo "check-api: no archive $ar_path" >&2; exit 2; }
[ -d "$incdir" ] || { echo "check-api: no folder $incdir" >&2; exit 2; }

root=$(cd "$incdir/../.." && pwd)
src=""
for h in "$incdir"/*.h "$@"; do
	[ -f "$h" ] || { echo "check-api: no header $h" >&2; exit 2; }
	src+="#include \"$(cd "$(dirname "$h")" && pwd)/$(basename "$h")\""$'\n'
done

dump=$(printf '%s' "$src" | clang -x c -std=gnu11 -ffreestanding \
	-I"$root/include" -I"$root" -fsyntax-only -Xclang -ast-dump - 2>&1) || {
	echo "check-api: the public headers do not compile on their own:" >&2
	printf '%s\n' "$dump" | grep -E 'error' >&2 || true
	exit 1
}

# Top-level FunctionDecls that are plain declarations (no inline body).
declared=$(printf '%s\n' "$dump" | grep -E '^[|`]-FunctionDecl' | grep -v ' inline' \
	| awk '{ for (i = 2; i <= NF; i++) if (substr($i, 1, 1) == "'"'"'") { print $(i-1); break } }' \
	| grep -v '^ks_plat_' | sort -u)
[ -n "$declared" ] || { echo "check-api: no function declared in the headers?" >&2; exit 2; }

defined=$(nm -g --defined-only "$ar_path" 2>/dev/null | awk '$2 ~ /^[TtWw]$/ { print $3 }' | sort -u)
missing=$(comm -23 <(printf '%s\n' $declared) <(printf '%s\n' $defined | sed '/^$/d'))

n=$(printf '%s\n' $declared | wc -l)
if [ -n "$missing" ]; then
	echo "check-api: FAIL: $ar_path lacks $(printf '%s\n' $missing | wc -l) of the $n functions the public headers declare:" >&2
	printf '  %s\n' $missing >&2
	exit 1
fi
echo "check-api: ok: $ar_path defines all $n functions of the public headers"
