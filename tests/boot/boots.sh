#!/usr/bin/env bash
# boots.sh KERNEL TIMEOUT BOOT...  -- boot KERNEL once per BOOT, each of
# which must pass (make test-boot).  A BOOT is MEM:SMP[:NAME=VALUE], the
# last part an optional fw_cfg test hook (scripts/run-qemu.sh --fw-cfg).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel=${1:?usage: $0 KERNEL TIMEOUT BOOT...}
timeout_s=${2:?}
shift 2
for b in "$@"; do
	mem=${b%%:*}; rest=${b#*:}; smp=${rest%%:*}; hook=
	case $rest in *:*) hook=${rest#*:} ;; esac
	echo "== test-boot: -m $mem -smp $smp${hook:+, $hook}"
	bash "$here/../../scripts/run-qemu.sh" --kernel "$kernel" --mem "$mem" \
		--smp "$smp" --timeout "$timeout_s" --quiet ${hook:+--fw-cfg "$hook"}
done
echo "test-boot: all boots passed ($*)"
