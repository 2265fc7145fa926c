"""Checks the assembled EmbeddingGemma-300m sentence-transformers checkpoint and exports it
to ONNX for the sidecar (opt-in, run by gemma-model.sh).

Checks that it is what it claims: a Gemma 3 text encoder with bidirectional attention, 768
hidden size, mean pooling over the attention mask, two Dense projections 768->3072->768,
normalization, EmbeddingGemma's query/document prompts; and that sentence-transformers
itself embeds the sentences to unit vectors of 768 floats (written as the reference).

The exported graph is the whole pipeline up to the normalization (the sidecar normalizes,
and re-normalizes after Matryoshka truncation): input_ids, attention_mask ->
sentence_embedding [batch, 768]. As for the tiny fixture, the attention masks are written as
plain tensor ops (the exporter cannot trace transformers' vmap-ed mask builders); the export
is checked against sentence-transformers with onnxruntime before anything is written.

Usage: export_gemma.py CHECKPOINT_DIR OUT_DIR SENTENCES_JSON
"""

import json
import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import torch
from sentence_transformers import SentenceTransformer

QUERY = "task: search result | query: "
DOCUMENT = "title: none | text: "


class Pipeline(torch.nn.Module):
    def __init__(self, st):
        super().__init__()
        self.encoder = st[0].auto_model
        self.dense1 = st[2]
        self.dense2 = st[3]
        self.window = self.encoder.config.sliding_window

    def forward(self, input_ids, attention_mask):
        seq = input_ids.shape[1]
        pos = torch.arange(seq, device=input_ids.device)
        keys = attention_mask[:, None, None, :].bool()
        near = (pos[:, None] - pos[None, :]).abs() < self.window
        blocked = torch.tensor(torch.finfo(torch.float32).min)
        zero = torch.tensor(0.0)
        masks = {
            "full_attention": torch.where(keys, zero, blocked),
            "sliding_attention": torch.where(keys & near[None, None, :, :], zero, blocked),
        }
        hidden = self.encoder(input_ids=input_ids, attention_mask=masks, use_cache=False).last_hidden_state
        weights = attention_mask.to(hidden.dtype)[:, :, None]
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        features = self.dense1({"sentence_embedding": pooled})["sentence_embedding"]
        return self.dense2({"sentence_embedding": features})["sentence_embedding"]


def main(checkpoint, out_dir, sentences_path):
    config = json.load(open(os.path.join(checkpoint, "config.json")))
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.load(open(os.path.join(checkpoint, "modules.json")))]
    prompts = json.load(open(os.path.join(checkpoint, "config_sentence_transformers.json")))["prompts"]
    pooling = json.load(open(os.path.join(checkpoint, "1_Pooling/config.json")))
    problems = []
    expect = {
        "model_type": "gemma3_text",
        "hidden_size": 768,
        "num_hidden_layers": 24,
        "use_bidirectional_attention": True,
    }
    for key, want in expect.items():
        if config.get(key) != want:
            problems.append(f"config.json {key} = {config.get(key)!r}, expected {want!r}")
    if modules != ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]:
        problems.append(f"modules.json lists {modules}")
    if not pooling.get("pooling_mode_mean_tokens"):
        problems.append("1_Pooling is not mean pooling")
    if prompts.get("query") != QUERY or prompts.get("document") != DOCUMENT:
        problems.append(f"prompts differ: {prompts.get('query')!r}, {prompts.get('document')!r}")
    if problems:
        sys.exit("not the EmbeddingGemma-300m checkpoint:\n  " + "\n  ".join(problems))

    torch.manual_seed(0)
    st = SentenceTransformer(checkpoint, device="cpu", local_files_only=True)
    st.eval()
    sentences = json.load(open(sentences_path))
    reference = st.encode(sentences, convert_to_numpy=True, normalize_embeddings=False)
    if reference.shape != (len(sentences), 768):
        sys.exit(f"sentence-transformers gave shape {reference.shape}")
    norms = np.linalg.norm(reference, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-4):
        sys.exit(f"sentence-transformers vectors are not unit length: {norms}")
    print(f"checkpoint checks passed; sentence-transformers embeds to 768 dims, first values {reference[0][:4]}")

    os.makedirs(out_dir, exist_ok=True)
    tokenizer = st.tokenizer
    pipeline = Pipeline(st).eval()
    example = tokenizer(["hello world", "a longer example sentence for the export"], padding=True, return_tensors="pt")
    onnx_path = os.path.join(out_dir, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(
            pipeline,
            (example["input_ids"], example["attention_mask"]),
            onnx_path,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    shutil.copy(os.path.join(checkpoint, "tokenizer.json"), os.path.join(out_dir, "tokenizer.json"))
    repo_config = os.path.join(os.path.dirname(__file__), "../../crates/embedder/models/embeddinggemma-300m/embedder.json")
    shutil.copy(repo_config, os.path.join(out_dir, "embedder.json"))

    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    worst = 1.0
    for s, want in zip(sentences, reference):
        enc = tokenizer([s], return_tensors="np")
        got = session.run(None, {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)})[0][0]
        worst = min(worst, float(got @ want / np.linalg.norm(got)))
    print(f"onnxruntime on the export vs sentence-transformers: worst cosine {worst:.6f}")
    if worst < 0.999:
        sys.exit("the ONNX export does not reproduce sentence-transformers")
    with open(os.path.join(out_dir, "sentence-transformers-reference.json"), "w") as f:
        json.dump({"sentences": sentences, "embeddings": [[round(float(x), 7) for x in v] for v in reference]}, f)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.0f} MB)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
