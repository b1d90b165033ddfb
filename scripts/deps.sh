#!/usr/bin/env bash
# Install the Debian packages kspan needs, if any are missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

pkgs=(
	build-essential clang lld llvm valgrind python3
	qemu-system-x86 ovmf gnu-efi mtools dosfstools
	libcmocka-dev
	grub-pc-bin grub-common xorriso
	libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev
	libgc-dev                 # the Boehm-Demers-Weiser collector (make bench-gc)
	sqlite3 python3-matplotlib
	libpython3.11-testsuite   # python's own test modules (make stress-preload)
	gdb                       # scripts/kspan-gdb.py (make debug, test-gdb-helper)
	libclang-rt-14-dev        # libFuzzer and the sanitizers' runtimes (make fuzz)
	"$@"
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
