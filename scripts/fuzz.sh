#!/usr/bin/env bash
# `make fuzz` (docs/fuzzing.md): coverage-guided fuzzing of every target of fuzz/ with libFuzzer
# on the pinned stable toolchain, then the contracts' forge fuzz and invariant tests at the
# `fuzz` profile's counts (10,000 runs per property, 1,000 × 100 calls per invariant).
#
# usage: scripts/fuzz.sh [--seconds N] [--targets a,b,…] [--no-seeds] [--no-contracts]
#        scripts/fuzz.sh --replay TARGET FILE…     (run a target on saved inputs, e.g. a crash)
# env:   FUZZ_SECONDS (default 180 per target), FUZZ_JOBS (parallel targets, default 1)
#
# The targets are built with SanitizerCoverage (`-C passes=sancov-module`, stable flags) and
# debug assertions (integer overflow panics) into target/fuzz/build; libFuzzer's work corpus is
# target/fuzz/corpus/<target> (kept between runs), crashes go to target/fuzz/artifacts/<target>/.
# Every input is limited to 10 s (-timeout) and 2 GiB (-rss_limit_mb, -malloc_limit_mb); the
# targets check their own tighter memory bound (fuzz/src/lib.rs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-180}"
jobs="${FUZZ_JOBS:-1}"
targets=""
seeds=1
contracts=1
replay=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --targets) targets="${2//,/ }"; shift 2 ;;
    --no-seeds) seeds=0; shift ;;
    --no-contracts) contracts=0; shift ;;
    --replay) replay="$2"; shift 2; break ;;
    *) echo "usage: $0 [--seconds N] [--targets a,b] [--no-seeds] [--no-contracts] | --replay TARGET FILE…" >&2; exit 2 ;;
  esac
done

host="$(rustc -vV | sed -n 's/^host: //p')"
out="$root/target/fuzz"
bin="$out/build/$host/release"
mkdir -p "$out"

echo "== fuzz: building the targets (libFuzzer, SanitizerCoverage, debug assertions)"
# --target makes RUSTFLAGS apply to the targets only, not to build scripts.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked -q -p kc-fuzz --features libfuzzer --bins \
  --target "$host" --target-dir "$out/build"

[ -n "$targets" ] || targets="$(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')"

if [ -n "$replay" ]; then
  exec "$bin/$replay" -runs=1 "$@"
fi

if [ "$seeds" = 1 ]; then
  echo "== fuzz: fresh seeds from the project's tools (scripts/fuzz-seeds.sh)"
  "$root/scripts/fuzz-seeds.sh" "$out/seeds"
fi

export KC_FUZZ_TMP="$out/tmp"
mkdir -p "$KC_FUZZ_TMP"
run_one() {
  local t="$1" log="$out/logs/$1.log"
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
  local dirs=("$out/corpus/$t" "fuzz/corpus/$t")
  [ -d "$out/seeds/$t" ] && dirs+=("$out/seeds/$t")
  local start=$SECONDS rc=0
  "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=262144 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "${dirs[@]}" \
    >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - start))
  local runs eps cov ft rss
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')"
  ft="$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')"
  local result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED: $(ls -t "$out/artifacts/$t" | head -n 1) (log $log)"
  fi
  printf '%-14s %6ss %12s %8s %7s %7s %6s  %s\n' "$t" "$took" "${runs:-?}" "${eps:-?}" "${cov:-?}" \
    "${ft:-?}" "${rss:-?}" "$result" >>"$out/summary.txt"
  [ "$rc" -eq 0 ]
}

echo "== fuzz: $seconds s per target: $targets"
printf '%-14s %7s %12s %8s %7s %7s %6s  %s\n' target time executions exec/s cov features rss_mb result \
  >"$out/summary.txt"
failed=0
if [ "$jobs" -gt 1 ]; then
  pids=()
  for t in $targets; do
    run_one "$t" & pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
else
  for t in $targets; do run_one "$t" || failed=1; done
fi
rm -rf "$KC_FUZZ_TMP"
cat "$out/summary.txt"

if [ "$contracts" = 1 ]; then
  echo "== fuzz: contracts, forge fuzz and invariant tests (FOUNDRY_PROFILE=fuzz)"
  ( cd contracts && . ./tools.sh && start=$SECONDS &&
    FOUNDRY_PROFILE=fuzz "$FORGE" test --use ./solc-wrapper.sh --match-test '^(testFuzz|invariant)_' \
      | grep -E 'runs:|calls:|Suite result|passed|failed' &&
    echo "contracts: $((SECONDS - start)) s" ) || failed=1
fi
exit "$failed"
