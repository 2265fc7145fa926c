"""Studies reranking and answerability features on search results collected by collect.py.

Splits mtrag-un by conversation exactly as scripts/eval does (sha1 of the conversation id: even
-> tune, odd -> test), fits on the tune half and prints figures for both halves:
  - document hit@1 / MRR@10 of the hybrid order and of lexical reranking variants;
  - per-feature AUC (answerable vs not) and a logistic model over the features.

  /root/.cache/support-agent/venv/bin/python bench/answerability/fit.py /tmp/search.json
"""

import hashlib
import json
import math
import re
import sys

import numpy as np

import terms


def half(task_id: str) -> str:
    conv = task_id.split("<::>")[0]
    return "tune" if int(hashlib.sha1(conv.encode()).hexdigest(), 16) % 2 == 0 else "test"


def doc_of(hit) -> str:
    ext = hit.get("external_id") or hit["document_id"]
    return re.sub(r"\.(md|txt|html)$", "", ext.rsplit("/", 1)[-1])


def coverage(q: list[str], text: str) -> float:
    if not q:
        return 0.0
    have = terms.stems(text)
    return sum(1 for s in q if s in have) / len(q)


def sentence_cov(q, text):
    best = 0.0
    for s in re.split(r"(?<=[.!?])\s+|\n+", text):
        best = max(best, coverage(q, s))
    return best


def features(row):
    q = terms.question_stems(row["question"])
    hits = row["search"]["results"]
    if not hits:
        return None
    top = hits[0]
    ctx = lambda h: f'{h["title"]} {" ".join(h["heading_path"])} {h["text"]}'
    vs = [h["vector"]["score"] if h.get("vector") else 0.0 for h in hits]
    K = min(10, len(hits))
    vocab = [terms.stems(ctx(h)) for h in hits[:K]]
    df = {t: sum(1 for v in vocab if t in v) for t in q}
    miss_all = sum(1 for t in q if df[t] == 0) / max(1, len(q))
    w = {t: math.log((K + 1) / (df[t] + 0.5)) for t in q}
    wsum = sum(w.values()) or 1.0
    wcov_top = sum(w[t] for t in q if t in vocab[0]) / wsum
    wcov_best = max(sum(w[t] for t in q if t in v) / wsum for v in vocab[:3])
    return {
        "miss_all": miss_all,
        "wcov_top": wcov_top,
        "wcov_best": wcov_best,
        "confidence": row["search"]["confidence"],
        "vsim_top": vs[0],
        "vsim_max": max(vs),
        "vsim_gap": (sorted(vs, reverse=True)[0] - sorted(vs, reverse=True)[1]) if len(vs) > 1 else 0.0,
        "cov_top": coverage(q, ctx(top)),
        "cov_top3": max(coverage(q, ctx(h)) for h in hits[:3]),
        "sent_cov_top": sentence_cov(q, top["text"]),
        "kw_top": 1.0 if top.get("keyword") else 0.0,
        "kw_rank1": 1.0 if top.get("keyword") and top["keyword"]["rank"] == 1 else 0.0,
        "vec_rank1": 1.0 if top.get("vector") and top["vector"]["rank"] == 1 else 0.0,
        "n_terms": min(len(q), 8) / 8,
    }


def auc(scores, labels):
    pos = [s for s, l in zip(scores, labels) if l]
    neg = [s for s, l in zip(scores, labels) if not l]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def rerank_eval(rows, lam, field):
    h1 = mrr = n = 0
    for r in rows:
        if not r["gold"]:
            continue
        q = terms.question_stems(r["question"])
        hits = r["search"]["results"]
        if not hits:
            n += 1
            continue
        top_score = hits[0]["score"] or 1.0
        def key(h):
            c = coverage(q, f'{h["title"]} {" ".join(h["heading_path"])}' if field == "ctx" else
                         f'{h["title"]} {" ".join(h["heading_path"])} {h["text"]}')
            return h["score"] / top_score + lam * c
        ranked = sorted(hits, key=key, reverse=True)
        docs = []
        for h in ranked:
            d = doc_of(h)
            if d not in docs:
                docs.append(d)
        gold = set(r["gold"])
        n += 1
        if docs and docs[0] in gold:
            h1 += 1
        for i, d in enumerate(docs[:10]):
            if d in gold:
                mrr += 1 / (i + 1)
                break
    return h1 / n, mrr / n, n


def main():
    rows = json.load(open(sys.argv[1]))
    for r in rows:
        r["half"] = half(r["id"])
    for name in ("tune", "test"):
        part = [r for r in rows if r["half"] == name]
        print(f"== {name}: {len(part)} tasks")
        for lam in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0):
            for field in ("all", "ctx"):
                h1, mrr, n = rerank_eval(part, lam, field)
                print(f"  rerank lam={lam:.1f} {field}: hit@1 {h1:.3f} MRR@10 {mrr:.3f} (n={n})")

    data = []
    for r in rows:
        f = features(r)
        if f is None:
            continue
        label = r["answerability"] in ("ANSWERABLE", "PARTIAL")
        data.append((r, f, label))
    names = list(data[0][1].keys())
    tune = [(f, l) for r, f, l in data if r["half"] == "tune"]
    test = [(f, l) for r, f, l in data if r["half"] == "test"]
    print("\nfeature AUC (answerable vs not), tune / test")
    for k in names:
        print(f"  {k:14s} {auc([f[k] for f, _ in tune], [l for _, l in tune]):.3f} "
              f"{auc([f[k] for f, _ in test], [l for _, l in test]):.3f}")

    use = [k for k in (sys.argv[2].split(",") if len(sys.argv) > 2 else names)]
    X = np.array([[f[k] for k in use] for f, _ in tune])
    y = np.array([1.0 if l else 0.0 for _, l in tune])
    w = np.zeros(len(use))
    b = 0.0
    for _ in range(20000):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        g = p - y
        w -= 0.5 * (X.T @ g / len(y) + 1e-3 * w)
        b -= 0.5 * g.mean()
    print("\nlogistic model:", ", ".join(f"{k}={v:+.3f}" for k, v in zip(use, w)), f"bias={b:+.3f}")

    def score(f):
        return 1 / (1 + math.exp(-(sum(w[i] * f[k] for i, k in enumerate(use)) + b)))

    for name, part in (("tune", tune), ("test", test)):
        s = [score(f) for f, _ in part]
        print(f"  {name}: AUC {auc(s, [l for _, l in part]):.3f}")
        for th in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
            ans = sum(1 for x, (_, l) in zip(s, part) if l and x >= th) / max(1, sum(1 for _, l in part if l))
            una = sum(1 for x, (_, l) in zip(s, part) if not l and x >= th) / max(1, sum(1 for _, l in part if not l))
            print(f"    th {th:.2f}: answerable kept {ans:.3f}, not-answerable passed {una:.3f}")


if __name__ == "__main__":
    main()
