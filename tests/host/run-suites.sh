#!/usr/bin/env bash
# run-suites.sh ROUNDS SUITE...  -- run every host suite ROUNDS times.
#
# Each run takes a fresh seed (the suite picks one and prints it as
# "# KSPAN_TEST_SEED=N") unless KSPAN_TEST_SEED is set, in which case every
# run replays that seed.  A suite's output is shown only when it fails,
# followed by the command that replays it.  Exit status: 0 if every run
# passed.
set -u
rounds=$1; shift
[ "$rounds" -ge 1 ] 2>/dev/null || { echo "run-suites: ROUNDS must be a number >= 1" >&2; exit 2; }
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allow_user_segv_handler=1}
failed=0
for r in $(seq 1 "$rounds"); do
	for t in "$@"; do
		start=$(date +%s%N)
		if "$t" >"$log" 2>&1; then
			seed=$(sed -n 's/^# KSPAN_TEST_SEED=//p' "$log" | head -n 1)
			ms=$(( ($(date +%s%N) - start) / 1000000 ))
			printf '  ok    %-16s round %d/%d  seed %-20s %d.%03d s\n' "$(basename "$t")" \
				"$r" "$rounds" "${seed:--}" $((ms / 1000)) $((ms % 1000))
		else
			failed=$((failed + 1))
			seed=$(sed -n 's/^# KSPAN_TEST_SEED=//p' "$log" | head -n 1)
			echo "  FAIL  $(basename "$t") round $r/$rounds:"
			sed 's/^/  | /' "$log" | tail -n 60
			echo "  replay: KSPAN_TEST_SEED=${seed:-?} $t"
		fi
	done
done
if [ "$failed" -ne 0 ]; then
	echo "run-suites: $failed run(s) failed"
	exit 1
fi
echo "run-suites: $# suites x $rounds rounds passed"
