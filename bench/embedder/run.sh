#!/usr/bin/env bash
# Benchmarks the embedding sidecar against onnxruntime on the same model files in one run:
# sentences/s and p50/p99 latency for batch 1, 8, 32 and 16 concurrent clients, and the
# throughput ratio. Builds the release binary, starts it on a free loopback port, runs
# bench.py, stops it. A benchmark, not a test: it asserts nothing about time.
#
#   bench/embedder/run.sh                    default model (.models/minilm, installed if needed)
#   MODEL_DIR=/path bench/embedder/run.sh    another model directory
#   BENCH_SECONDS=4 ...                      seconds per scenario and runtime (default 8)
#   EMBEDDER_ARGS="--workers 1 --intra-threads 2" ...   extra sidecar flags
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
MODEL_DIR="${MODEL_DIR:-$("$REPO/scripts/embedder/install-model.sh")}"
# shellcheck source=../../scripts/embedder/venv.sh
source "$REPO/scripts/embedder/venv.sh"
embedder_venv
# Older OpenBLAS builds need these on some CPUs; they only slow numpy here (see the env docs).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
(cd "$REPO" && cargo build --release -p embedder --quiet)
BIN="$CARGO_TARGET_DIR/release/embedder"

LOG="$(mktemp)"
# shellcheck disable=SC2086
"$BIN" --model-dir "$MODEL_DIR" --listen 127.0.0.1:0 ${EMBEDDER_ARGS:-} >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 600); do
    grep -q "listening on" "$LOG" && break
    kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.1
done
URL="$(sed -n 's/^embedder listening on //p' "$LOG" | head -n1)"
echo "sidecar $URL (pid $PID) flags: ${EMBEDDER_ARGS:-defaults}; model $MODEL_DIR"
"$PY" "$HERE/bench.py" --url "$URL" --model-dir "$MODEL_DIR" --seconds "${BENCH_SECONDS:-8}" "$@"
