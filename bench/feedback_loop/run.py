"""The improvement loop on the sample knowledge base, measured: resolution rate and
unanswered groups before and after curated answers for the top groups.

Against a running app whose conversations settle at once (outcome_idle_secs 0) and whose
/metrics is on, e.g.:

    STATE_DIR=/tmp/loopstate LISTEN=127.0.0.1:3400 EMBEDDER_LISTEN=127.0.0.1:8488 \\
      CHROMA_LISTEN=127.0.0.1:8400 SPIN_VARIABLE_OUTCOME_IDLE_SECS=0 \\
      SPIN_VARIABLE_METRICS_TOKEN=loop bash scripts/run-local.sh &
    python3 bench/feedback_loop/run.py --url http://127.0.0.1:3400 --state-dir /tmp/loopstate \\
      --metrics-token loop

Each pass sends every question of kb-loader/sample-kb/questions.jsonl and escalations.jsonl
in a session of its own (tenant `demo`). The scripted visitor rates a reply "not helpful" when
it answered with a citation of none of the articles that answer the question (or answered an
out-of-scope question), unless it cites a curated answer (written for that question), and
says nothing otherwise. Between the passes the top --curate groups
of the unanswered list get a curated answer (a fixed text naming the question: this measures
the loop, not the wording of the answers). Prints the outcomes each pass settled and the
unanswered list of each pass. Python standard library only.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTCOMES = ["resolved", "handed_off", "abandoned", "unresolved"]


def call(url, method="GET", token=None, body=None, accept="application/json"):
    """One request; a 429 waits its Retry-After and tries again."""
    while True:
        status, answer, retry_after = send(url, method, token, body, accept)
        if status != 429:
            return status, answer
        time.sleep(float(retry_after or 1))


def send(url, method, token, body, accept):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("accept", accept)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
            kind = resp.headers.get("content-type", "")
            return resp.status, (json.loads(text) if "json" in kind else text), None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("retry-after")


def admin_token(state_dir):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    env = dict(os.environ, SPIN_VARIABLE_JWT_SECRET=open(os.path.join(state_dir, "jwt_secret")).read().strip())
    out = subprocess.run(
        [os.path.join(target, "release", "kb-loader"), "token", "--tenant", "demo", "--role", "admin", "--sub", "loop"],
        env=env, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def questions():
    out = []
    with open(os.path.join(REPO, "kb-loader/sample-kb/questions.jsonl")) as f:
        for line in f:
            q = json.loads(line)
            out.append((q["question"], set(q.get("answers") or [])))
    with open(os.path.join(REPO, "kb-loader/sample-kb/escalations.jsonl")) as f:
        for line in f:
            q = json.loads(line)
            out.append((q["message"], None))
    return out


def outcome_counts(base, metrics_token):
    _, text = call(f"{base}/metrics", token=metrics_token, accept="text/plain")
    counts = {}
    for o in OUTCOMES:
        series = f'support_conversations_total{{outcome="{o}"}} '
        counts[o] = next((float(l[len(series):]) for l in text.splitlines() if l.startswith(series)), 0.0)
    return counts


def one_pass(base, widget_key, external_ids):
    rated = 0
    for text, answers in questions():
        status, created = call(f"{base}/api/sessions", "POST", body={"widget_key": widget_key})
        assert status == 201, created
        sid, token = created["session"]["id"], created["token"]
        status, turn = call(f"{base}/api/sessions/{sid}/messages", "POST", token, {"text": text})
        assert status == 201, turn
        reply = turn.get("reply") or {}
        if reply and turn.get("action") is None:
            cited = {external_ids.get(c["document_id"], "?") for c in reply.get("citations", [])}
            # A curated answer was written for this very question by the admin: right.
            curated = any(e.startswith("curated:") for e in cited)
            wrong = answers is not None and not curated and (not answers or not (cited & answers))
            if wrong:
                call(f"{base}/api/sessions/{sid}/feedback", "PUT", token,
                     {"message_id": reply["id"], "helpful": False})
                rated += 1
    return rated


def report(name, before, after, listing, rated):
    moved = {o: after[o] - before[o] for o in OUTCOMES}
    total = sum(moved.values())
    print(f"\n## {name}")
    print(f"conversations settled: {int(total)}; rated not helpful by the script: {rated}")
    for o in OUTCOMES:
        print(f"  {o:<11} {int(moved[o]):>4}  ({moved[o] / total:.2f})" if total else f"  {o}: 0")
    print(f"resolution rate: {moved['resolved'] / total:.3f}" if total else "resolution rate: -")
    groups = listing["groups"]
    print(f"unanswered: {listing['questions']} questions in {len(groups)} groups ({listing['grouping']})")
    for g in groups[:10]:
        r = g["reasons"]
        print(f"  {g['count']:>3}x  {g['question'][:70]!r}  declined {r['declined']}, escalated {r['escalated']}, not helpful {r['not_helpful']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--state-dir", default=os.path.join(REPO, ".spin"))
    parser.add_argument("--metrics-token", required=True)
    parser.add_argument("--widget-key", default="wk_demo")
    parser.add_argument("--curate", type=int, default=10, help="groups given a curated answer")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    admin = admin_token(args.state_dir)
    results = []
    for name in ["before curated answers", "after curated answers"]:
        status, docs = call(f"{base}/api/kb/documents?limit=200", token=admin)
        assert status == 200, docs
        external_ids = {d["id"]: d["external_id"] for d in docs["documents"]}
        start = int(time.time() * 1000)
        before = outcome_counts(base, args.metrics_token)
        rated = one_pass(base, args.widget_key, external_ids)
        after = outcome_counts(base, args.metrics_token)
        status, listing = call(f"{base}/api/kb/unanswered?since={start}", token=admin)
        assert status == 200, listing
        report(name, before, after, listing, rated)
        results.append(listing)
        if len(results) == 1:
            for g in listing["groups"][: args.curate]:
                status, done = call(f"{base}/api/kb/curated", "POST", admin, {
                    "question": g["question"],
                    "answer": f"Our team's answer to \"{g['question']}\": please see the details below.",
                    "message_ids": g["message_ids"][:500],
                })
                assert status in (200, 201), done
            print(f"\ncurated answers written for the top {min(args.curate, len(listing['groups']))} groups")


if __name__ == "__main__":
    sys.exit(main())
