#!/usr/bin/env python3
"""Answer-quality evaluation of a running support-agent app (issue 18).

For each eval set (`mtrag-un`: four knowledge bases of real multi-turn conversations with
answerability labels; `sample`: the project's 31-article sample knowledge base) this script
creates a fresh tenant per knowledge base with `kb-loader`, loads the documents through the
app, and then measures

  * retrieval: hit@1, hit@5 and MRR@10 at document level per search mode (POST
    /api/kb/search with an admin token: keyword, vector, hybrid, and reranked, which needs
    the sidecar's rerank model), with the standalone last question as the query, and after
    a replay run again with the query the pipeline built for it in the conversation
    (`MODE@replay`);
  * the answer pipeline: each task as a visitor's chat (POST /api/sessions with the
    tenant's widget key, POST /api/sessions/{id}/messages), either replaying the earlier
    user turns in one session (`replay`, mtrag-un only) or sending only the last question
    in a new session (`standalone`); the reply to the last question is classified
    (answered / offered a person / escalated / clarifying question / silent) and scored
    against the labels, the gold documents and the reference answer.

It prints a side-by-side text report on stdout and, with --json FILE, writes every figure
and the per-task outcomes. Python 3.11 standard library only; it changes nothing in the app
except adding its own tenants (and, with --skip-load, rewriting those tenants' settings).
Not here: the metric definitions of `kb-loader eval` / `eval-answers` (those are the Rust
ones for the sample set; this script is the cross-set harness).

Typical use (the app running, state in .spin):
  python3 scripts/eval/eval.py --half test --json /tmp/eval.json
  python3 scripts/eval/eval.py --skip-load --tenant-suffix 3f9a1c --sets mtrag-un
  python3 scripts/eval/eval.py --limit 20 --tenant-settings '{"answer":{"min_confidence":0.6}}'
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import sqlite3
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# shared/ lies beside the clone (as on the developers' machines and in CI).
DEFAULT_MTRAG_DIR = Path(__file__).resolve().parents[3] / "shared/eval/mtrag-un"
DEFAULT_SAMPLE_DIR = REPO / "kb-loader" / "sample-kb"

SETS = ("mtrag-un", "sample")
MTRAG_COLLECTIONS = ("ibmcloud", "govt", "fiqa", "clapnq")
MTRAG_LABELS = ("ANSWERABLE", "PARTIAL", "UNANSWERABLE", "UNDERSPECIFIED")
SAMPLE_LABELS = ("direct", "paraphrase", "unanswerable")

# Settings every eval tenant gets: the eval sends far more messages per client address than
# the default rate limits (120 per visitor, 600 per client a minute) allow.
BASE_SETTINGS = {"rate_limits": {"per_visitor": 100000, "per_client": 100000, "window_secs": 60}}

# Distinct documents the retrieval figures look at (MRR@K), and results asked for so that
# K distinct documents are likely among them (a document can fill several places).
K = 10
SEARCH_LIMIT = 30

OUTCOMES = ("answered", "offered", "escalated", "clarify", "silent", "other", "error")
# Outcomes that count as "offered or escalated" (the predicted positive of the escalation
# figures). A silent reply means an earlier turn handed the conversation off.
HANDOFF_OUTCOMES = ("offered", "escalated", "silent")
# How an answer to a partly covered question begins (English).
PARTLY_COVERED = "I couldn't find anything about \""

CONFIDENCE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.68, 0.7, 0.72, 0.75, 0.8)

DEFINITIONS = """\
Definitions
  retrieval        search results reduced to distinct documents in rank order; a hit is a
                   document among the task's gold documents. hit@k: a gold document in the
                   first k; MRR@10: mean of 1/rank of the first gold document within the
                   first 10 (0 when none). Over answerable tasks (mtrag-un: ANSWERABLE and
                   PARTIAL with gold documents; sample: direct and paraphrase), the
                   standalone last question as the query.
  outcome          of the reply to the last question: answered = a bot reply with no
                   action, or with citations and no escalate/offer action; offered =
                   action offer_handoff; escalated = action escalate; clarify = action
                   clarify; silent = no bot reply because an earlier turn handed the
                   conversation to a person (action handed_off); other = anything else;
                   error = the request failed.
  answerable       mtrag-un: ANSWERABLE and PARTIAL; sample: direct and paraphrase.
  cit. precision   over answered replies to answerable questions: the distinct documents
                   each reply cites, summed; the share of them that are gold documents
                   (micro-average).
  gold-cited rate  share of ANSWERABLE tasks (sample: answerable) whose reply is answered
                   and cites at least one gold document.
  answer rate      share of tasks of the group whose reply is answered.
  partly covered   replies that answer what they can after saying which of the
                   question's names the knowledge base does not mention ("I couldn't find
                   anything about "Bitcoin" …") and offer a person for that (counted as
                   offered): wanted on PARTIAL and UNANSWERABLE, a false alarm on ANSWERABLE.
  escalation P/R   positive class: should offer a person = UNANSWERABLE (sample: kind
                   unanswerable); predicted positive: offered, escalated or silent. Over
                   ANSWERABLE, PARTIAL and UNANSWERABLE tasks (UNDERSPECIFIED left out: an
                   offer is acceptable there); errors left out.
  token F1         SQuAD-style token F1 of the reply (citation markers [n] removed;
                   lowercase, punctuation and articles removed) against reference_answer,
                   mean over ANSWERABLE answered replies.
"""


# --------------------------------------------------------------------------------------
# Small helpers


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def die(text: str) -> None:
    print(f"eval: error: {text}", file=sys.stderr, flush=True)
    sys.exit(2)


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pct(num: int, den: int) -> str:
    return "-" if not den else f"{num}/{den} {100.0 * num / den:.1f}%"


def table(rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


class Progress:
    """Progress lines on stderr: every `every` finished items, and at the end."""

    def __init__(self, label: str, total: int, every: int):
        self.label, self.total, self.every = label, total, max(1, every)
        self.done = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def tick(self) -> None:
        with self.lock:
            self.done += 1
            if self.done % self.every == 0 or self.done == self.total:
                log(f"  [{self.label}] {self.done}/{self.total} in {self.elapsed():.1f}s")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------------------
# Text scoring

CITATION_MARKER = re.compile(r"\s*\[\d+\]")
ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in PUNCTUATION)
    text = ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    pred = normalize_answer(CITATION_MARKER.sub("", prediction)).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------------------
# HTTP


class Unreachable(Exception):
    """The app cannot be reached: the run cannot go on."""


class ApiError(Exception):
    def __init__(self, status: int, detail: str, what: str):
        super().__init__(f"{what}: HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class Client:
    """JSON over HTTP with the app; retries 429 (after Retry-After) and 503 (backoff)."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries_429 = 0
        self.retries_503 = 0
        self.lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict | None]:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        attempts_429 = attempts_503 = attempts_io = 0
        while True:
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                    return resp.status, (json.loads(raw) if raw.strip() else None)
            except urllib.error.HTTPError as e:
                raw = e.read()
                if e.code == 429 and attempts_429 < 10:
                    attempts_429 += 1
                    with self.lock:
                        self.retries_429 += 1
                    wait = e.headers.get("retry-after", "1")
                    time.sleep(min(30.0, float(wait) if wait.strip().isdigit() else 1.0))
                    continue
                if e.code == 503 and attempts_503 < 4:
                    attempts_503 += 1
                    with self.lock:
                        self.retries_503 += 1
                    time.sleep(0.5 * 2**attempts_503)
                    continue
                raise ApiError(e.code, problem_detail(raw), f"{method} {path}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, ConnectionRefusedError):
                    raise Unreachable(f"cannot reach the app at {self.base_url}: {reason}") from None
                attempts_io += 1
                if attempts_io >= 3:
                    raise ApiError(0, f"transport error: {reason}", f"{method} {path}") from None
                time.sleep(1.0 * attempts_io)


def problem_detail(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        return str(body.get("detail") or body.get("title") or body)[:300]
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace").strip()[:300] or "(empty body)"


# --------------------------------------------------------------------------------------
# Tasks


@dataclass
class Task:
    set: str
    id: str
    kb: str  # the knowledge base (tenant) it runs against: a collection, or `sample`
    label: str  # answerability (mtrag-un) or kind (sample)
    question: str
    gold: list[str]  # gold document keys
    history_user: list[str] = field(default_factory=list)
    reference: str | None = None
    half: str | None = None
    search: dict = field(default_factory=dict)  # mode -> figures of the search
    answers: dict = field(default_factory=dict)  # answer mode -> outcome of the reply

    @property
    def answerable(self) -> bool:
        """Answerable for the answer figures."""
        if self.set == "sample":
            return self.label != "unanswerable"
        return self.label in ("ANSWERABLE", "PARTIAL")

    @property
    def retrievable(self) -> bool:
        """Counted in the retrieval figures."""
        return self.answerable and bool(self.gold)

    @property
    def should_hand_off(self) -> bool:
        return self.label in ("UNANSWERABLE", "unanswerable")

    @property
    def strict_answerable(self) -> bool:
        """ANSWERABLE (sample: any answerable kind): the gold-cited rate and token F1."""
        return self.label == "ANSWERABLE" or (self.set == "sample" and self.answerable)


def half_of(conversation_id: str) -> str:
    """The stable tuning/test half of a conversation: sha1 even -> tune, odd -> test."""
    return "tune" if int(hashlib.sha1(conversation_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def round_robin_limit(tasks: list[Task], limit: int | None) -> list[Task]:
    """`limit` tasks taken in turn from each (knowledge base, label) group, in file order
    inside a group, so a quick run still sees every collection and label."""
    if not limit or limit >= len(tasks):
        return tasks
    by_kb: dict[tuple, collections.deque] = {}
    for t in tasks:
        by_kb.setdefault((t.kb, t.label), collections.deque()).append(t)
    picked: set[int] = set()
    while len(picked) < limit:
        for queue in by_kb.values():
            if queue and len(picked) < limit:
                picked.add(id(queue.popleft()))
    return [t for t in tasks if id(t) in picked]


def load_mtrag(directory: Path, half: str, collections_wanted: list[str], limit: int | None):
    path = directory / "tasks.jsonl"
    if not path.is_file():
        die(f"{path} not found (--mtrag-dir)")
    tasks: list[Task] = []
    halves = collections.Counter()
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        conversation = raw["id"].split("<::>")[0]
        task_half = half_of(conversation)
        halves[task_half] += 1
        tasks.append(
            Task(
                set="mtrag-un",
                id=raw["id"],
                kb=raw["collection"],
                label=raw["answerability"],
                question=raw["question"],
                gold=list(raw.get("gold_doc_ids") or []),
                history_user=[
                    h["text"] for h in raw["history"] if h["role"] == "user" and h["text"].strip()
                ],
                reference=raw.get("reference_answer"),
                half=task_half,
            )
        )
    conversations = collections.Counter()
    for t in tasks:
        conversations[(t.half, t.id.split("<::>")[0])] += 1
    chosen = [t for t in tasks if (half == "all" or t.half == half) and t.kb in collections_wanted]
    chosen = round_robin_limit(chosen, limit)
    conv_by_half = collections.Counter(h for (h, _) in conversations)
    info = {
        "file": str(path),
        "half": half,
        "tasks_in_file": len(tasks),
        "tasks_by_half": dict(halves),
        "conversations_by_half": dict(conv_by_half),
        "tasks_chosen": len(chosen),
        "by_label": dict(collections.Counter(t.label for t in chosen)),
        "by_collection": dict(collections.Counter(t.kb for t in chosen)),
    }
    return chosen, info


def load_sample(directory: Path, limit: int | None):
    path = directory / "questions.jsonl"
    if not path.is_file():
        die(f"{path} not found (--sample-dir)")
    tasks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        tasks.append(
            Task(
                set="sample",
                id=raw["id"],
                kb="sample",
                label=raw["kind"],
                question=raw["question"],
                gold=list(raw.get("answers") or []),
            )
        )
    tasks = round_robin_limit(tasks, limit)
    info = {
        "file": str(path),
        "half": "all (no split)",
        "tasks_chosen": len(tasks),
        "by_label": dict(collections.Counter(t.label for t in tasks)),
    }
    return tasks, info


# --------------------------------------------------------------------------------------
# Knowledge bases (tenants) and kb-loader


@dataclass
class KnowledgeBase:
    set: str
    name: str  # collection name, or `sample`
    folder: Path
    tenant_id: str
    widget_key: str = ""
    admin_token: str = ""
    # server document id -> external id
    documents: dict = field(default_factory=dict)
    load_seconds: float | None = None
    load_output: str = ""
    load_ok: bool | None = None
    pending_vectors: int = 0

    def doc_key(self, external_id: str) -> str:
        """The name the eval set uses for a document: mtrag-un article ids are the file
        name without extension (`ibmcld_00691.md` -> `ibmcld_00691`); the sample set uses
        the path in the folder (`billing/plans-and-pricing.md`)."""
        if self.set == "mtrag-un":
            return Path(external_id).stem
        return external_id

    def cited_key(self, document_id: str) -> str:
        external = self.documents.get(document_id)
        return self.doc_key(external) if external else f"?{document_id}"


class KbLoader:
    def __init__(self, binary: Path, state_dir: Path, url: str):
        self.binary, self.state_dir, self.url = binary, state_dir, url
        self.db_url = f"sqlite://{state_dir / 'sqlite_db.db'}"
        self.secret = (state_dir / "jwt_secret").read_text().strip()

    def run(self, args: list[str], env: dict | None = None, check: bool = True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=full_env
        )
        if check and done.returncode != 0:
            shown = " ".join(a if not a.startswith("{") else "'<json>'" for a in args[:6])
            die(f"kb-loader {shown} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def tenant_add(self, kb: KnowledgeBase, settings: dict) -> str:
        done = self.run(
            [
                "tenant", "add", "--db-url", self.db_url, "--id", kb.tenant_id,
                "--name", f"eval {kb.set} {kb.name}", "--widget-key", kb.widget_key,
                "--settings", json.dumps(settings),
            ]
        )
        return done.stdout.strip()

    def tenants(self) -> dict[str, dict]:
        done = self.run(["tenant", "list", "--db-url", self.db_url, "--json"])
        return {t["id"]: t for t in json.loads(done.stdout)}

    def admin_token(self, tenant_id: str) -> str:
        done = self.run(
            ["token", "--tenant", tenant_id, "--role", "admin", "--sub", "eval", "--ttl", "12h"],
            env={"SPIN_VARIABLE_JWT_SECRET": self.secret},
        )
        return done.stdout.strip()

    def load(self, kb: KnowledgeBase) -> subprocess.CompletedProcess:
        return self.run(
            ["load", str(kb.folder), "--url", self.url],
            env={"SUPPORT_AGENT_TOKEN": kb.admin_token},
            check=False,
        )


def set_tenant_settings(state_dir: Path, tenant_id: str, settings: dict) -> None:
    """Rewrites a reused eval tenant's settings (kb-loader cannot change them), so a rerun
    with --skip-load runs with exactly the settings given on its command line."""
    with sqlite3.connect(state_dir / "sqlite_db.db", timeout=30) as db:
        changed = db.execute(
            "UPDATE tenants SET settings = ? WHERE id = ?", (json.dumps(settings), tenant_id)
        ).rowcount
    if changed != 1:
        die(f"tenant {tenant_id} not found in {state_dir / 'sqlite_db.db'}")


def list_documents(client: Client, token: str) -> tuple[dict[str, str], int]:
    """The tenant's documents (server id -> external id) and how many miss vectors."""
    documents: dict[str, str] = {}
    pending = 0
    cursor = None
    while True:
        path = "/api/kb/documents?limit=200" + (
            f"&cursor={urllib.parse.quote(cursor, safe='')}" if cursor else "")
        _, page = client.request("GET", path, token=token)
        for d in page["documents"]:
            documents[d["id"]] = d["external_id"]
            pending += d.get("vector_status") != "indexed"
        cursor = page.get("next_cursor")
        if not cursor:
            return documents, pending


# --------------------------------------------------------------------------------------
# Retrieval


def search_task(client: Client, kb: KnowledgeBase, task: Task, mode: str,
                query: str | None = None) -> dict:
    _, found = client.request(
        "POST",
        "/api/kb/search",
        {"query": query or task.question, "limit": SEARCH_LIMIT, "mode": mode},
        token=kb.admin_token,
    )
    docs: list[str] = []
    for result in found["results"]:
        key = kb.doc_key(result["external_id"])
        if key not in docs:
            docs.append(key)
    rank = next((i + 1 for i, d in enumerate(docs[:K]) if d in task.gold), None)
    return {
        "rank": rank,
        "docs": docs[:K],
        "confidence": found.get("confidence"),
        "top_score": found["results"][0]["score"] if found["results"] else 0.0,
        "top_rerank_score": max((r.get("rerank_score", 0.0) for r in found["results"]),
                                default=None) if found.get("reranked") else None,
        "degraded": found.get("degraded", False),
        # A reranked search the reranker did not reorder (no rerank model, sidecar down).
        "not_reranked": mode == "reranked" and not found.get("reranked", False),
    }


def retrieval_figures(tasks: list[Task], modes: list[str]) -> dict:
    out = {}
    for mode in modes:
        ranks = [
            t.search[mode].get("rank")
            for t in tasks
            if t.retrievable and mode in t.search and "error" not in t.search[mode]
        ]
        errors = sum(1 for t in tasks if "error" in t.search.get(mode, {}))
        n = len(ranks)
        out[mode] = {
            "n": n,
            "hit@1": ratio(sum(1 for r in ranks if r == 1), n),
            "hit@5": ratio(sum(1 for r in ranks if r and r <= 5), n),
            f"mrr@{K}": ratio(sum(1.0 / r for r in ranks if r), n),
            "errors": errors,
            "degraded": sum(1 for t in tasks if t.search.get(mode, {}).get("degraded")),
            "not_reranked": sum(1 for t in tasks if t.search.get(mode, {}).get("not_reranked")),
        }
    return out


def confidence_figures(tasks: list[Task]) -> dict | None:
    """How the hybrid search confidence separates answerable from unanswerable tasks
    (the extractive responder's answer threshold, `answer.min_confidence`, reads it)."""
    answerable = [t.search["hybrid"]["confidence"] for t in tasks
                  if t.answerable and t.search.get("hybrid", {}).get("confidence") is not None]
    unanswerable = [t.search["hybrid"]["confidence"] for t in tasks
                    if t.should_hand_off and t.search.get("hybrid", {}).get("confidence") is not None]
    if not answerable and not unanswerable:
        return None
    return {
        "answerable_mean": ratio(sum(answerable), len(answerable)),
        "unanswerable_mean": ratio(sum(unanswerable), len(unanswerable)),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "at_or_above": {
            str(th): {
                "answerable": sum(1 for c in answerable if c >= th),
                "unanswerable": sum(1 for c in unanswerable if c >= th),
            }
            for th in CONFIDENCE_THRESHOLDS
        },
    }


# --------------------------------------------------------------------------------------
# Answers


def classify(turn: dict) -> str:
    action = turn.get("action") if isinstance(turn.get("action"), dict) else None
    kind = action.get("type") if action else None
    reply = turn.get("reply")
    if kind == "handed_off" or (reply is None and turn.get("notice")):
        return "silent"
    if kind == "escalate":
        return "escalated"
    if kind == "offer_handoff":
        return "offered"
    if kind == "clarify":
        return "clarify"
    if not isinstance(reply, dict):
        return "other"
    if kind is None or reply.get("citations"):
        return "answered"
    return "other"


def start_session(client: Client, kb: KnowledgeBase) -> tuple[str, str]:
    _, created = client.request("POST", "/api/sessions", {"widget_key": kb.widget_key},
                                idempotency_key=str(uuid.uuid4()))
    return created["session"]["id"], created["token"]


def say(client: Client, session: str, token: str, text: str) -> dict:
    _, turn = client.request(
        "POST", f"/api/sessions/{urllib.parse.quote(session, safe='')}/messages", {"text": text[:4000]},
        token=token, idempotency_key=str(uuid.uuid4()),
    )
    return turn


def run_answer(client: Client, kb: KnowledgeBase, task: Task, mode: str) -> dict:
    """One task in one answer mode: the outcome of the reply to its last question."""
    record: dict = {}
    started = time.monotonic()
    try:
        session, token = start_session(client, kb)
        record["session"] = session
        if mode == "replay":
            for i, text in enumerate(task.history_user):
                turn = say(client, session, token, text)
                action = turn.get("action") or {}
                if action.get("type") == "escalate" and "handoff_turn" not in record:
                    # From here on the bot is silent: remember where and why.
                    record["handoff_turn"] = i + 1
                    record["handoff_reason"] = action.get("reason")
                    record["handoff_message"] = text
        turn = say(client, session, token, task.question)
    except ApiError as e:
        record.update(outcome="error", error=str(e), seconds=round(time.monotonic() - started, 3))
        return record
    reply = turn.get("reply") if isinstance(turn.get("reply"), dict) else None
    action = turn.get("action") if isinstance(turn.get("action"), dict) else {}
    cited: list[str] = []
    for citation in (reply or {}).get("citations") or []:
        key = kb.cited_key(citation.get("document_id", ""))
        if key not in cited:
            cited.append(key)
    outcome = classify(turn)
    record.update(
        outcome=outcome,
        action=action.get("type"),
        reason=action.get("reason"),
        intent=action.get("intent"),
        responder=(reply or {}).get("responder"),
        cited=cited,
        gold_cited=[c for c in cited if c in task.gold],
        reply=(reply or {}).get("text") if reply else turn.get("notice"),
        degraded=turn.get("degraded"),
        turns_sent=len(task.history_user) + 1 if mode == "replay" else 1,
        # The retrieval query the pipeline built (the question with the conversation's
        # context, when it did not stand alone).
        query=turn.get("follow_up_query") or task.question,
        seconds=round(time.monotonic() - started, 3),
    )
    # A reply that answers what it can after saying what the knowledge base does not
    # mention, and offers a person for that (action offer_handoff, reason partly_covered;
    # the English wording of core_logic::conversation::partly_covered_answer).
    record["states_missing"] = bool(reply and PARTLY_COVERED in (reply.get("text") or ""))
    if task.reference is not None and outcome == "answered" and reply:
        record["token_f1"] = round(token_f1(reply.get("text", ""), task.reference), 4)
    return record


def answer_figures(tasks: list[Task], mode: str, labels: tuple[str, ...]) -> dict:
    results = [(t, t.answers[mode]) for t in tasks if mode in t.answers]
    ok = [(t, r) for t, r in results if r["outcome"] != "error"]

    answered_answerable = [(t, r) for t, r in ok if t.answerable and r["outcome"] == "answered"]
    cited = sum(len(r["cited"]) for _, r in answered_answerable)
    cited_gold = sum(len(r["gold_cited"]) for _, r in answered_answerable)

    strict = [(t, r) for t, r in ok if t.strict_answerable]
    gold_hit = sum(1 for _, r in strict if r["outcome"] == "answered" and r["gold_cited"])

    answerable = [(t, r) for t, r in ok if t.answerable]
    unanswerable = [(t, r) for t, r in ok if t.should_hand_off]

    scored = [(t, r) for t, r in ok if t.answerable or t.should_hand_off]
    tp = sum(1 for t, r in scored if t.should_hand_off and r["outcome"] in HANDOFF_OUTCOMES)
    fp = sum(1 for t, r in scored if not t.should_hand_off and r["outcome"] in HANDOFF_OUTCOMES)
    fn = sum(1 for t, r in scored if t.should_hand_off and r["outcome"] not in HANDOFF_OUTCOMES)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else None)

    f1s = [r["token_f1"] for t, r in strict if t.reference is not None and "token_f1" in r]

    by_label = {}
    for label in labels:
        group = [r for t, r in results if t.label == label]
        counts = collections.Counter(r["outcome"] for r in group)
        row = {"n": len(group), **{o: counts.get(o, 0) for o in OUTCOMES}}
        row["states_missing"] = sum(1 for r in group if r.get("states_missing"))
        if label == "UNDERSPECIFIED":
            row["clarify_or_offer"] = counts.get("clarify", 0) + counts.get("offered", 0)
        by_label[label] = row

    answerable_label = "ANSWERABLE" if tasks and tasks[0].set == "mtrag-un" else None
    handed_off_before = None
    if mode == "replay" and answerable_label:
        group = [r for t, r in ok if t.label == answerable_label]
        handed_off_before = {
            "silent": sum(1 for r in group if r["outcome"] == "silent"),
            "n": len(group),
            "reasons": dict(collections.Counter(
                r.get("handoff_reason") for r in group if r["outcome"] == "silent")),
        }

    reasons = collections.Counter(
        f"{r['action']}:{r.get('reason')}" + (f"/{r['intent']}" if r.get("intent") else "")
        for _, r in ok if r["action"] in ("escalate", "offer_handoff")
    )
    return {
        "tasks": len(results),
        "errors": len(results) - len(ok),
        "citation_precision": ratio(cited_gold, cited),
        "citations": cited,
        "citations_gold": cited_gold,
        "gold_cited_rate": ratio(gold_hit, len(strict)),
        "gold_cited": gold_hit,
        "strict_answerable": len(strict),
        "answer_rate_answerable": ratio(
            sum(1 for _, r in answerable if r["outcome"] == "answered"), len(answerable)),
        "answerable": len(answerable),
        "answer_rate_unanswerable": ratio(
            sum(1 for _, r in unanswerable if r["outcome"] == "answered"), len(unanswerable)),
        "unanswerable": len(unanswerable),
        "escalation": {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall,
                       "f1": f1},
        "token_f1": ratio(sum(f1s), len(f1s)),
        "token_f1_n": len(f1s),
        "by_label": by_label,
        "answerable_already_handed_off": handed_off_before,
        "actions": dict(reasons.most_common()),
        "responders": dict(collections.Counter(r.get("responder") for _, r in ok)),
        "seconds_per_task": ratio(sum(r.get("seconds", 0) for _, r in results), len(results)),
    }


# --------------------------------------------------------------------------------------
# Running phases concurrently


def run_pool(label: str, jobs: list, fn, workers: int, every: int) -> None:
    """Runs fn(job) for every job on `workers` threads; Unreachable stops the run."""
    progress = Progress(label, len(jobs), every)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
                progress.tick()
        except Unreachable as e:
            for f in futures:
                f.cancel()
            die(f"{e} (during {label}; is the app still running?)")
    return progress.elapsed()


# --------------------------------------------------------------------------------------
# Report


def render_retrieval(sections: list[tuple[str, list[Task]]], modes: list[str]) -> str:
    rows = [["set / slice", "n", "metric", *modes]]
    for name, tasks in sections:
        figures = retrieval_figures(tasks, modes)
        n = max((figures[m]["n"] for m in modes), default=0)
        for i, metric in enumerate(("hit@1", "hit@5", f"mrr@{K}")):
            rows.append([name if i == 0 else "", str(n) if i == 0 else "", metric,
                         *[fmt(figures[m][metric]) for m in modes]])
    out = table(rows)
    problems = []
    for name, tasks in sections:
        figures = retrieval_figures(tasks, modes)
        for m in modes:
            if figures[m]["errors"] or figures[m]["degraded"] or figures[m]["not_reranked"]:
                problems.append(f"{name} {m}: {figures[m]['errors']} errors, "
                                f"{figures[m]['degraded']} degraded responses, "
                                f"{figures[m]['not_reranked']} not reranked")
    if problems:
        out += "  ! " + "\n  ! ".join(sorted(set(problems))) + "\n"
    return out


def render_confidence(name: str, tasks: list[Task]) -> str:
    c = confidence_figures(tasks)
    if not c:
        return ""
    rows = [["hybrid confidence >= t", "answerable", "unanswerable"]]
    for th, counts in c["at_or_above"].items():
        rows.append([th, pct(counts["answerable"], c["n_answerable"]),
                     pct(counts["unanswerable"], c["n_unanswerable"])])
    return (f"  {name}: mean hybrid confidence answerable {fmt(c['answerable_mean'])}, "
            f"unanswerable {fmt(c['unanswerable_mean'])}\n" + table(rows, "    "))


def render_answers(name: str, tasks: list[Task], modes: list[str], labels) -> str:
    figures = {m: answer_figures(tasks, m, labels) for m in modes}
    strict_name = "ANSWERABLE" if name.startswith("mtrag") else "answerable"
    rows = [["figure", *modes]]

    def row(title, cell):
        rows.append([title, *[cell(figures[m]) for m in modes]])

    row("tasks (errors)", lambda f: f"{f['tasks']} ({f['errors']})")
    row("citation precision (gold/cited docs)",
        lambda f: f"{fmt(f['citation_precision'])} ({f['citations_gold']}/{f['citations']})")
    row(f"answered citing a gold doc, {strict_name}",
        lambda f: pct(f["gold_cited"], f["strict_answerable"]))
    row("answer rate, answerable",
        lambda f: f"{fmt(f['answer_rate_answerable'])} (n={f['answerable']})")
    row("answer rate, unanswerable (lower better)",
        lambda f: f"{fmt(f['answer_rate_unanswerable'])} (n={f['unanswerable']})")
    row("escalation precision",
        lambda f: f"{fmt(f['escalation']['precision'])} "
                  f"({f['escalation']['tp']}/{f['escalation']['tp'] + f['escalation']['fp']})")
    row("escalation recall",
        lambda f: f"{fmt(f['escalation']['recall'])} "
                  f"({f['escalation']['tp']}/{f['escalation']['tp'] + f['escalation']['fn']})")
    row("escalation F1", lambda f: fmt(f["escalation"]["f1"]))
    if any(t.reference is not None for t in tasks):
        row("token F1 vs reference, ANSWERABLE answered",
            lambda f: f"{fmt(f['token_f1'])} (n={f['token_f1_n']})")
    if "replay" in modes and figures["replay"]["answerable_already_handed_off"]:
        row("ANSWERABLE already handed off (silent)",
            lambda f: pct(f["answerable_already_handed_off"]["silent"],
                          f["answerable_already_handed_off"]["n"])
            if f["answerable_already_handed_off"] else "-")
    row("seconds per task", lambda f: fmt(f["seconds_per_task"], 2))
    out = table(rows)

    # Outcomes per label and mode.
    under = "UNDERSPECIFIED" in labels
    rows = [["label", "mode", "n", "answered", "offered", "escalated", "clarify", "silent",
             "other", "error", "partly covered",
             *(["clarify|offer"] if under else [])]]
    for label in labels:
        for i, m in enumerate(modes):
            r = figures[m]["by_label"][label]
            rows.append([label if i == 0 else "", m, str(r["n"]),
                         *[str(r[o]) for o in OUTCOMES], str(r["states_missing"]),
                         *([str(r.get("clarify_or_offer", "-"))] if under else [])])
    out += "\n  outcome of the reply to the last question, per label:\n" + table(rows, "    ")

    for m in modes:
        f = figures[m]
        acts = ", ".join(f"{k} {v}" for k, v in f["actions"].items()) or "none"
        resp = ", ".join(f"{k} {v}" for k, v in f["responders"].items())
        out += f"  {m}: actions {acts}; responders {resp}\n"
        hb = f["answerable_already_handed_off"]
        if hb and hb["silent"]:
            reasons = ", ".join(f"{k} {v}" for k, v in hb["reasons"].items())
            out += f"  {m}: ANSWERABLE tasks silent after an earlier handoff, by reason: {reasons}\n"
    return out


def render_answer_breakdown(name: str, tasks: list[Task], modes: list[str], labels) -> str:
    """A few key figures per knowledge base (mtrag-un collections)."""
    rows = [["collection", "mode", "n", "ans|answerable", "ans|unanswerable", "gold-cited",
             "cit.prec", "esc.F1"]]
    for kb in sorted({t.kb for t in tasks}):
        part = [t for t in tasks if t.kb == kb]
        for m in modes:
            f = answer_figures(part, m, labels)
            rows.append([kb, m, str(f["tasks"]), fmt(f["answer_rate_answerable"]),
                         fmt(f["answer_rate_unanswerable"]),
                         pct(f["gold_cited"], f["strict_answerable"]),
                         fmt(f["citation_precision"]), fmt(f["escalation"]["f1"])])
    return table(rows)


def render_errors(tasks: list[Task]) -> str:
    errors = collections.Counter()
    for t in tasks:
        for mode, r in t.answers.items():
            if r.get("outcome") == "error":
                errors[re.sub(r"/api/sessions/[^/]+/", "/api/sessions/{id}/", r["error"])] += 1
        for mode, s in t.search.items():
            if "error" in s:
                errors[s["error"]] += 1
    if not errors:
        return ""
    return "API errors (count, message):\n" + "".join(
        f"  {n:5d}  {msg}\n" for msg, n in errors.most_common(10))


# --------------------------------------------------------------------------------------
# Main


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Answer-quality evaluation against a running support-agent app (issue 18).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=DEFINITIONS,
    )
    p.add_argument("--url", default="http://127.0.0.1:3000", help="the app's base URL")
    p.add_argument("--state-dir", default=".spin", type=Path,
                   help="the app's state folder (sqlite_db.db, jwt_secret); default .spin")
    p.add_argument("--kb-loader", type=Path,
                   help="the kb-loader binary (default $CARGO_TARGET_DIR/release/kb-loader, "
                        "CARGO_TARGET_DIR default the clone's target/)")
    p.add_argument("--sets", default="mtrag-un,sample", help="eval sets: mtrag-un,sample")
    p.add_argument("--half", choices=("tune", "test", "all"), default="test",
                   help="mtrag-un half (split by conversation, sha1 even = tune); default test")
    p.add_argument("--collections", default=",".join(MTRAG_COLLECTIONS),
                   help="mtrag-un collections to run")
    p.add_argument("--limit", type=int,
                   help="take only N tasks per set (taken in turn from each collection and label)")
    p.add_argument("--modes", default="keyword,vector,hybrid,reranked",
                   help="search modes of the retrieval figures (POST /api/kb/search `mode`; "
                        "reranked needs the sidecar's rerank model)")
    p.add_argument("--answer-modes", default="replay,standalone",
                   help="answer modes for mtrag-un (the sample set is standalone only)")
    p.add_argument("--phases", default="retrieval,answers", help="retrieval,answers")
    p.add_argument("--workers", type=int, default=4, help="concurrent sessions / searches")
    p.add_argument("--progress-every", type=int, default=25, help="a progress line every N tasks")
    p.add_argument("--tenant-settings", default="{}",
                   help="settings JSON merged into every eval tenant's settings, e.g. "
                        "'{\"answer\":{\"min_confidence\":0.6}}'")
    p.add_argument("--skip-load", action="store_true",
                   help="reuse the tenants of an earlier run (needs --tenant-suffix); their "
                        "settings are rewritten to this run's")
    p.add_argument("--tenant-suffix", help="suffix of the tenant ids (default: a new random one)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    p.add_argument("--mtrag-dir", type=Path, default=DEFAULT_MTRAG_DIR)
    p.add_argument("--sample-dir", type=Path, default=DEFAULT_SAMPLE_DIR)
    p.add_argument("--json", type=Path, help="write all figures and per-task outcomes here")
    args = p.parse_args(argv)

    args.sets = [s for s in args.sets.split(",") if s]
    for s in args.sets:
        if s not in SETS:
            p.error(f"unknown set {s!r} (choose from {', '.join(SETS)})")
    args.collections = [c for c in args.collections.split(",") if c]
    for c in args.collections:
        if c not in MTRAG_COLLECTIONS:
            p.error(f"unknown collection {c!r} (choose from {', '.join(MTRAG_COLLECTIONS)})")
    args.modes = [m for m in args.modes.split(",") if m]
    args.answer_modes = [m for m in args.answer_modes.split(",") if m]
    for m in args.answer_modes:
        if m not in ("replay", "standalone"):
            p.error(f"unknown answer mode {m!r} (replay, standalone)")
    args.phases = [x for x in args.phases.split(",") if x]
    for x in args.phases:
        if x not in ("retrieval", "answers"):
            p.error(f"unknown phase {x!r} (retrieval, answers)")
    try:
        extra = json.loads(args.tenant_settings)
    except ValueError as e:
        p.error(f"--tenant-settings is not valid JSON: {e}")
    if not isinstance(extra, dict):
        p.error("--tenant-settings must be a JSON object")
    args.settings = deep_merge(BASE_SETTINGS, extra)
    if args.skip_load and not args.tenant_suffix:
        p.error("--skip-load needs --tenant-suffix (printed by the run that loaded the tenants)")
    if args.tenant_suffix and not re.fullmatch(r"[A-Za-z0-9_.-]{1,24}", args.tenant_suffix):
        p.error("--tenant-suffix: 1 to 24 letters, digits, `-`, `_` or `.`")
    if args.kb_loader is None:
        target = Path(os.environ.get("CARGO_TARGET_DIR")
                      or Path(__file__).resolve().parents[2] / "target")
        args.kb_loader = target / "release" / "kb-loader"
    return args


def preflight(args, client: Client) -> None:
    if not args.kb_loader.is_file() or not os.access(args.kb_loader, os.X_OK):
        die(f"kb-loader not found at {args.kb_loader}: build it (make host) or pass --kb-loader")
    for name in ("sqlite_db.db", "jwt_secret"):
        if not (args.state_dir / name).is_file():
            die(f"{args.state_dir / name} not found: is --state-dir the app's state folder?")
    try:
        status, body = client.request("GET", "/health")
    except Unreachable as e:
        die(f"{e}: is it running? (make run)")
    except ApiError as e:
        die(f"the app at {args.url} did not answer GET /health: {e}")
    if status != 200:
        die(f"GET {args.url}/health answered {status}")
    log(f"app at {args.url}: {body}")


def main(argv=None) -> int:
    args = parse_args(argv)
    client = Client(args.url, args.timeout)
    preflight(args, client)
    run_started = time.monotonic()
    suffix = args.tenant_suffix or secrets.token_hex(3)
    timings: dict[str, float] = {}

    # Tasks.
    tasks_by_set: dict[str, list[Task]] = {}
    set_info: dict[str, dict] = {}
    if "mtrag-un" in args.sets:
        tasks_by_set["mtrag-un"], set_info["mtrag-un"] = load_mtrag(
            args.mtrag_dir, args.half, args.collections, args.limit)
        i = set_info["mtrag-un"]
        log(f"mtrag-un: half {args.half}: {i['tasks_chosen']} tasks chosen of {i['tasks_in_file']} "
            f"(tasks per half {i['tasks_by_half']}, conversations per half "
            f"{i['conversations_by_half']}); labels {i['by_label']}; collections {i['by_collection']}")
    if "sample" in args.sets:
        tasks_by_set["sample"], set_info["sample"] = load_sample(args.sample_dir, args.limit)
        log(f"sample: {set_info['sample']['tasks_chosen']} tasks (no split); "
            f"labels {set_info['sample']['by_label']}")

    # Knowledge bases: one tenant each.
    kbs: dict[str, KnowledgeBase] = {}
    for set_name, tasks in tasks_by_set.items():
        for name in sorted({t.kb for t in tasks}):
            if set_name == "mtrag-un":
                folder, tenant = args.mtrag_dir / "kb" / name, f"eval-mtrag-{name}-{suffix}"
            else:
                folder, tenant = args.sample_dir, f"eval-sample-{suffix}"
            kbs[name] = KnowledgeBase(set=set_name, name=name, folder=folder, tenant_id=tenant,
                                      widget_key=f"wk_{tenant}")

    loader = KbLoader(args.kb_loader, args.state_dir, args.url)
    load_started = time.monotonic()
    if args.skip_load:
        existing = loader.tenants()
        for kb in kbs.values():
            if kb.tenant_id not in existing:
                die(f"tenant {kb.tenant_id} does not exist: run without --skip-load to create it")
            kb.widget_key = existing[kb.tenant_id]["widget_key"]
            set_tenant_settings(args.state_dir, kb.tenant_id, args.settings)
        log(f"reusing tenants (settings rewritten to {json.dumps(args.settings)})")
    for kb in kbs.values():
        if not args.skip_load:
            kb.widget_key = loader.tenant_add(kb, args.settings)
        kb.admin_token = loader.admin_token(kb.tenant_id)
        if not args.skip_load:
            log(f"loading {kb.folder} into tenant {kb.tenant_id} ...")
            started = time.monotonic()
            done = loader.load(kb)
            kb.load_seconds = round(time.monotonic() - started, 1)
            kb.load_ok = done.returncode == 0
            kb.load_output = (done.stdout + done.stderr).strip()
            summary = ", ".join(" ".join(line.split()) for line in done.stdout.splitlines()[1:6])
            log(f"  {kb.load_seconds}s, exit {done.returncode}: {summary}")
            if not kb.load_ok:
                log(f"  warning: kb-loader load did not load everything:\n{kb.load_output}")
        kb.documents, kb.pending_vectors = list_documents(client, kb.admin_token)
        if kb.pending_vectors:
            log(f"  warning: {kb.pending_vectors} documents of {kb.tenant_id} are not in the "
                "vector index")
    timings["setup_and_load"] = round(time.monotonic() - load_started, 1)
    tenant_line = ", ".join(kb.tenant_id for kb in kbs.values())
    log(f"tenants: {tenant_line}  (reuse: --skip-load --tenant-suffix {suffix})")

    all_tasks = [t for tasks in tasks_by_set.values() for t in tasks]

    # Retrieval.
    if "retrieval" in args.phases:
        jobs = [(t, m) for t in all_tasks for m in args.modes]

        def search_job(job):
            task, mode = job
            try:
                task.search[mode] = search_task(client, kbs[task.kb], task, mode)
            except ApiError as e:
                task.search[mode] = {"error": str(e)}

        log(f"retrieval: {len(jobs)} searches ({', '.join(args.modes)}) ...")
        timings["retrieval"] = round(
            run_pool("retrieval", jobs, search_job, args.workers,
                     args.progress_every * len(args.modes)), 1)

    # Answers.
    if "answers" in args.phases:
        for set_name, tasks in tasks_by_set.items():
            modes = args.answer_modes if set_name == "mtrag-un" else ["standalone"]
            for mode in modes:
                def answer_job(task, mode=mode):
                    task.answers[mode] = run_answer(client, kbs[task.kb], task, mode)

                label = f"answers {set_name} {mode}"
                messages = sum(len(t.history_user) + 1 if mode == "replay" else 1 for t in tasks)
                log(f"{label}: {len(tasks)} tasks, {messages} messages ...")
                timings[label] = round(
                    run_pool(label, tasks, answer_job, args.workers, args.progress_every), 1)

    # Retrieval again, with the query the pipeline built in each replayed conversation.
    replayed = [t for t in all_tasks if "query" in t.answers.get("replay", {})]
    if "retrieval" in args.phases and replayed:
        jobs = [(t, m) for t in replayed for m in args.modes if m not in ("keyword", "vector")]

        def replay_search_job(job):
            task, mode = job
            try:
                task.search[f"{mode}@replay"] = search_task(
                    client, kbs[task.kb], task, mode, task.answers["replay"]["query"])
            except ApiError as e:
                task.search[f"{mode}@replay"] = {"error": str(e)}

        log(f"retrieval with the replay queries: {len(jobs)} searches ...")
        timings["retrieval@replay"] = round(
            run_pool("retrieval@replay", jobs, replay_search_job, args.workers,
                     args.progress_every * 2), 1)
    replay_modes = sorted({m for t in all_tasks for m in t.search if m.endswith("@replay")},
                          key=lambda m: args.modes.index(m.removesuffix("@replay")))
    timings["total"] = round(time.monotonic() - run_started, 1)

    # Report.
    out = []
    out.append("support-agent answer-quality eval (scripts/eval/eval.py)\n")
    out.append(f"app {args.url}; state {args.state_dir}; tenant settings {json.dumps(args.settings)}\n")
    out.append(f"tenants: {tenant_line}\n  reuse: --skip-load --tenant-suffix {suffix}\n")
    for set_name, info in set_info.items():
        if set_name == "mtrag-un":
            out.append(
                f"mtrag-un: half {info['half']} (split by conversation, sha1 even = tune): "
                f"{info['tasks_chosen']} tasks of {info['tasks_in_file']} "
                f"(per half: {info['tasks_by_half']}); labels {info['by_label']}; "
                f"collections {info['by_collection']}\n")
        else:
            out.append(f"sample: {info['tasks_chosen']} tasks, no split; labels {info['by_label']}\n")
    load_times = ", ".join(f"{kb.name} {kb.load_seconds}s ({len(kb.documents)} docs)"
                           for kb in kbs.values() if kb.load_seconds is not None)
    if load_times:
        out.append(f"load: {load_times}\n")
    out.append("timings (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()) + "\n")
    if client.retries_429 or client.retries_503:
        out.append(f"retries: {client.retries_429} after 429, {client.retries_503} after 503\n")

    if "retrieval" in args.phases:
        sections = []
        for set_name, tasks in tasks_by_set.items():
            sections.append((set_name, tasks))
            if set_name == "mtrag-un" and len({t.kb for t in tasks}) > 1:
                sections += [(f"  {kb}", [t for t in tasks if t.kb == kb])
                             for kb in sorted({t.kb for t in tasks})]
            if set_name == "sample":
                sections += [(f"  {kind}", [t for t in tasks if t.label == kind])
                             for kind in ("direct", "paraphrase")]
        out.append(f"\nRetrieval (document level; answerable tasks with gold docs; "
                   f"{SEARCH_LIMIT} results asked). MODE: the last question alone; "
                   f"MODE@replay: the query the pipeline built for it in the replayed "
                   f"conversation (the question with the previous one's words)\n")
        out.append(render_retrieval(sections, args.modes + replay_modes))
        if "hybrid" in args.modes:
            out.append("\nHybrid search confidence (the extractive answer threshold "
                       "answer.min_confidence reads it; default 0.72)\n")
            for set_name, tasks in tasks_by_set.items():
                out.append(render_confidence(set_name, tasks))

    if "answers" in args.phases:
        for set_name, tasks in tasks_by_set.items():
            modes = args.answer_modes if set_name == "mtrag-un" else ["standalone"]
            labels = MTRAG_LABELS if set_name == "mtrag-un" else SAMPLE_LABELS
            half = f"half {args.half}" if set_name == "mtrag-un" else "all"
            out.append(f"\nAnswers: {set_name} ({half}, {len(tasks)} tasks)\n")
            out.append(render_answers(set_name, tasks, modes, labels))
            if set_name == "mtrag-un" and len({t.kb for t in tasks}) > 1:
                out.append("\n  per collection:\n")
                out.append(render_answer_breakdown(set_name, tasks, modes, labels))
    errors = render_errors(all_tasks)
    if errors:
        out.append("\n" + errors)
    out.append("\n" + DEFINITIONS)
    report = "".join(out)
    print(report)

    if args.json:
        figures = {"retrieval": {}, "confidence": {}, "answers": {}}
        for set_name, tasks in tasks_by_set.items():
            if "retrieval" in args.phases:
                modes = args.modes + replay_modes
                figures["retrieval"][set_name] = {
                    "all": retrieval_figures(tasks, modes),
                    **{f"kb:{kb}": retrieval_figures([t for t in tasks if t.kb == kb], modes)
                       for kb in sorted({t.kb for t in tasks})},
                    **{f"label:{lb}": retrieval_figures([t for t in tasks if t.label == lb],
                                                        modes)
                       for lb in sorted({t.label for t in tasks})},
                }
                if "hybrid" in args.modes:
                    figures["confidence"][set_name] = confidence_figures(tasks)
            if "answers" in args.phases:
                modes = args.answer_modes if set_name == "mtrag-un" else ["standalone"]
                labels = MTRAG_LABELS if set_name == "mtrag-un" else SAMPLE_LABELS
                figures["answers"][set_name] = {
                    m: {"all": answer_figures(tasks, m, labels),
                        **{f"kb:{kb}": answer_figures([t for t in tasks if t.kb == kb], m, labels)
                           for kb in sorted({t.kb for t in tasks})}}
                    for m in modes
                }
        document = {
            "run": {
                "url": args.url,
                "state_dir": str(args.state_dir),
                "sets": args.sets,
                "half": args.half,
                "limit": args.limit,
                "modes": args.modes,
                "answer_modes": args.answer_modes,
                "tenant_settings": args.settings,
                "tenant_suffix": suffix,
                "tenants": {kb.name: {"tenant_id": kb.tenant_id, "widget_key": kb.widget_key,
                                      "documents": len(kb.documents),
                                      "load_seconds": kb.load_seconds, "load_ok": kb.load_ok,
                                      "pending_vectors": kb.pending_vectors}
                            for kb in kbs.values()},
                "set_info": set_info,
                "timings": timings,
                "retries": {"429": client.retries_429, "503": client.retries_503},
                "k": K,
                "search_limit": SEARCH_LIMIT,
            },
            "definitions": DEFINITIONS,
            "figures": figures,
            "report": report,
            "tasks": [
                {
                    "set": t.set, "id": t.id, "kb": t.kb, "label": t.label, "half": t.half,
                    "question": t.question, "history_user_turns": len(t.history_user),
                    "gold": t.gold, "reference_answer": t.reference,
                    "top_search_doc": (t.search.get("hybrid", {}).get("docs") or [None])[0],
                    "search": t.search, "answers": t.answers,
                }
                for t in all_tasks
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1, ensure_ascii=False))
        log(f"wrote {args.json}")
    log(f"tenants: {tenant_line}  (reuse: --skip-load --tenant-suffix {suffix})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        die("interrupted")
