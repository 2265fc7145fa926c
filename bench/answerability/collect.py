"""Collects hybrid search results (top 20) for every mtrag-un task's standalone question from a
running app, for offline study of reranking and answerability features (fit.py).

  python3 bench/answerability/collect.py --url http://127.0.0.1:3000 --state-dir .spin \
      --tenant ibmcloud=eval-... --tenant govt=... --out /tmp/search.json
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import subprocess
import urllib.request

TASKS = pathlib.Path(__file__).resolve().parents[3] / "shared/eval/mtrag-un/tasks.jsonl"


def token(kb_loader: str, state: str, tenant: str) -> str:
    env = dict(os.environ, SPIN_VARIABLE_JWT_SECRET=pathlib.Path(state, "jwt_secret").read_text().strip())
    out = subprocess.run(
        [kb_loader, "token", "--tenant", tenant, "--role", "admin", "--sub", "collect", "--ttl", "12h"],
        env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def search(url: str, tok: str, query: str, limit: int, mode: str) -> dict:
    req = urllib.request.Request(
        f"{url}/api/kb/search", method="POST",
        data=json.dumps({"query": query[:2000], "limit": limit, "mode": mode}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {tok}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--state-dir", default=".spin")
    ap.add_argument("--tenant", action="append", default=[], help="collection=tenant_id")
    ap.add_argument("--kb-loader", default=os.path.expanduser(
        os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path(__file__).resolve().parents[2] / "target")) + "/release/kb-loader"))
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tenants = dict(t.split("=", 1) for t in args.tenant)
    tokens = {c: token(args.kb_loader, args.state_dir, t) for c, t in tenants.items()}
    tasks = [json.loads(l) for l in TASKS.read_text().splitlines() if l.strip()]
    tasks = [t for t in tasks if t["collection"] in tokens]

    def one(t):
        res = search(args.url, tokens[t["collection"]], t["question"], args.limit, args.mode)
        return {"id": t["id"], "collection": t["collection"], "question": t["question"],
                "answerability": t["answerability"], "gold": t["gold_doc_ids"],
                "history": t["history"], "search": res}

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(one, tasks))
    pathlib.Path(args.out).write_text(json.dumps(rows))
    print(f"{len(rows)} tasks -> {args.out}")


if __name__ == "__main__":
    main()
