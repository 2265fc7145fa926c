"""Throughput and latency of the embedding sidecar against onnxruntime, same model files,
same run, same texts.

Scenarios (each runs for --seconds):
  batch-1, batch-8, batch-32  one client, requests of 1 / 8 / 32 texts back to back
  16-clients                  16 concurrent clients, 1 text per request
  ingest-2x64                 2 clients, 64 knowledge-base passages (~120 tokens) per request

For the sidecar, a request is an HTTP POST /v1/embeddings (keep-alive, base64 output) and
its time includes HTTP, JSON, tokenization, batching and inference. For onnxruntime, a
"request" is an in-process call: tokenize (Python `tokenizers`), pad, session.run, pool
(mean, or none when the graph pools), normalize; 16 clients are 16 threads sharing one
session (onnxruntime releases the GIL),
with its default thread pool (one thread per core). Each scenario alternates
the two for --rounds rounds; prints the medians of sentences/s and p50/p99 latency per
scenario, the sidecar/onnxruntime throughput ratio of the medians and each round's ratio.

Usage: bench.py --url http://127.0.0.1:PORT --model-dir DIR [--onnx-file F] [--seconds S]
"""

import argparse
import http.client
import json
import os
import random
import statistics
import threading
import time
from urllib.parse import urlparse

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

SUBJECTS = ["my order", "the refund", "my account", "the invoice", "the delivery", "my subscription",
            "the password reset email", "the mobile app", "the discount code", "my parcel"]
PROBLEMS = ["has not arrived yet", "was charged twice", "keeps failing with an error",
            "shows the wrong address", "is missing two items", "cannot be found anywhere",
            "was cancelled without any notice", "arrived damaged and unusable"]
TAILS = ["", " Can you help?", " I have been waiting for over a week and nobody answered my emails.",
         " Please tell me what I should do next, and whether I will get my money back.",
         " This is the third time this month that it happens, and I am starting to lose patience with your service."]


def make_texts(n, seed=7):
    rng = random.Random(seed)
    return [f"Hello, {rng.choice(SUBJECTS)} {rng.choice(PROBLEMS)}.{rng.choice(TAILS)}" for _ in range(n)]


def median_round(rounds):
    """Median of each figure over the rounds of one scenario."""
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_scenario(call, batch, clients, seconds, texts):
    """Runs `call(list_of_texts)` from `clients` threads for `seconds`; returns stats."""
    latencies = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    def worker(k):
        i = k * 997
        local = []
        while True:  # at least one request per client, however slow
            chunk = [texts[(i + j) % len(texts)] for j in range(batch)]
            i += batch
            t0 = time.perf_counter()
            call(chunk)
            local.append(time.perf_counter() - t0)
            counts[k] += batch
            if time.perf_counter() >= stop:
                break
        with lock:
            latencies.extend(local)

    call([texts[0]] * batch)  # warm-up
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "sentences_per_s": sum(counts) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "requests": len(latencies),
    }


class SidecarClient:
    def __init__(self, url):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()

    def __call__(self, texts):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        body = json.dumps({"input": texts, "encoding_format": "base64"})
        conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"sidecar answered {resp.status}: {data[:200]!r}")
        return data


class OnnxRuntimeClient:
    def __init__(self, model_dir, onnx_file):
        with open(os.path.join(model_dir, "embedder.json")) as f:
            config = json.load(f)
        onnx_file = onnx_file or config.get("onnx_file", "model.onnx")
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(config["max_seq_len"])
        self.session = ort.InferenceSession(os.path.join(model_dir, onnx_file), providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.pooling = config["pooling"]

    def __call__(self, texts):
        encs = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), np.int64)
        mask = np.zeros_like(ids)
        for r, e in enumerate(encs):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = self.session.run(None, {n: feeds[n] for n in self.names})[0]
        if self.pooling == "none":
            v = out
        else:
            v = (out * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


# (name, texts per request, clients, text set): "short" chat messages, or "passages" of a
# knowledge-base article the size the ingest pipeline embeds (about 120 tokens).
SCENARIOS = [("batch-1", 1, 1, "short"), ("batch-8", 8, 1, "short"), ("batch-32", 32, 1, "short"),
             ("16-clients", 1, 16, "short"), ("ingest-2x64", 64, 2, "passages")]

ARTICLE = ("Standard delivery takes three to five working days. Express delivery arrives the next "
           "working day when you order before two in the afternoon. Orders placed on weekends are "
           "shipped on Monday. You can track every parcel from the order page, and we email you "
           "the tracking number as soon as the carrier collects it. If a parcel is late, wait two "
           "more working days before you contact us, because carriers often deliver a little after "
           "the estimate. Damaged parcels can be refused at the door; the refund starts when the "
           "parcel is back in our warehouse.").split()


def make_passages(n, words=95, seed=11):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        start = rng.randrange(len(ARTICLE))
        out.append(" ".join(ARTICLE[(start + i) % len(ARTICLE)] for i in range(words)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--onnx-file", default=None)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per scenario (medians are printed)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    text_sets = {"short": make_texts(512), "passages": make_passages(256)}
    sidecar = SidecarClient(args.url)
    onnx = OnnxRuntimeClient(args.model_dir, args.onnx_file)
    for kind, texts in text_sets.items():
        lengths = [len(e.ids) for e in onnx.tokenizer.encode_batch(texts)]
        print(f"{kind}: {len(texts)} texts, tokens per text: min {min(lengths)}, median {statistics.median(lengths):.0f}, max {max(lengths)}")
    print(f"onnxruntime {ort.__version__}, {os.cpu_count()} cores, {args.seconds:.0f} s per scenario and runtime, "
          f"{args.rounds} alternating rounds (medians)\n")

    rows = []
    for name, batch, clients, kind in SCENARIOS:
        texts = text_sets[kind]
        # Alternate the two for several rounds and keep the medians: on a shared machine the
        # speed drifts over seconds, and a single pair of runs can land on either side of it.
        ours_rounds, theirs_rounds = [], []
        for _ in range(args.rounds):
            ours_rounds.append(run_scenario(sidecar, batch, clients, args.seconds, texts))
            theirs_rounds.append(run_scenario(onnx, batch, clients, args.seconds, texts))
        ours, theirs = median_round(ours_rounds), median_round(theirs_rounds)
        ratios = sorted(o["sentences_per_s"] / t["sentences_per_s"] for o, t in zip(ours_rounds, theirs_rounds))
        ours["round_ratios"] = ratios
        rows.append((name, ours, theirs))
        print(f"{name:<11} sidecar {ours['sentences_per_s']:7.1f} sent/s p50 {ours['p50_ms']:7.1f} ms p99 {ours['p99_ms']:7.1f} ms | "
              f"onnxruntime {theirs['sentences_per_s']:7.1f} sent/s p50 {theirs['p50_ms']:7.1f} ms p99 {theirs['p99_ms']:7.1f} ms | "
              f"ratio {ours['sentences_per_s'] / theirs['sentences_per_s']:.2f}x (rounds: {' '.join(f'{r:.2f}' for r in ratios)})", flush=True)

    print("\n| scenario | sidecar sent/s | p50 ms | p99 ms | onnxruntime sent/s | p50 ms | p99 ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, o, t in rows:
        print(f"| {name} | {o['sentences_per_s']:.1f} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | "
              f"{t['sentences_per_s']:.1f} | {t['p50_ms']:.1f} | {t['p99_ms']:.1f} | {o['sentences_per_s'] / t['sentences_per_s']:.2f}x |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump([{"scenario": n, "sidecar": o, "onnxruntime": t} for n, o, t in rows], f, indent=1)


if __name__ == "__main__":
    main()
