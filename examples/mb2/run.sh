#!/usr/bin/env bash
# Boot an mb2 example ISO under QEMU (SeaBIOS, TCG) and judge the run.
#
#   run.sh pass ISO LOG
#       passes only if QEMU exits with the pass status (isa-debug-exit value
#       0x10 -> 33) AND the log has the line "N passed, 0 failed" with N > 0
#       and no "not ok" line.
#   run.sh fail ISO LOG [--names-address] PATTERN...
#       a deliberate-failure boot: passes only if QEMU exits with the
#       failure status (0x11 -> 35) and every extended regex PATTERN matches
#       a line of the log.  --names-address: the address in the last
#       "failtest: ... 0x..." line must appear in the PANIC line.
#
# A hang (timeout, EX_TIMEOUT seconds, default 60), a triple fault (QEMU
# exits 0 thanks to -no-reboot) or any other status is a failure.  The
# serial output is shown and kept in LOG.
set -uo pipefail

usage() { echo "usage: $0 pass ISO LOG | fail ISO LOG [--names-address] PATTERN..." >&2; exit 2; }
[ $# -ge 3 ] || usage
mode=$1 iso=$2 log=$3
shift 3
names_addr=0
if [ "${1:-}" = "--names-address" ]; then names_addr=1; shift; fi
case $mode in
	pass) [ $# -eq 0 ] || usage ;;
	fail) [ $# -ge 1 ] || usage ;;
	*) usage ;;
esac
[ -f "$iso" ] || { echo "run.sh: no ISO $iso" >&2; exit 2; }

PASS_STATUS=33   # (0x10 << 1) | 1
FAIL_STATUS=35   # (0x11 << 1) | 1
timeout_s=${EX_TIMEOUT:-60}
name=$(basename "$iso" .iso)

echo "== boot $name ($mode expected), timeout ${timeout_s}s"
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel tcg -m 256M \
	-cdrom "$iso" -boot d -serial stdio -display none -monitor none \
	-net none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	< /dev/null 2>&1 | tr -d '\r' | tee "$log"
status=${PIPESTATUS[0]}

verdict() {
	echo "== $name: $1 (QEMU status $status)"
	[ "$2" = ok ] && exit 0 || exit 1
}
case $status in
	124) verdict "FAIL: timed out after ${timeout_s}s (hang?)" bad ;;
	0) verdict "FAIL: QEMU exited without the exit device (triple fault / reset?)" bad ;;
esac

if [ "$mode" = pass ]; then
	[ "$status" -eq "$PASS_STATUS" ] || verdict "FAIL: expected pass status $PASS_STATUS" bad
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	[ -n "$summary" ] || verdict "FAIL: no 'N passed, N failed' line" bad
	npass=${summary%% *}
	grep -qE '^[0-9]+ passed, 0 failed$' <<<"$summary" || verdict "FAIL: $summary" bad
	[ "$npass" -gt 0 ] || verdict "FAIL: no test ran" bad
	! grep -q '^not ok' "$log" || verdict "FAIL: a 'not ok' line in the log" bad
	verdict "PASS: $summary" ok
fi

[ "$status" -eq "$FAIL_STATUS" ] || verdict "FAIL: expected failure status $FAIL_STATUS" bad
for pat in "$@"; do
	grep -qE -- "$pat" "$log" || verdict "FAIL: log lacks /$pat/" bad
done
if [ $names_addr -eq 1 ]; then
	addr=$(grep '^failtest: ' "$log" | grep -oE '0x[0-9a-f]+' | tail -n 1)
	[ -n "$addr" ] || verdict "FAIL: the test printed no address" bad
	hex=$(sed -E 's/^0x0*//' <<<"$addr")
	grep -E '^PANIC' "$log" | grep -qi -- "$hex" ||
		verdict "FAIL: the panic does not name $addr" bad
fi
verdict "PASS: stopped as expected" ok
