#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted bytes (fuzz/: cargo-fuzz over
# libFuzzer): docparse per format, the upload reader and the inbound webhook parsers.
#
# Builds the targets (release, debug assertions and overflow checks, AddressSanitizer), then
# runs each target's committed regression inputs once (fuzz/regressions/<target>: every
# crash, hang or memory blow-up found so far), then fuzzes it for FUZZ_SECONDS, FUZZ_JOBS
# targets at a time, starting from its committed seeds (fuzz/seeds/<target>), the committed
# test fixtures of its format and the corpus earlier runs grew; with a memory cap per
# process and a time cap per input. Prints one line per target (executions, corpus size, outcome), then
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
  # Built in a temporary folder, not in a CARGO_TARGET_DIR the caller shares.
  env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi
(cd fuzz && cargo fuzz build --target-dir "$target_dir")
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

# The committed test fixtures each target starts from, by file name.
fixtures() {
  case "$1" in
    pdf) echo "crates/docparse/tests/fixtures/*.pdf" ;;
    docx) echo "crates/docparse/tests/fixtures/*.docx" ;;
    html) echo "crates/docparse/tests/fixtures/*.html" ;;
    csv) echo "crates/docparse/tests/fixtures/*.csv" ;;
    json) echo "crates/docparse/tests/fixtures/*.json" ;;
    markdown) echo "crates/docparse/tests/fixtures/*.md crates/docparse/tests/fixtures/*.txt" ;;
    webhook) echo "tests/fixtures/ticketing/*.json" ;;
  esac
}

run_target() {
  local t=$1 bin="$bin_dir/$1" status=0
  local limits=(-rss_limit_mb="$rss_mb" -timeout="$timeout" -artifact_prefix="$work/artifacts/$t/")
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
  rm -rf "$work/fixtures/$t" && mkdir -p "$work/fixtures/$t"
  # shellcheck disable=SC2046 # the globs are meant to expand
  cp $(fixtures "$t") "$work/fixtures/$t/" 2>/dev/null || true
  : >"$work/logs/$t.log"
  # Every regression input once, under the same limits: a crash found before stays fixed.
  local regressions=("$root/fuzz/regressions/$t"/*)
  if [ -e "${regressions[0]}" ]; then
    "$bin" "${limits[@]}" "${regressions[@]}" >>"$work/logs/$t.log" 2>&1 || status=$?
  fi
  if [ "$status" = 0 ]; then
    local dirs=("$work/corpus/$t" "$work/fixtures/$t")
    [ -d "$root/fuzz/seeds/$t" ] && dirs+=("$root/fuzz/seeds/$t")
    "$bin" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 "${dirs[@]}" \
      >>"$work/logs/$t.log" 2>&1 || status=$?
  fi
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
