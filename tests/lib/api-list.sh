#!/usr/bin/env bash
# Print, one per line and sorted, the functions the public headers declare:
# the API libkspan.a exports, and the only globals it may define.  The
# ks_plat_* hooks are excluded (the kernel provides them), and so are
# static inline functions.
#
# The declarations are read from clang's AST dump, not by pattern matching,
# so a multi-line prototype or an attribute cannot hide one.
#
# Usage: api-list.sh INCLUDE_DIR [EXTRA_HEADER ...]   (INCLUDE_DIR: include/kspan)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 INCLUDE_DIR [EXTRA_HEADER ...]" >&2; exit 2; }
incdir=$1; shift
[ -d "$incdir" ] || { echo "api-list: no folder $incdir" >&2; exit 2; }
root=$(cd "$incdir/../.." && pwd)
src=""
for h in "$incdir"/*.h "$@"; do
	[ -f "$h" ] || { echo "api-list: no header $h" >&2; exit 2; }
	src+="#include \"$(cd "$(dirname "$h")" && pwd)/$(basename "$h")\""$'\n'
done
dump=$(printf '%s' "$src" | clang -x c -std=gnu11 -ffreestanding \
	-I"$root/include" -fsyntax-only -Xclang -ast-dump - 2>&1) || {
	echo "api-list: the public headers do not compile on their own:" >&2
	printf '%s\n' "$dump" | grep -E 'error' >&2 || true
	exit 1
}
names=$(printf '%s\n' "$dump" | grep -E '^[|`]-FunctionDecl' | grep -v ' inline' \
	| awk '{ for (i = 2; i <= NF; i++) if (substr($i, 1, 1) == "'"'"'") { print $(i-1); break } }' \
	| grep -v '^ks_plat_' | sort -u)
[ -n "$names" ] || { echo "api-list: no function declared in the headers?" >&2; exit 2; }
printf '%s\n' $names
