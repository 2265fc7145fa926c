#!/usr/bin/env bash
# The long fuzzing run: scripts/fuzz.sh with 10 minutes per target by default (about 40
# minutes wall for the eight targets, two at a time), growing the same corpus as the short
# run in `make test`. Prints one line per target and "N passed, M failed".
#   FUZZ_SECONDS=3600 bench/fuzz/run.sh      # an hour per target
set -euo pipefail
cd "$(dirname "$0")/../.."
export FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
exec bash scripts/fuzz.sh
