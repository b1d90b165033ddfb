#!/usr/bin/env bash
# Checks of the built drop-in libraries (mk/shim.mk), from their symbols,
# relocations and machine code:
#   - libkspan.so exports exactly the malloc family (nothing of kspan's
#     internals, no platform hooks);
#   - its TLS is initial-exec (STATIC_TLS, TPOFF relocations, no
#     __tls_get_addr / DTPMOD), so a slot lookup is one %fs load;
#   - LTO inlined the platform hooks: no allocation or free path calls
#     ks_plat_cpu_id, ks_plat_irq_save or ks_plat_irq_restore out of line,
#     and the fast paths of malloc and free (entry to first ret: kspan's
#     inline fast paths, mm/malloc.h) make no call at all (their slow
#     paths are tail jumps);
#   - libkspan.a holds real machine code (no LTO-only object), defines the
#     same malloc family and needs nothing but libc.
# Usage: check-lib.sh build/host/libkspan.so build/host/libkspan.a
set -euo pipefail
so=$1 a=$2
fails=0 passes=0
ok()  { passes=$((passes + 1)); echo "  ok    $*"; }
bad() { fails=$((fails + 1)); echo "  FAIL  $*"; }

want="aligned_alloc calloc cfree free malloc malloc_usable_size memalign posix_memalign pvalloc realloc reallocarray valloc"

got=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWi]$/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$got" = "$want" ]; then ok "exports exactly: $want"
else bad "exports '$got', expected '$want'"; fi

dflags=$(readelf -d "$so" | grep -E '\(FLAGS\)' || true)
if grep -q STATIC_TLS <<<"$dflags"; then ok "STATIC_TLS (initial-exec TLS)"
else bad "no STATIC_TLS flag: TLS is not initial-exec ($dflags)"; fi
if readelf -rW "$so" | grep -Eq 'DTPMOD|DTPOFF' || nm -D "$so" | grep -q __tls_get_addr; then
	bad "dynamic TLS model in use (DTPMOD/DTPOFF relocation or __tls_get_addr)"
else ok "no __tls_get_addr, no DTPMOD/DTPOFF relocations"; fi

# Who still calls a slot/guard hook out of line (LTO may keep a copy for a
# cold caller such as kspan_print_stats): never the allocation paths.
dis=$(objdump -d --no-show-raw-insn "$so")
callers=$(awk '/^[0-9a-f]+ <.*>:$/ {fn=$2} /(call|jmp).*<ks_plat_(cpu_id|irq_save|irq_restore)>/ {print fn}' <<<"$dis" | sort -u | tr -d '<>:' | tr '\n' ' ')
hot='^(malloc|free|calloc|realloc|reallocarray|memalign|aligned_alloc|posix_memalign|valloc|pvalloc|ks_malloc|ks_free|ks_malloc_slow|ks_free_slow|kspan_[a-z]+_as|small_alloc_slow|free_slow)(\.(cold|part|constprop|isra).*)?$'
hotcallers=$(tr ' ' '\n' <<<"$callers" | grep -E "$hot" | tr '\n' ' ' || true)
if [ -n "$hotcallers" ]; then bad "slot/guard hooks called out of line from: $hotcallers"
else ok "ks_plat_cpu_id/irq_save/irq_restore inlined into every allocation path (out-of-line callers: ${callers:-none})"; fi

# The body of a function (not its .cold part) in AT&T syntax.
body() { awk -v f="<$1>:" '$2 == f {on=1; next} on && /^$/ {exit} on' <<<"$dis"; }
# The fast path is the code from the entry to the first ret (both gcc and
# clang lay the likely path out first; gcc moves the unlikely one to .cold).
# It must make no call; calls into the slow parts may only come after it.
for f in malloc free; do
	b=$(body "$f")
	if [ -z "$b" ]; then bad "$f not found in $so"; continue; fi
	pre=$(awk '/[[:space:]]ret/ {exit} {print}' <<<"$b")
	calls=$(grep -E '[[:space:]]call[[:space:]]' <<<"$pre" | grep -oE '<[^>]+>' | tr '\n' ' ' || true)
	slow=$(grep -E '[[:space:]](call|jmp)[[:space:]]' <<<"$b" | grep -oE '<[^>]+>' | grep -v "<$f[+.]" | sort -u | tr '\n' ' ' || true)
	n=$(grep -cE '^ +[0-9a-f]+:' <<<"$pre" || true)
	if [ "$calls" = "" ]; then
		ok "$f: fast path of $n instructions, calls: ${calls:-none} (elsewhere: ${slow:-nothing})"
	else
		bad "$f: its fast path ($n instructions to the first ret) calls $calls"
	fi
done

if objdump -h "$a" | grep -q '\.gnu\.lto_'; then bad "$a holds LTO-only objects (needs -flinker-output=nolto-rel)"
else ok "$a holds machine code (no .gnu.lto_ sections)"; fi
agot=$(nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 && $2 == "T" {print $3}' | sort | tr '\n' ' ')
missing=""
for s in $want; do grep -qw "$s" <<<"$agot" || missing="$missing $s"; done
if [ -z "$missing" ]; then ok "$a defines the malloc family"
else bad "$a lacks:$missing"; fi
und=$(nm -u "$a" | awk 'NF == 2 {print $2}' | sort -u)
odd=$(grep -vE '^(_GLOBAL_OFFSET_TABLE_|__errno_location|__register_atfork|__stack_chk_fail|abort|clock_gettime|close|dup|dup2|getenv|open|strchr|madvise|memcpy|memmove|memset|memcmp|mmap|__popcountdi2|mprotect|munmap|pthread_[a-z_]+|sched_yield|snprintf|strlen|write|__dso_handle)$' <<<"$und" || true)
if [ -z "$odd" ]; then ok "$a needs only libc"
else bad "$a has unexpected undefined symbols: $(tr '\n' ' ' <<<"$odd")"; fi

echo "check-lib: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
