#!/usr/bin/env bash
# Boot a kspan kernel (an EFI application) under QEMU + OVMF with TCG, show
# and log its serial output, and turn the outcome into pass/fail.
#
# Usage: scripts/run-qemu.sh [options]
#   --kernel FILE    EFI image (default: build/kernel/kspan.efi)
#   --mem SIZE       guest RAM, QEMU syntax (default 512M).  Always a
#                    memory-backend-ram with prealloc=off,reserve=off: the
#                    host backs only what the guest touches and reserves
#                    nothing up front, so a guest may have more RAM than
#                    the host (-m 256G on a 24 GiB host; a plain -m 64G is
#                    refused there).  Above 480 GiB the CPU gets the
#                    physical address bits the RAM needs (TCG's default of
#                    40 covers about 1 TiB of address space, and QEMU
#                    puts RAM above 4 GiB and devices above RAM)
#   --smp N          CPUs (default 1); the kernel is told N (fw_cfg file
#                    opt/kspan/cpus) and its SMP self-test checks that
#                    exactly N came online
#   --timeout SECS   wall-clock limit for QEMU (default 120)
#   --name NAME      names the ESP, vars copy and log under build/qemu/
#                    (default: derived from the kernel path, --mem and,
#                    unless 1, --smp)
#   --log FILE       serial log (default build/qemu/NAME.log)
#   --quiet          do not echo the serial output, only the verdict
#   --bench          ask the kernel to run its SMP scaling benchmark after
#                    the self-tests (fw_cfg file opt/kspan/bench = 1)
#   --fw-cfg K=V     pass fw_cfg file opt/kspan/K with the string V (test
#                    hooks, e.g. smp-phantom=200: also try to start a CPU
#                    with APIC id 200, which does not exist; boot options,
#                    e.g. guard=1/100 or guard=all with guard-below=1: the
#                    debug heap's guard mode, docs/debugging.md)
#   --               everything after is passed to QEMU as extra arguments
# Environment: QEMU (default qemu-system-x86_64), OVMF_DIR (default: the
# ovmf package's folder), KSPAN_TEST_SEED (the seed of the kernel's
# randomised self-tests and heap; default: a fresh one, which the kernel
# prints as "# KSPAN_TEST_SEED=N" and a failed verdict repeats for replay).
#
# Verdict (one line starting "run-qemu: PASS" or "run-qemu: FAIL:"):
#   pass  only if QEMU exits with 33 (the kernel wrote 0x10 to the
#         isa-debug-exit port) AND the log has a line "N passed, 0 failed";
#   fail  on anything else: status 35 (kernel reported failure: failed
#         self-test, panic or CPU exception), status 0 (the machine reset:
#         a triple fault, with -no-reboot), a timeout, any other status, or
#         a pass status without the summary line.
# Exit status: 0 pass, 1 fail, 2 usage or setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

kernel=$build/kernel/kspan.efi
mem=512M
smp=1
timeout_s=120
name=
log=
quiet=0
bench=0
fwcfg=()
extra=()

die() { echo "run-qemu: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--name) name=${2:?}; shift 2 ;;
	--log) log=${2:?}; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--bench) bench=1; shift ;;
	--fw-cfg)
		[[ ${2:-} =~ ^[a-z0-9-]+=[A-Za-z0-9._/-]*$ ]] ||
			die "--fw-cfg wants NAME=VALUE (letters, digits, . _ / -), not '${2:-}'"
		fwcfg+=(-fw_cfg "name=opt/kspan/${2%%=*},string=${2#*=}"); shift 2 ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

[ -f "$kernel" ] || die "kernel image $kernel not found (make kernel)"
kernel=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")
[[ $smp =~ ^[1-9][0-9]*$ ]] || die "--smp wants a positive number, not '$smp'"
[ "$smp" -le 255 ] || die "--smp $smp: at most 255 CPUs (q35 with xAPIC ids)"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds, not '$timeout_s'"
[[ $mem =~ ^[1-9][0-9]*[KMGT]?$ ]] || die "--mem wants a size like 512M or 6G, not '$mem'"

qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || die "$qemu not found (scripts/deps.sh installs qemu-system-x86)"

# OVMF: the ovmf package's files, found through dpkg when it knows them.
ovmf_dir=${OVMF_DIR:-}
if [ -z "$ovmf_dir" ]; then
	code=$(dpkg -L ovmf 2>/dev/null | grep '/OVMF_CODE_4M\.fd$' | head -n1 || true)
	ovmf_dir=$(dirname "${code:-/usr/share/OVMF/OVMF_CODE_4M.fd}")
fi
ovmf_code=$ovmf_dir/OVMF_CODE_4M.fd
ovmf_vars=$ovmf_dir/OVMF_VARS_4M.fd
[ -f "$ovmf_code" ] && [ -f "$ovmf_vars" ] ||
	die "OVMF_CODE_4M.fd / OVMF_VARS_4M.fd not found in $ovmf_dir (install ovmf)"

if [ -z "$name" ]; then
	rel=${kernel#"$build"/}
	suffix=$mem
	[ "$smp" = 1 ] || suffix=$mem-smp$smp
	name=$(printf '%s' "${rel%.efi}-$suffix" | tr -c 'A-Za-z0-9._-' '_')
fi
work=$build/qemu
esp=$work/$name.esp
vars=$work/$name.vars.fd
log=${log:-$work/$name.log}
mkdir -p "$work" "$(dirname "$log")"

# The ESP: a folder QEMU presents as a FAT disk; the firmware's fallback
# boot path finds EFI/BOOT/BOOTX64.EFI on it.
rm -rf "$esp"
mkdir -p "$esp/EFI/BOOT"
cp "$kernel" "$esp/EFI/BOOT/BOOTX64.EFI"
cp "$ovmf_vars" "$vars"
chmod u+w "$vars"

# Physical address bits for the guest's RAM: RAM above 4 GiB, the
# 64-bit PCI window and hot-plug space above it; twice the RAM plus
# 64 GiB is enough (checked at 1 TiB: 42 bits, 4 TiB: 44).
mem_mib=${mem%[KMGT]}
case $mem in
*K) mem_mib=$(( (mem_mib + 1023) / 1024 )) ;;
*G) mem_mib=$(( mem_mib * 1024 )) ;;
*T) mem_mib=$(( mem_mib * 1024 * 1024 )) ;;
esac
cpu=max
if [ "$mem_mib" -gt $(( 480 * 1024 )) ]; then
	bits=40
	while [ $(( 1 << (bits - 20) )) -lt $(( 2 * mem_mib + 64 * 1024 )) ]; do
		bits=$((bits + 1))
	done
	cpu=max,phys-bits=$bits
fi

seed=${KSPAN_TEST_SEED:-}
if [ -z "$seed" ]; then
	seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
fi
[[ $seed =~ ^[0-9]+$ ]] || die "KSPAN_TEST_SEED wants a decimal number, not '$seed'"

cmd=(timeout --kill-after=5 "$timeout_s" "$qemu"
	-machine q35,memory-backend=ram0 -accel tcg -cpu "$cpu" -m "$mem" -smp "$smp"
	-object "memory-backend-ram,id=ram0,size=$mem,prealloc=off,reserve=off"
	-drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf_code"
	-drive "if=pflash,format=raw,unit=1,file=$vars"
	-drive "format=raw,file=fat:rw:$esp"
	-serial stdio -display none -monitor none -net none -no-reboot
	-device isa-debug-exit,iobase=0xf4,iosize=0x04
	-fw_cfg "name=opt/kspan/cpus,string=$smp"
	-fw_cfg "name=opt/kspan/bench,string=$bench"
	-fw_cfg "name=opt/kspan/seed,string=$seed"
	"${fwcfg[@]}" "${extra[@]}")

cpu_note=
[ "$cpu" = max ] || cpu_note=" -cpu $cpu"
echo "run-qemu: $kernel, -m $mem -smp $smp$cpu_note, timeout ${timeout_s}s, log $log"
start=$(date +%s)
set +e
if [ "$quiet" = 1 ]; then
	"${cmd[@]}" </dev/null >"$log" 2>&1
	status=$?
else
	"${cmd[@]}" </dev/null 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
fi
set -e
secs=$(( $(date +%s) - start ))

# The kernel's summary, e.g. "41 passed, 0 failed" (serial lines may end
# in \r).
summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1 || true)
first_bad=$(tr -d '\r' <"$log" |
	grep -m1 -E '^not ok |^kspan: (panic|CPU exception|boot failed|stopping)|^kspan: .*(abort|failed)' || true)

verdict() {
	echo "run-qemu: $1 (QEMU status $status, ${secs}s, log $log)"
}

case $status in
33)
	if [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
		verdict "PASS: $summary"
		exit 0
	fi
	verdict "FAIL: the kernel exited with the pass code but the log has no 'N passed, 0 failed' line (got '${summary:-nothing}')"
	;;
35)
	if [ -n "$first_bad" ]; then
		verdict "FAIL: the kernel reported failure: $first_bad${summary:+; $summary}"
	else
		verdict "FAIL: the kernel reported failure${summary:+: $summary}"
	fi
	;;
124|137)
	verdict "FAIL: timed out after ${timeout_s}s (hang, or boot too slow)"
	;;
0)
	verdict "FAIL: the machine reset or powered off without reporting (triple fault?)${first_bad:+; $first_bad}"
	;;
*)
	verdict "FAIL: unexpected QEMU status $status (QEMU error?)${first_bad:+; $first_bad}"
	;;
esac
echo "run-qemu: replay with KSPAN_TEST_SEED=$seed (same --mem/--smp)"
if [ "$quiet" = 1 ]; then
	echo "run-qemu: last lines of the log:"
	tr -d '\r' <"$log" | tail -n 15 | sed 's/^/  | /'
fi
exit 1
