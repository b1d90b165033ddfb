#!/usr/bin/env bash
# Run one libFuzzer harness of tests/fuzz/ (called by mk/fuzz.mk).
#
#   tests/fuzz/run.sh NAME BINARY SEEDS OUTDIR SECONDS MAXLEN [libFuzzer args...]
#
# Copies the seed corpus SEEDS into OUTDIR/corpus-work (FUZZ_FRESH=1 empties
# it first), fuzzes for SECONDS (0: no time limit, e.g. with -runs=N), one
# process, logs to OUTDIR/fuzz.log, prints libFuzzer's final statistics, and
# appends "NAME EXECS SECONDS EXECS_PER_S" to OUTDIR/../summary.txt.  Exits 1
# on any finding, with the end of the log and the artifact's name.
set -euo pipefail
name=$1 bin=$2 seeds=$3 out=$4 secs=$5 maxlen=$6
shift 6
work=$out/corpus-work
mkdir -p "$out/artifacts"
if [ "${FUZZ_FRESH:-0}" = 1 ]; then rm -rf "$work"; fi
mkdir -p "$work"
cp "$seeds"/* "$work"/
log=$out/fuzz.log
echo "$name: $bin for ${secs} s, corpus $work ($(ls "$work" | wc -l) inputs), log $log"
status=0
start=$(date +%s.%N)
timeargs=()
[ "$secs" != 0 ] && timeargs=(-max_total_time="$secs")
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
	"$bin" "${timeargs[@]}" -max_len="$maxlen" -timeout=30 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$out/artifacts/" "$@" "$work" \
	>"$log" 2>&1 || status=$?
end=$(date +%s.%N)
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$log" | sed "s/^/$name: /" || true
grep '^stat::' "$log" | sed "s/^/$name: /" || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
if [ $status -ne 0 ]; then
	echo "$name: FAILED (libFuzzer exit status $status); end of $log:"
	tail -n 60 "$log" | sed 's/^/  | /'
	ls -1 "$out/artifacts/" | sed "s|^|$name: artifact $out/artifacts/|"
	echo "$name: replay it with ${bin}_replay ARTIFACT (FUZZ_HEAP_TRACE=1 prints each operation)"
	exit 1
fi
[ -n "$execs" ] || { echo "$name: FAILED: no final statistics in $log"; exit 1; }
echo "$name: PASS: $execs execs in $wall s, $rate execs/s, no findings"
echo "$name $execs $wall $rate" >>"$out/../summary.txt"
