"""Does the reranker separate answerable from unanswerable questions better when it reads the
visitor's last question alone than when it reads the query the pipeline built?

In a replayed conversation the pipeline searches with the previous question's words in front
of the last one (`conversation_context: "always"`), so the passages it finds often answer the
previous, answerable question, and the reranker scores them high for the joined query even
when the last question is unanswerable. This study re-searches each task with the pipeline's
query (reranked, top 5), then asks the sidecar's `/v1/rerank` to score those same passages
against the last question alone, and prints, per signal, the AUC (ANSWERABLE with a gold
article vs UNANSWERABLE) and the best a threshold does: the share of ANSWERABLE tasks
answered with a gold article first while at most 15% of UNANSWERABLE ones are answered.

Input: the `--json` of `make eval` runs with `--answer-modes replay` and `--modes
hybrid,reranked` (they hold the pipeline's query per task and the tenants), against the same
running app; `--out` keeps the per-task signals, `--rows` reads them back instead of asking
the app again. With both halves, each threshold is also chosen on the tuning half and applied
to the test half:

  python3 bench/answerability/last_question.py /tmp/test.json --url http://127.0.0.1:3300 \
      --state-dir /tmp/evalstate --embedder http://127.0.0.1:8388 --out /tmp/test-rows.json
  python3 bench/answerability/last_question.py --rows /tmp/test-rows.json --rows /tmp/tune-rows.json
"""

import argparse
import concurrent.futures
import json
import math
import os
import pathlib
import subprocess
import urllib.request

MAX_UNANSWERABLE_ANSWERED = 0.15


def post(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def admin_token(kb_loader: str, state: str, tenant: str) -> str:
    secret = pathlib.Path(state, "jwt_secret").read_text().strip()
    out = subprocess.run(
        [kb_loader, "token", "--tenant", tenant, "--role", "admin", "--sub", "study", "--ttl", "12h"],
        env=dict(os.environ, SPIN_VARIABLE_JWT_SECRET=secret), check=True, capture_output=True,
        text=True)
    return out.stdout.strip()


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def auc(pos: list[float], neg: list[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg)) if pos and neg else float("nan")


def best_at_budget(rows: list[dict], signal: str) -> tuple[float, float, float]:
    """The threshold on `signal` that answers the most ANSWERABLE tasks with a gold article
    first while answering at most 15% of UNANSWERABLE ones: (gold-first answered,
    UNANSWERABLE answered, threshold)."""
    ans = [r for r in rows if r["label"] == "ANSWERABLE"]
    una = [r for r in rows if r["label"] == "UNANSWERABLE"]
    best = (0.0, 0.0, float("inf"))
    for t in sorted({r[signal] for r in rows}):
        u = sum(r[signal] >= t for r in una) / len(una)
        if u > MAX_UNANSWERABLE_ANSWERED:
            continue
        g = sum(r[signal] >= t and r["gold_first"] for r in ans) / len(ans)
        if g > best[0]:
            best = (g, u, t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_json", type=pathlib.Path, nargs="*")
    ap.add_argument("--rows", type=pathlib.Path, action="append", default=[],
                    help="per-task signals written by an earlier --out")
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--state-dir", default=".spin")
    ap.add_argument("--embedder", default="http://127.0.0.1:8088")
    ap.add_argument("--kb-loader", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path(__file__).resolve().parents[2] / "target")),
        "release", "kb-loader"))
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--out", type=pathlib.Path, help="write the per-task signals here")
    args = ap.parse_args()

    rows = [r for path in args.rows for r in json.loads(path.read_text())]
    for path in args.eval_json:
        rows += study(json.loads(path.read_text()), args)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    report(rows)


def studied_tasks(run: dict, args: argparse.Namespace) -> tuple[dict[str, str], list[dict]]:
    """An admin token per knowledge base of one eval run, and its ANSWERABLE (with gold) and
    UNANSWERABLE tasks that hold the pipeline's query."""
    tenants = run["run"]["tenants"]
    tokens = {kb: admin_token(args.kb_loader, args.state_dir, t["tenant_id"]) for kb, t in tenants.items()}
    tasks = [
        t for t in run["tasks"]
        if t["label"] in ("ANSWERABLE", "UNANSWERABLE")
        and (t["label"] == "UNANSWERABLE" or t["gold"])
        and "query" in t["answers"].get("replay", {})
        and t["kb"] in tokens
    ]
    return tokens, tasks


def study(run: dict, args: argparse.Namespace) -> list[dict]:
    """The signals of every ANSWERABLE (with gold) and UNANSWERABLE task of one eval run."""
    tokens, tasks = studied_tasks(run, args)

    def one(t: dict) -> dict | None:
        query = t["answers"]["replay"]["query"]
        found = post(f"{args.url}/api/kb/search",
                     {"query": query[:2000], "limit": args.passages, "mode": "reranked"},
                     tokens[t["kb"]])
        if not found["results"] or not found.get("reranked"):
            return None
        texts = [f"{r['title']}\n{r['text']}" for r in found["results"]]
        last = post(f"{args.embedder}/v1/rerank", {"query": t["question"], "documents": texts})
        replay = t["search"].get("reranked@replay", {})
        return {
            "id": t["id"], "half": t["half"], "label": t["label"],
            "gold_first": replay.get("rank") == 1,
            "confidence": found["confidence"],
            "rerank_query": logit(max(r["rerank_score"] for r in found["results"] if "rerank_score" in r)),
            "rerank_last": logit(max(r["relevance_score"] for r in last["results"])),
            "rerank_last_top": logit(next(r["relevance_score"] for r in last["results"] if r["index"] == 0)),
            "standalone_question": query == t["question"],
        }

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rows = [r for r in pool.map(one, tasks) if r]
    for r in rows:
        r["min_query_last"] = min(r["rerank_query"], r["rerank_last"])
        r["mean_query_last"] = (r["rerank_query"] + r["rerank_last"]) / 2
    return rows


SIGNALS = ["confidence", "rerank_query", "rerank_last", "rerank_last_top", "min_query_last",
           "mean_query_last"]


def report(rows: list[dict], signals: list[str] = SIGNALS) -> None:
    """Per half, each signal's AUC and best threshold; with both halves, each threshold
    chosen on the tuning half applied to the test half."""
    for half in sorted({r["half"] for r in rows}):
        part = [r for r in rows if r["half"] == half]
        pos = [r for r in part if r["label"] == "ANSWERABLE"]
        neg = [r for r in part if r["label"] == "UNANSWERABLE"]
        print(f"{half} half: {len(pos)} ANSWERABLE with gold, {len(neg)} UNANSWERABLE "
              f"({sum(r['standalone_question'] for r in part)} searched with the question alone)")
        print(f"  {'signal':<18} {'AUC':>6}  best gold-first answered at UNANSWERABLE answered <= 0.15")
        for s in signals:
            g, u, t = best_at_budget(part, s)
            print(f"  {s:<18} {auc([r[s] for r in pos], [r[s] for r in neg]):6.3f}  "
                  f"{g:.3f} (UNANSWERABLE {u:.3f}, threshold {t:.3f})")

    tune = [r for r in rows if r["half"] == "tune"]
    test = [r for r in rows if r["half"] == "test"]
    if tune and test:
        print("threshold chosen on the tuning half, applied to the test half:")
        for s in signals:
            _, _, t = best_at_budget(tune, s)
            ans = [r for r in test if r["label"] == "ANSWERABLE"]
            una = [r for r in test if r["label"] == "UNANSWERABLE"]
            g = sum(r[s] >= t and r["gold_first"] for r in ans) / len(ans)
            u = sum(r[s] >= t for r in una) / len(una)
            print(f"  {s:<18} threshold {t:7.3f}: gold-first answered {g:.3f}, UNANSWERABLE answered {u:.3f}")


if __name__ == "__main__":
    main()
