"""Cheap answer/offer signals that read the visitor's last question alone, without the
reranker: does one beat today's gate (the fused confidence of the pipeline's query)?

`last_question.py` found that the cross-encoder scoring the pipeline's passages against the
last question alone separates answerable from unanswerable turns best, but the cross-encoder
costs about 90 ms a passage. This study measures what the default pipeline could afford:

- `conf_query`: the fused confidence of the pipeline's query (today's gate);
- `conf_alone`: the fused confidence of a hybrid search for the last question alone (one
  more embedding and search; `conversation_context: "best"` already does it after an
  unanswered turn);
- `cos_last`: the embedding model's cosine between the last question alone and the best of
  the pipeline's top passages (one more query embedding; the passages' vectors are stored);
- `cos_query`: the same cosine for the pipeline's query (close to the vector part of
  today's gate);
- and their mins and means.

Per signal it prints the AUC (ANSWERABLE with a gold article vs UNANSWERABLE) and the best a
threshold does (the share of ANSWERABLE tasks answered with a gold article first while at
most 15% of UNANSWERABLE ones are answered); with both halves, the threshold is chosen on
the tuning half and applied to the test half. Input and options as in `last_question.py`:

  python3 bench/answerability/alone.py /tmp/tune.json /tmp/test.json --url http://127.0.0.1:3300 \
      --state-dir /tmp/evalstate --embedder http://127.0.0.1:8388 --out /tmp/alone-rows.json
  python3 bench/answerability/alone.py --rows /tmp/alone-rows.json
"""

import argparse
import concurrent.futures
import json
import math
import pathlib

from last_question import post, report, studied_tasks

PASSAGES = 5


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def embed(url: str, texts: list[str], input_type: str) -> list[list[float]]:
    out = post(f"{url}/v1/embeddings", {"input": texts, "input_type": input_type})
    return [d["embedding"] for d in sorted(out["data"], key=lambda d: d["index"])]


def study(run: dict, args: argparse.Namespace) -> list[dict]:
    tokens, tasks = studied_tasks(run, args)

    def search(kb: str, query: str) -> dict:
        return post(f"{args.url}/api/kb/search",
                    {"query": query[:2000], "limit": PASSAGES, "mode": "hybrid"}, tokens[kb])

    def one(t: dict) -> dict | None:
        query = t["answers"]["replay"]["query"]
        found = search(t["kb"], query)
        if not found["results"]:
            return None
        alone = found if query == t["question"] else search(t["kb"], t["question"])
        passages = [
            (" › ".join(r["heading_path"]) + "\n" + r["text"]) if r["heading_path"] else r["text"]
            for r in found["results"]
        ]
        vectors = embed(args.embedder, passages, "document")
        q_last, q_query = embed(args.embedder, [t["question"], query], "query")
        replay = t["search"].get("hybrid@replay", {})
        top = lambda f: f["results"][0]["document_id"] if f["results"] else None  # noqa: E731
        return {
            "id": t["id"], "half": t["half"], "label": t["label"],
            "gold_first": replay.get("rank") == 1,
            "conf_query": found["confidence"],
            "conf_alone": alone["confidence"],
            "cos_last": max(cosine(q_last, v) for v in vectors),
            "cos_query": max(cosine(q_query, v) for v in vectors),
            "same_top": top(found) == top(alone),
            "standalone_question": query == t["question"],
        }

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return [r for r in pool.map(one, tasks) if r]


def derive(rows: list[dict]) -> None:
    for r in rows:
        r["min_conf"] = min(r["conf_query"], r["conf_alone"])
        r["mean_conf"] = (r["conf_query"] + r["conf_alone"]) / 2
        r["min_conf_cos"] = min(r["conf_query"], r["cos_last"])
        r["mean_conf_cos"] = (r["conf_query"] + r["cos_last"]) / 2
        # The question alone finds the same article: the context did not change the subject.
        r["agree_or_min"] = r["conf_query"] if r["same_top"] else r["min_conf"]


SIGNALS = ["conf_query", "conf_alone", "cos_last", "cos_query", "min_conf", "mean_conf",
           "min_conf_cos", "mean_conf_cos", "agree_or_min"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_json", type=pathlib.Path, nargs="*")
    ap.add_argument("--rows", type=pathlib.Path, action="append", default=[])
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--state-dir", default=".spin")
    ap.add_argument("--embedder", default="http://127.0.0.1:8088")
    ap.add_argument("--kb-loader", default=str(pathlib.Path(__file__).resolve().parents[2]
                                               / "target" / "release" / "kb-loader"))
    ap.add_argument("--out", type=pathlib.Path)
    args = ap.parse_args()
    rows = [r for path in args.rows for r in json.loads(path.read_text())]
    for path in args.eval_json:
        rows += study(json.loads(path.read_text()), args)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    derive(rows)
    report(rows, SIGNALS)


if __name__ == "__main__":
    main()
