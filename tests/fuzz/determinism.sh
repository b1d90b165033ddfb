#!/usr/bin/env bash
# Replayability check of the fuzz harnesses (called by mk/fuzz.mk):
#
#   tests/fuzz/determinism.sh FUZZ_DIR CORPUS_DIR HARNESS...
#
# Every input prints a digest of everything it observed (FUZZ_DIGEST=1:
# each result, NULL or not, ksize, the address relative to the arena).  An
# input must give the same digest run alone in a fresh process as after
# all the others in one process, in either order: what libFuzzer finds
# after millions of inputs replays from a fresh process.  Inputs whose
# threads ran at once (fuzz_smp parallel mode) print "-" and are skipped.
set -euo pipefail
dir=$1 corpus=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "FILE DIGEST" per input, from a replay log.
digests() {
	awk '/^replay: .* \([0-9]+ bytes\)$/ { f = $2 } /^DIGEST / { print f, $3 }' "$1" | sort
}

status=0
for h in "$@"; do
	bin=$dir/fuzz_${h}_replay
	mapfile -t files < <(find "$corpus/$h" -maxdepth 1 -type f | sort)
	[ ${#files[@]} -gt 0 ] || { echo "determinism: fuzz_$h: no corpus"; exit 1; }
	FUZZ_DIGEST=1 ASAN_OPTIONS=detect_leaks=0 "$bin" "${files[@]}" >"$tmp/fwd.log" 2>&1 ||
		{ tail -n 20 "$tmp/fwd.log"; echo "determinism: fuzz_$h: replay failed"; exit 1; }
	rev=()
	for ((i = ${#files[@]} - 1; i >= 0; i--)); do rev+=("${files[i]}"); done
	FUZZ_DIGEST=1 ASAN_OPTIONS=detect_leaks=0 "$bin" "${rev[@]}" >"$tmp/rev.log" 2>&1 ||
		{ tail -n 20 "$tmp/rev.log"; echo "determinism: fuzz_$h: replay failed"; exit 1; }
	: >"$tmp/one.log"
	for f in "${files[@]}"; do
		FUZZ_DIGEST=1 ASAN_OPTIONS=detect_leaks=0 "$bin" "$f" >>"$tmp/one.log" 2>&1 ||
			{ tail -n 20 "$tmp/one.log"; echo "determinism: fuzz_$h: $f failed"; exit 1; }
	done
	digests "$tmp/fwd.log" >"$tmp/fwd"
	digests "$tmp/rev.log" >"$tmp/rev"
	digests "$tmp/one.log" >"$tmp/one"
	n=$(wc -l <"$tmp/one")
	skipped=$(awk '$2 == "-"' "$tmp/one" | wc -l)
	if [ "$n" -ne ${#files[@]} ]; then
		echo "determinism: fuzz_$h: $n digests for ${#files[@]} inputs"
		status=1
	elif ! cmp -s "$tmp/fwd" "$tmp/one" || ! cmp -s "$tmp/rev" "$tmp/one"; then
		echo "determinism: fuzz_$h: FAILED: these inputs do not replay the same alone and after the others:"
		diff "$tmp/one" "$tmp/fwd" | sed 's/^/  after the others /' || true
		diff "$tmp/one" "$tmp/rev" | sed 's/^/  in reverse order /' || true
		status=1
	else
		echo "determinism: fuzz_$h: $((n - skipped)) inputs replay the same in a fresh process, after the others and in reverse order ($skipped with parallel threads skipped)"
	fi
done
exit $status
