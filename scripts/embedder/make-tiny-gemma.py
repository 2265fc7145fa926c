"""Builds the tiny Gemma-3-architecture test model committed under
crates/embedder/tests/fixtures/tiny-gemma3/.

EmbeddingGemma-300m is a Gemma 3 text encoder run with bidirectional attention and mean
pooling. This script makes a randomly initialised model of the same architecture (RMSNorm
with the (1 + w) scale, rotary position embeddings with separate local/global bases,
grouped-query attention, sliding-window and full attention layers, GeGLU MLP, scaled token
embeddings) but a few hundred kilobytes in size, so that the Rust test suite can prove that
tract runs this graph without torch, onnxruntime or the real weights.

It writes:
  tokenizer.json   a small byte-fallback BPE tokenizer trained here, shaped like Gemma's
                   (metaspace, <bos> ... <eos> post-processing)
  model.onnx       the encoder (input_ids, attention_mask -> last_hidden_state [batch, seq, H])
  embedder.json    mean pooling, normalized, EmbeddingGemma's prefixes
and checks that onnxruntime reproduces torch on the exported file. The reference outputs are
then made by make-reference.py (see make-tiny-gemma.sh).

Usage: make-tiny-gemma.py OUT_DIR SENTENCES_JSON
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import Gemma3TextConfig, Gemma3TextModel

SEED = 20261126
HIDDEN = 64
MAX_SEQ_LEN = 128

CORPUS = [
    "How do I reset my password? I forgot my password and cannot log in to my account.",
    "What is your refund policy for damaged items? My package arrived broken.",
    "Can I change the delivery address after placing an order? Please update shipping.",
    "Do you offer a discount for annual subscriptions? Cancel my subscription now.",
    "The app crashes every time I open the settings page. I want to speak to a human.",
    "The weather is sunny and warm today; a recipe for chocolate cake with three eggs.",
    "task: search result | query: title: none | text: customer support knowledge base",
    "Order number 48213 was charged twice on 2024-03-01. Where is my parcel?",
]


def make_tokenizer():
    special = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tokenizer.normalizer = normalizers.Replace(" ", "\u2581")
    tokenizer.pre_tokenizer = pre_tokenizers.Split("\u2581", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=special + [f"<0x{b:02X}>" for b in range(256)],
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>",
        pair="<bos> $A <eos> $B <eos>",
        special_tokens=[("<bos>", tokenizer.token_to_id("<bos>")), ("<eos>", tokenizer.token_to_id("<eos>"))],
    )
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return tokenizer


def make_model(vocab_size, pad_id):
    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=2048,
        sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
        use_bidirectional_attention=True,
        pad_token_id=pad_id,
        attn_implementation="eager",
    )
    torch.manual_seed(SEED)
    model = Gemma3TextModel(config).eval()
    # Default init (std 0.02, norms at zero) gives nearly identical vectors for every text;
    # larger random weights make the comparison sensitive to any difference in the graph.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.3)
            elif "embed" in name:
                p.normal_(0.0, 1.0)
            else:
                p.normal_(0.0, 0.15)
    return model


class Encoder(torch.nn.Module):
    """The model with its attention masks built from plain tensor ops.

    transformers builds Gemma 3's masks with vmap-ed mask functions that the ONNX exporter
    cannot trace; the masks are the same thing written directly (checked against
    transformers' own in `main`): full layers see every real token, sliding layers every
    real token closer than `sliding_window`, both ways (bidirectional).
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.window = model.config.sliding_window

    def forward(self, input_ids, attention_mask):
        seq = input_ids.shape[1]
        pos = torch.arange(seq, device=input_ids.device)
        keys = attention_mask[:, None, None, :].bool()
        near = (pos[:, None] - pos[None, :]).abs() < self.window
        blocked = torch.tensor(torch.finfo(torch.float32).min)
        zero = torch.tensor(0.0)
        full = torch.where(keys, zero, blocked)
        sliding = torch.where(keys & near[None, None, :, :], zero, blocked)
        masks = {"full_attention": full, "sliding_attention": sliding}
        return self.model(input_ids=input_ids, attention_mask=masks, use_cache=False).last_hidden_state


def main(out_dir, sentences_path):
    os.makedirs(out_dir, exist_ok=True)
    tokenizer = make_tokenizer()
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    model = make_model(tokenizer.get_vocab_size(), tokenizer.token_to_id("<pad>"))
    encoder = Encoder(model).eval()

    with open(sentences_path) as f:
        sentences = json.load(f)
    tokenizer.enable_truncation(MAX_SEQ_LEN)
    encodings = [tokenizer.encode(s) for s in sentences]

    # Our masks must equal transformers' own: same output on a padded batch.
    short, long_ = encodings[0].ids, encodings[1].ids
    width = max(len(short), len(long_))
    ids = torch.tensor([short + [0] * (width - len(short)), long_ + [0] * (width - len(long_))])
    mask = torch.tensor([[1] * len(short) + [0] * (width - len(short)), [1] * len(long_) + [0] * (width - len(long_))])
    with torch.no_grad():
        ours = encoder(ids, mask)
        theirs = model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    difference = float((ours - theirs)[mask.bool()].abs().max())
    print(f"explicit masks vs transformers masks: max abs difference {difference:.2e}")
    if difference > 1e-4:
        sys.exit("the explicit attention masks differ from transformers' own")

    longest = max(encodings, key=lambda e: len(e.ids))
    example_ids = torch.tensor([longest.ids, longest.ids])
    example_mask = torch.ones_like(example_ids)
    onnx_path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(
        encoder,
        (example_ids, example_mask),
        onnx_path,
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"},
        },
        opset_version=17,
        dynamo=False,
    )

    with open(os.path.join(out_dir, "embedder.json"), "w") as f:
        json.dump(
            {
                "id": "tiny-gemma3",
                "description": "Randomly initialised Gemma 3 text encoder (bidirectional attention) made by scripts/embedder/make-tiny-gemma.py; a test fixture, not a useful model.",
                "onnx_file": "model.onnx",
                "pooling": "mean",
                "normalize": True,
                "dims": HIDDEN,
                "matryoshka_dims": [32, 16],
                "max_seq_len": MAX_SEQ_LEN,
                "prefixes": {"query": "task: search result | query: ", "document": "title: none | text: "},
            },
            f,
            indent=2,
        )
        f.write("\n")

    # onnxruntime on the exported file must agree with torch, batch of one per text.
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    worst = 1.0
    pooled = []
    for e in encodings:
        ids = torch.tensor([e.ids])
        with torch.no_grad():
            expected = encoder(ids, torch.ones_like(ids)).numpy()
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": np.ones_like(ids.numpy())})[0]
        a, b = expected.mean(axis=1)[0], got.mean(axis=1)[0]
        worst = min(worst, float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        pooled.append(b / np.linalg.norm(b))
    pooled = np.array(pooled)
    off_diagonal = pooled @ pooled.T - np.eye(len(pooled))
    print(f"torch vs onnxruntime: worst cosine {worst:.7f}")
    print(f"cosine between different sentences: max {off_diagonal.max():.3f}, mean {off_diagonal.sum() / (len(pooled) ** 2 - len(pooled)):.3f}")
    if worst < 0.9999:
        sys.exit("onnxruntime does not reproduce torch on the exported graph")
    print(f"model.onnx: {os.path.getsize(onnx_path)} bytes, tokens per sentence {[len(e.ids) for e in encodings]}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
