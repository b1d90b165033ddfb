#!/usr/bin/env bash
# bench/peers.sh PEERS_DIR OUTDIR -- build the hobby-kernel peer allocators
# (liballoc, TLSF, o1heap) for `make bench` / `make bench-smoke` by running
# PEERS_DIR/build.sh OUTDIR where it is.  The peers' sources stay in
# PEERS_DIR; nothing of them is copied into this tree.
#
# Never fails the build: a missing PEERS_DIR or a failed peer build prints
# one line and the driver (bench/run.py) skips the peers that are missing.
# OUTDIR/status tells the driver why ("NAME: reason" per missing peer);
# build.sh's own output, compiler warnings on the peers' code included, goes
# to OUTDIR/build.log.  Old libraries are removed first, so a peer that no
# longer builds is skipped rather than measured from a stale .so.
set -u
[ $# -eq 2 ] || { echo "usage: $0 PEERS_DIR OUTDIR" >&2; exit 2; }
dir=$1 out=$2
peers=(liballoc tlsf o1heap)

mkdir -p "$out" || exit 0
for p in "${peers[@]}"; do rm -f "$out/lib$p.so"; done
rm -f "$out/status" "$out/build.log"

skip_all() {
	for p in "${peers[@]}"; do echo "$p: $1"; done >"$out/status"
	echo "bench: hobby-kernel peers (${peers[*]}) skipped: $1"
	exit 0
}

[ -n "$dir" ] || skip_all "PEERS_DIR is empty"
[ -d "$dir" ] || skip_all "PEERS_DIR $dir not found; PEERS_DIR=DIR names another folder"
[ -f "$dir/build.sh" ] || skip_all "no build.sh in PEERS_DIR $dir"

bash "$dir/build.sh" "$out" >"$out/build.log" 2>&1
rc=$?
built=() missing=()
for p in "${peers[@]}"; do
	if [ -f "$out/lib$p.so" ]; then
		built+=("$p")
	else
		missing+=("$p")
		echo "$p: $dir/build.sh did not build it (exit $rc, see $out/build.log)" >>"$out/status"
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "bench: hobby-kernel peers ${built[*]} built from $dir"
elif [ ${#built[@]} -eq 0 ]; then
	echo "bench: hobby-kernel peers skipped: $dir/build.sh built none (exit $rc, see $out/build.log)"
else
	echo "bench: hobby-kernel peers ${built[*]} built from $dir; ${missing[*]} skipped (not built, see $out/build.log)"
fi
exit 0
