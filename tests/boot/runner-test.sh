#!/usr/bin/env bash
# Proves scripts/run-qemu.sh catches every way a kernel run can go wrong.
#
# Usage: tests/boot/runner-test.sh KERNEL_DIR
#   KERNEL_DIR holds variant-<name>/kspan.efi, kernels built with one
#   KSPAN_VARIANT_* define (tests/kernel/variant.c, mk/kernel.mk), and the
#   normal kspan.efi ("plain", booted with a bad boot option).  Each must
#   make the runner exit 1 with its own reason; a missing kernel must be a
#   usage error (exit 2).  The passing case is `make test-boot`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runner=$here/../../scripts/run-qemu.sh
kdir=${1:?usage: $0 KERNEL_DIR}

failures=0
check() {   # name timeout expected-reason-regex [run-qemu options]
	local name=$1 timeout=$2 want=$3 out status
	shift 3
	local kernel=$kdir/variant-$name/kspan.efi
	[ "$name" = plain ] && kernel=$kdir/kspan.efi
	if [ ! -f "$kernel" ]; then
		echo "not ok - $name: $kernel is missing (make kernel-variants)"
		failures=$((failures + 1))
		return
	fi
	out=$(bash "$runner" --kernel "$kernel" --mem 128M --timeout "$timeout" \
		--name "runner-test-$name" --quiet "$@" 2>&1)
	status=$?
	verdict=$(grep -m1 '^run-qemu: \(PASS\|FAIL\)' <<<"$out")
	if [ "$status" -eq 1 ] && grep -qE "$want" <<<"$verdict"; then
		echo "ok - $name: runner failed as it should: ${verdict#run-qemu: }"
	else
		echo "not ok - $name: runner exit $status, wanted 1 and /$want/"
		sed 's/^/    /' <<<"$out"
		failures=$((failures + 1))
	fi
}

check fail        60 'FAIL: the kernel reported failure: not ok .*variant: a self-test that fails on purpose.*0 passed|FAIL: the kernel reported failure: not ok .*[1-9][0-9]* failed'
check panic       60 'FAIL: the kernel reported failure: kspan: panic: deliberate panic'
check pagefault   60 'FAIL: the kernel reported failure: kspan: CPU exception 14: #PF page fault'
check triplefault 60 'FAIL: the machine reset .*triple fault'
check hang        20 'FAIL: timed out after 20s'
# The guard variant boots with the boot option guard=all, which a kernel
# without the debug heap reports and ignores.
guard_out=$(check guard 60 'FAIL: the kernel reported failure: kspan: CPU exception 14: #PF page fault' --fw-cfg guard=all)
echo "$guard_out"
case $guard_out in ok*) ;; *) failures=$((failures + 1)) ;; esac

# The guarded-allocation report must say read or write, and name the
# address, the object, its size and who allocated and freed it (the fault
# handler asks the heap's guarded pool), in the format of the host's.
glog=$(sed -n 's/.*, log \(.*\))$/\1/p' <<<"$guard_out")
if [ -n "$glog" ] && [ -f "$glog" ] && tr -d '\r' <"$glog" | grep -qE '^kspan: use-after-free write at 0x[0-9a-f]+: object 0x[0-9a-f]+ of 100 bytes allocated at 0x[0-9a-f]+, freed at 0x[0-9a-f]+$'; then
	echo "ok - guard: the page fault is reported as a use-after-free write of the guarded object"
else
	echo "not ok - guard: no use-after-free write report in ${glog:-the log}"
	failures=$((failures + 1))
fi
if [ -n "$glog" ] && [ -f "$glog" ] && grep -q 'kspan heap: boot option guard=all ignored: the guard mode is part of the debug heap' "$glog"; then
	echo "ok - guard: a kernel without the debug heap says it ignores the boot option guard=all"
else
	echo "not ok - guard: no 'boot option guard=all ignored' line in ${glog:-the log}"
	failures=$((failures + 1))
fi

# A bad boot option value stops the boot with a message.
check plain 60 'FAIL: the kernel reported failure: kspan: panic: heap: boot option guard=1/0: want all, 1/N' --fw-cfg guard=1/0

out=$(bash "$runner" --kernel "$kdir/no-such-kernel.efi" 2>&1)
status=$?
if [ "$status" -eq 2 ] && grep -q 'not found' <<<"$out"; then
	echo "ok - missing kernel: usage error"
else
	echo "not ok - missing kernel: runner exit $status, wanted 2: $out"
	failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
	echo "test-boot-runner: $failures case(s) not caught"
	exit 1
fi
echo "test-boot-runner: the runner caught every failing kernel"
