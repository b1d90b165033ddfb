#!/usr/bin/env bash
# Check that libkspan.a's defined globals are exactly the public API:
#   - every function the public headers declare is defined (a kernel that
#     includes include/kspan/*.h links without an undefined reference);
#   - nothing else is global (internal names such as mheap_alloc are
#     local, so a kernel may have functions of the same name).
#
# Usage: check-api.sh ARCHIVE INCLUDE_DIR [EXTRA_HEADER ...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ARCHIVE INCLUDE_DIR [EXTRA_HEADER ...]" >&2; exit 2; }
ar_path=$1; shift
[ -f "$ar_path" ] || { echo "check-api: no archive $ar_path" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
declared=$(bash "$here/api-list.sh" "$@")
defined=$(nm -g --defined-only "$ar_path" 2>/dev/null | awk 'NF >= 3 { print $3 }' | sort -u)
missing=$(comm -23 <(printf '%s\n' $declared) <(printf '%s\n' $defined | sed '/^$/d'))
extra=$(comm -13 <(printf '%s\n' $declared) <(printf '%s\n' $defined | sed '/^$/d'))
n=$(printf '%s\n' $declared | wc -l)
status=0
if [ -n "$missing" ]; then
	echo "check-api: FAIL: $ar_path lacks $(printf '%s\n' $missing | wc -l) of the $n functions the public headers declare:" >&2
	printf '  %s\n' $missing >&2
	status=1
fi
if [ -n "$extra" ]; then
	echo "check-api: FAIL: $ar_path exports $(printf '%s\n' $extra | wc -l) globals that no public header declares:" >&2
	printf '  %s\n' $extra >&2
	status=1
fi
[ $status -eq 0 ] && echo "check-api: ok: $ar_path defines exactly the $n functions of the public headers"
exit $status
