"""Reference scores of the rerank model for the sidecar's tests: the installed
.models/reranker graph run by onnxruntime on a few (query, document) pairs, with the Python
`tokenizers` encoding of each pair. Writes crates/embedder/tests/fixtures/reranker-reference.json.

  source scripts/embedder/venv.sh && embedder_venv
  $PY scripts/embedder/rerank-reference.py [MODEL_DIR] [OUT]
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / ".models/reranker"
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "crates/embedder/tests/fixtures/reranker-reference.json"

QUERY = "How long does a refund take to reach my card?"
DOCUMENTS = [
    "Refunds\nRefunds reach your card within 5 to 7 business days after the warehouse receives the return.",
    "Account security\nOpen the sign-in page, choose \"Forgot password\" and follow the link we email you.",
    "Shipping\nStandard delivery takes 3 to 5 business days; express delivery arrives the next day.",
    "Refunds\nYou can get your money back within 30 days of delivery if the item is unused.",
]

config = json.loads((MODEL / "embedder.json").read_text())
tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
tokenizer.no_padding()
tokenizer.enable_truncation(config["max_seq_len"])
session = ort.InferenceSession(str(MODEL / config["onnx_file"]), providers=["CPUExecutionProvider"])
names = [i.name for i in session.get_inputs()]

token_ids, logits = [], []
for document in DOCUMENTS:
    enc = tokenizer.encode(QUERY, document)
    feed = {
        "input_ids": np.array([enc.ids], dtype=np.int64),
        "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
    }
    out = session.run(None, {n: feed[n] for n in names})[0]
    token_ids.append(enc.ids)
    logits.append(float(out.reshape(-1)[0]))

OUT.write_text(json.dumps({
    "model": config["id"],
    "query": QUERY,
    "documents": DOCUMENTS,
    "token_ids": token_ids,
    "logits": logits,
}, indent=1) + "\n")
print(OUT, [round(x, 3) for x in logits])
