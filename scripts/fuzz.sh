#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted bytes (fuzz/: cargo-fuzz over
# libFuzzer): docparse per format, the upload reader and the inbound webhook parsers.
#
# Builds the targets (release, debug assertions and overflow checks, AddressSanitizer), then
# runs each for FUZZ_SECONDS, FUZZ_JOBS at a time, over its committed seeds
# (fuzz/seeds/<target>), its committed regression inputs (fuzz/regressions/<target>, every
# crash ever found) and the committed test fixtures, with a memory cap per process and a
# time cap per input. Prints one line per target (executions, corpus size, outcome), then
# "N passed, M failed" over the targets; exits non-zero if any target crashed, timed out or
# ran out of memory. A crashing input is left in $FUZZ_WORK/artifacts/<target>/: commit it
# under fuzz/regressions/<target>/ with the fix.
#
# The generated corpus lives outside the clone in $FUZZ_WORK, so it grows between runs.
# Environment: FUZZ_SECONDS (60), FUZZ_JOBS (2), FUZZ_TARGETS (all), FUZZ_RSS_MB (2048),
# FUZZ_TIMEOUT (10, seconds per input), FUZZ_TARGET_DIR, FUZZ_WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
targets=${FUZZ_TARGETS:-"pdf docx html csv json markdown multipart webhook"}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/support-agent/fuzz-target}
work=${FUZZ_WORK:-$HOME/.cache/support-agent/fuzz-work}
cargo_fuzz_version=0.13.2

# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP lets the stable toolchain take them,
# so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi
(cd fuzz && cargo fuzz build --target-dir "$target_dir")
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

# Read-only seed folders per target besides its own seeds and regressions.
extra_seeds() {
  case "$1" in
    multipart) ;;
    webhook) echo "$root/tests/fixtures/ticketing" ;;
    *) echo "$root/crates/docparse/tests/fixtures" ;;
  esac
}

run_target() {
  local t=$1
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
  local dirs=("$work/corpus/$t")
  for d in "$root/fuzz/seeds/$t" "$root/fuzz/regressions/$t" $(extra_seeds "$t"); do
    [ -d "$d" ] && dirs+=("$d")
  done
  local status=0
  "$bin_dir/$t" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "${dirs[@]}" \
    >"$work/logs/$t.log" 2>&1 || status=$?
  echo "$status" >"$work/logs/$t.status"
}

started=$(date +%s)
running=0
for t in $targets; do
  rm -f "$work/logs/$t.status"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

passed=0
failed=0
for t in $targets; do
  log="$work/logs/$t.log"
  status=$(cat "$work/logs/$t.status" 2>/dev/null || echo missing)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  corpus=$(find "$work/corpus/$t" -type f | wc -l)
  contained=$(grep -c "^dependency panic:" "$log" || true)
  line="fuzz $t: ${runs:-?} executions in ${seconds}s, corpus $corpus inputs, peak RSS ${rss:-?} MB"
  [ "$contained" -gt 0 ] && line+=", $contained panic sites in dependencies caught by docparse"
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "$line: ok"
  else
    failed=$((failed + 1))
    echo "$line: FAILED (exit $status), log $log"
    grep -E '^==[0-9]+==|^SUMMARY|panicked at|Test unit written to' "$log" | head -5 | sed 's/^/    /'
  fi
done
echo "fuzzing took $(($(date +%s) - started))s wall"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
