#!/usr/bin/env bash
# Regenerates the tiny Gemma-3-architecture fixture (crates/embedder/tests/fixtures/tiny-gemma3):
# exports a randomly initialised model with torch + transformers (make-tiny-gemma.py), then
# computes its onnxruntime reference embeddings (make-reference.py). Needs torch, so it uses
# its own venv ($HOME/.cache/support-agent/venv-torch, several GB: PyPI's torch wheel brings
# the CUDA libraries). The test suite needs none of this: the outputs are committed.
set -euo pipefail
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
OUT="$REPO/crates/embedder/tests/fixtures/tiny-gemma3"
VENV="${EMBEDDER_TORCH_VENV:-$HOME/.cache/support-agent/venv-torch}"
export HF_HUB_OFFLINE=1
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SCRIPTS/requirements.txt" -r "$SCRIPTS/requirements-torch.txt"
"$VENV/bin/python" "$SCRIPTS/make-tiny-gemma.py" "$OUT" "$OUT/sentences.json"
"$VENV/bin/python" "$SCRIPTS/make-reference.py" "$OUT" "$OUT/sentences.json" "$OUT/reference.json"
