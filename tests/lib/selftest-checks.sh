#!/usr/bin/env bash
# Prove that the library checks can fail: a check that never fails proves
# nothing.  On a scratch copy of a built archive:
#   1. add an object that calls strlen() and an undeclared hook
#      ks_plat_secret(): check-undefined.sh must fail and name both;
#   2. add an object that references only memcpy and a declared hook:
#      check-undefined.sh must not complain about it (the allowed list works);
#   3. check-api.sh with an extra header declaring ks_not_defined(): must
#      fail and name it;
#   4. an archive that exports a global no header declares: check-api.sh
#      must fail and name it.
#
# Usage: selftest-checks.sh ARCHIVE CC
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 ARCHIVE CC" >&2; exit 2; }
ar_path=$1
cc=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "selftest-checks: FAIL: $*" >&2; exit 1; }

# 1. A forbidden dependency must be caught and named.
cat > "$tmp/bad.c" <<'C'
#include <stddef.h>
size_t strlen(const char *s);
void ks_plat_secret(void);
size_t ks_selftest_bad(const char *s) { ks_plat_secret(); return strlen(s); }
C
"$cc" -ffreestanding -fno-builtin -O2 -c "$tmp/bad.c" -o "$tmp/bad.o"
cp "$ar_path" "$tmp/bad.a"
ar rcs "$tmp/bad.a" "$tmp/bad.o"
if bash "$here/check-undefined.sh" "$tmp/bad.a" "$root/include/kspan/platform.h" \
	>"$tmp/out1" 2>&1; then
	cat "$tmp/out1" >&2
	fail "check-undefined.sh accepted an archive that needs strlen and ks_plat_secret"
fi
grep -q 'strlen' "$tmp/out1" || fail "check-undefined.sh did not name strlen"
grep -q 'ks_plat_secret' "$tmp/out1" || fail "check-undefined.sh did not name ks_plat_secret"
grep -q 'bad.o' "$tmp/out1" || fail "check-undefined.sh did not name the object using it"

# 2. Allowed symbols alone must not be reported.
cat > "$tmp/good.c" <<'C'
#include <stddef.h>
#include <kspan/platform.h>
void *memcpy(void *d, const void *s, size_t n);
void ks_selftest_good(void *d, const void *s, size_t n)
{ memcpy(d, s, n); ks_plat_write("x", 1); }
C
"$cc" -ffreestanding -fno-builtin -O2 -I"$root/include" -c "$tmp/good.c" -o "$tmp/good.o"
cp "$ar_path" "$tmp/good.a"
ar rcs "$tmp/good.a" "$tmp/good.o"
bash "$here/check-undefined.sh" "$tmp/good.a" "$root/include/kspan/platform.h" \
	>"$tmp/out2" 2>&1 || true
if grep -qE '^  (memcpy|ks_plat_write) ' "$tmp/out2"; then
	cat "$tmp/out2" >&2
	fail "check-undefined.sh reported an allowed symbol"
fi

# 3. A declared but undefined public function must be caught and named.
mkdir -p "$tmp/inc"
printf 'void ks_not_defined(int x);\n' > "$tmp/inc/extra.h"
if bash "$here/check-api.sh" "$ar_path" "$root/include/kspan" "$tmp/inc/extra.h" \
	>"$tmp/out3" 2>&1; then
	cat "$tmp/out3" >&2
	fail "check-api.sh accepted a header declaring a function the archive lacks"
fi
grep -q 'ks_not_defined' "$tmp/out3" || fail "check-api.sh did not name ks_not_defined"

# 4. A global the headers do not declare (a leaked internal) must be caught.
printf 'int ks_leaked_internal(int x);\nint ks_leaked_internal(int x) { return x; }\n' > "$tmp/leak.c"
"$cc" -ffreestanding -O2 -c "$tmp/leak.c" -o "$tmp/leak.o"
cp "$ar_path" "$tmp/leak.a"
ar rcs "$tmp/leak.a" "$tmp/leak.o"
if bash "$here/check-api.sh" "$tmp/leak.a" "$root/include/kspan" >"$tmp/out4" 2>&1; then
	cat "$tmp/out4" >&2
	fail "check-api.sh accepted an archive exporting an undeclared global"
fi
grep -q 'ks_leaked_internal' "$tmp/out4" || fail "check-api.sh did not name ks_leaked_internal"

echo "selftest-checks: ok: the checks fail on planted defects and name them"
