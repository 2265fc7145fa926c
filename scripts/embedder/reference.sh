#!/usr/bin/env bash
# Regenerates the MiniLM reference embeddings committed as a test fixture
# (crates/embedder/tests/fixtures/minilm-reference.json) with onnxruntime, from the model
# directory install-model.sh assembles, for both the fp32 and the int8 graph.
set -euo pipefail
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
FIXTURES="$REPO/crates/embedder/tests/fixtures"
MODEL_DIR="$("$SCRIPTS/install-model.sh")"
# shellcheck source=venv.sh
source "$SCRIPTS/venv.sh"
embedder_venv
"$PY" "$SCRIPTS/make-reference.py" "$MODEL_DIR" "$FIXTURES/minilm-sentences.json" \
    "$FIXTURES/minilm-reference.json" model.onnx model-int8.onnx
