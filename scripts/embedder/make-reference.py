"""Computes reference embeddings with onnxruntime for the sidecar's accuracy tests.

Reads a model directory the way the sidecar does (embedder.json, tokenizer.json, the ONNX
file), embeds every sentence of a sentences file one at a time (no padding, so the
reference does not depend on batching) with the Python `tokenizers` and `onnxruntime`, and
writes a JSON fixture with the token ids and the embeddings per ONNX file.

Usage:
  make-reference.py MODEL_DIR SENTENCES_JSON OUT_JSON [ONNX_FILE ...]

ONNX_FILE defaults to the one embedder.json names. Run through scripts/embedder/reference.sh,
which sets up the pinned venv.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def pool(config, hidden, mask):
    pooling = config["pooling"]
    if pooling == "none":
        v = hidden
    elif pooling == "mean":
        v = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    elif pooling == "cls":
        v = hidden[:, 0]
    elif pooling == "last_token":
        v = hidden[np.arange(len(hidden)), mask.sum(axis=1) - 1]
    else:
        raise SystemExit(f"unknown pooling {pooling}")
    v = v[:, : config["dims"]]
    if config["normalize"]:
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v


def main(model_dir, sentences_path, out_path, onnx_files):
    with open(os.path.join(model_dir, "embedder.json")) as f:
        config = json.load(f)
    with open(sentences_path) as f:
        sentences = json.load(f)
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(config["max_seq_len"])
    encodings = [tokenizer.encode(s) for s in sentences]
    onnx_files = onnx_files or [config.get("onnx_file", "model.onnx")]
    embeddings = {}
    for onnx_file in onnx_files:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(
            os.path.join(model_dir, onnx_file), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in session.get_inputs()]
        rows = []
        for e in encodings:
            ids = np.array([e.ids], dtype=np.int64)
            mask = np.ones_like(ids)
            feeds = {
                "input_ids": ids,
                "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids], dtype=np.int64),
                "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None, :],
            }
            out = session.run(None, {n: feeds[n] for n in names})[0]
            rows.append([round(float(x), 7) for x in pool(config, out.astype(np.float64), mask)[0]])
        embeddings[onnx_file] = rows
    fixture = {
        "generated_by": "scripts/embedder/make-reference.py with onnxruntime " + ort.__version__,
        "model": config["id"],
        "sentences": sentences,
        "token_ids": [e.ids for e in encodings],
        "truncated": [len(e.overflowing) > 0 for e in encodings],
        "embeddings": embeddings,
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out_path}: {len(sentences)} sentences x {len(onnx_files)} graph(s)")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
