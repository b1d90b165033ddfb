#!/usr/bin/env bash
# Check that libkspan.a needs nothing from the kernel it is linked into
# except the documented list (docs/porting.md):
#   - the ks_plat_* hooks declared in include/kspan/platform.h;
#   - memset, memcpy, memmove, memcmp (a freestanding compiler may emit calls
#     to them for struct copies and zeroing, so the kernel must provide them).
#
# A symbol counts as needed when some member of the archive references it
# and no member defines it.  Any other needed symbol (a libgcc helper such as
# __udivti3, __stack_chk_fail, a libc function, a hook that platform.h does
# not declare) fails the check, naming the symbol and the objects using it.
#
# Usage: check-undefined.sh ARCHIVE PLATFORM_H
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 ARCHIVE PLATFORM_H" >&2
	exit 2
fi
ar_path=$1
hdr=$2
[ -f "$ar_path" ] || { echo "check-undefined: no archive $ar_path" >&2; exit 2; }
[ -f "$hdr" ] || { echo "check-undefined: no header $hdr" >&2; exit 2; }

# Hooks: every identifier ks_plat_NAME followed by "(" in the header, i.e.
# the declared functions (not the ks_irqstate_t type).
hooks=$(grep -oE '\bks_plat_[A-Za-z0-9_]+[[:space:]]*\(' "$hdr" \
	| sed -E 's/[[:space:]]*\($//' | sort -u)
[ -n "$hooks" ] || { echo "check-undefined: no ks_plat_* hook found in $hdr" >&2; exit 2; }
allowed=$(printf '%s\n' $hooks memset memcpy memmove memcmp | sort -u)

# Symbols defined (globally or weakly) by any member, and referenced by any.
defined=$(nm -g --defined-only "$ar_path" 2>/dev/null | awk 'NF >= 3 { print $3 }' | sort -u)
undef=$(nm -u "$ar_path" 2>/dev/null | awk '$1 == "U" || $1 == "w" { print $2 }' | sort -u)
needed=$(comm -23 <(printf '%s\n' $undef | sed '/^$/d') <(printf '%s\n' $defined | sed '/^$/d'))
bad=$(comm -23 <(printf '%s\n' $needed | sed '/^$/d') <(printf '%s\n' $allowed))

if [ -n "$bad" ]; then
	echo "check-undefined: FAIL: $ar_path needs symbols outside the documented list:" >&2
	for s in $bad; do
		users=$(nm -A -u "$ar_path" 2>/dev/null | awk -v s="$s" '$NF == s { split($1, a, ":"); print a[2] }' \
			| sort -u | tr '\n' ' ')
		echo "  $s  (used by: ${users% })" >&2
	done
	echo "Allowed: the ks_plat_* hooks of $hdr and memset/memcpy/memmove/memcmp." >&2
	echo "Either remove the dependency or document it in docs/porting.md and here." >&2
	exit 1
fi

n_needed=$(printf '%s\n' $needed | sed '/^$/d' | wc -l)
echo "check-undefined: ok: $ar_path needs $n_needed symbols, all documented:" $needed
