"""Credentials for the schemathesis contract run (scripts/contract/run.sh), one role per run.

What a request carries depends on CONTRACT_ROLE and on the session in its path:

- visitor: the visitor token of the session in the path when this run created it (a
  `createSession` answer, seen by `after_call`), else CONTRACT_TOKEN (the visitor token of a
  session made before the run), so staff routes and other visitors' sessions are refused.
- agent, admin: CONTRACT_TOKEN (a staff token of the demo tenant), except on the routes only
  the session's own visitor may call (send a message, rate, upload, refresh the token) of a
  session this run created: those carry that session's visitor token, so one stateful chain
  goes visitor message -> escalate -> claim -> agent reply -> resolve.
- `GET /metrics`: CONTRACT_METRICS_TOKEN when set (run.sh sets it for the admin's run), else as
  above (refused).

In the stateful run (CONTRACT_STEER=1) a step on a session route whose id was generated
(anything but 32 hex digits: schemathesis starts chains at every operation that has links of
its own, with generated arguments, and sometimes explores past a link) gets a new session of
the demo tenant made for it first, in the state the operation needs: escalated by this role's
staff token for the claim and the agent's view of the conversation; escalated and claimed by
it for the agent's reply, resolve and hand-back; just created for the rest. A generated id is
only ever 404, which the coverage and fuzzing phases test on every operation; here it would
spend the scenario's steps, and the agent's reply at the end of its chain (new session,
escalate, claim, reply) would rarely be reached. A new session each time, rather than one of
the run's, keeps the step's answer independent of what ran before: Hypothesis stops the phase
early when replaying a choice of steps draws differently. Ids from links are left alone.

Three in four generated `createSession` bodies name the demo tenant's widget key (a random
key is only ever 404), so the stateful phase has sessions to follow links from.

A generated `Idempotency-Key` that the schema allows gets a suffix unique to the whole contract
run (CONTRACT_RUN names this schemathesis run; every phase, stateful and shrinking replays
included): the generator repeats keys ("0", or one of 255 characters) with other bodies, in
this run and in the other roles' runs against the same app, and the API rightly answers a key
reused with another request with 422.

The event feed's long-poll `wait` is capped at CONTRACT_EVENTS_WAIT seconds (1; bench: 25):
the coverage phase asks for the boundary values 24 and 25 on real sessions, and a stateful
scenario that fails is replayed many times while it is shrunk, each replay waiting again. A
`wait` the schema refuses is left as it is, so a negative case stays negative.

One workaround: `ast.parse` is serialized. Hypothesis parses the source of the lambdas it
describes from the workers' threads, and CPython 3.11 builds AST objects with shared state that
two threads can interleave on ("SystemError: AST constructor recursion depth mismatch",
cpython gh-106905), which turned an operation of a run into an error now and then.

Not for anything else: the document's links decide which operations follow which.
"""

import ast
import functools
import itertools
import os
import re
import threading

import requests
import schemathesis
from hypothesis import strategies as st

ROLE = os.environ["CONTRACT_ROLE"]
RUN = os.environ.get("CONTRACT_RUN", ROLE)
TOKEN = os.environ["CONTRACT_TOKEN"]
METRICS_TOKEN = os.environ.get("CONTRACT_METRICS_TOKEN", "")
DEMO_WIDGET_KEY = os.environ.get("CONTRACT_WIDGET_KEY", "wk_demo")
WIDGET_KEY = re.compile(r"[!-~]{1,128}")  # openapi.yaml's CreateSession.widget_key
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")  # openapi.yaml's IdempotencyKey
EVENTS_WAIT = int(os.environ.get("CONTRACT_EVENTS_WAIT", "1"))
MAX_WAIT = 25  # openapi.yaml's sessionEvents `wait`
DIGITS = re.compile(r"[0-9]+")
SESSION_ID = re.compile(r"[0-9a-f]{32}")
STEER = os.environ.get("CONTRACT_STEER") == "1"
BASE = os.environ.get("CONTRACT_BASE_URL", "")
CLAIMED = {"replyAsAgent", "resolveConversation", "handBackConversation"}
VISITOR_ONLY = {"postMessage", "rateConversation", "uploadAttachment", "refreshSessionToken"}
SESSION_PATHS = ("/api/sessions/{id}", "/api/agent/conversations/{id}")

_ast_lock = threading.Lock()
_ast_parse = ast.parse


@functools.wraps(_ast_parse)
def _serialized_ast_parse(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialized_ast_parse

_lock = threading.Lock()
_visitor_tokens: dict[str, str] = {}


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _path_session(case) -> str | None:
    if not case.operation.path.startswith(SESSION_PATHS):
        return None
    session = (case.path_parameters or {}).get("id")
    return session if isinstance(session, str) else None


def _token_for(case) -> str:
    if _operation_id(case) == "metrics" and METRICS_TOKEN:
        return METRICS_TOKEN
    with _lock:
        own = _visitor_tokens.get(_path_session(case) or "")
    if own is not None and (ROLE == "visitor" or _operation_id(case) in VISITOR_ONLY):
        return own
    return TOKEN


@schemathesis.auth()
class RoleAuth:
    def get(self, case, ctx):
        return TOKEN

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {_token_for(case)}"


def _remember_visitor_token(body) -> str | None:
    try:
        session, token = body["session"]["id"], body["token"]
    except (KeyError, TypeError):
        return None
    with _lock:
        _visitor_tokens[session] = token
    return session


@schemathesis.hook
def after_call(ctx, case, response):
    if response.status_code not in (200, 201):
        return
    if _operation_id(case) not in ("createSession", "refreshSessionToken"):
        return
    try:
        _remember_visitor_token(response.json())
    except ValueError:
        return


def _new_session(stage: str) -> str:
    """A new session of the demo tenant: created, escalated (by TOKEN) or claimed (by TOKEN)."""
    staff = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(5):
        created = requests.post(f"{BASE}/api/sessions", json={"widget_key": DEMO_WIDGET_KEY}, timeout=30)
        created.raise_for_status()
        session = _remember_visitor_token(created.json())
        if stage in ("escalated", "claimed"):
            url = f"{BASE}/api/sessions/{session}/escalate"
            requests.post(url, json={}, headers=staff, timeout=30).raise_for_status()
        if stage != "claimed":
            return session
        claimed = requests.post(f"{BASE}/api/agent/conversations/{session}/claim", headers=staff, timeout=30)
        # Another role's run, taking the oldest conversation of the queue, may claim it first.
        if claimed.status_code != 409:
            claimed.raise_for_status()
            return session
    raise RuntimeError("five new conversations were all claimed by someone else first")


def _steer(case) -> None:
    session = _path_session(case)
    if session is None or SESSION_ID.fullmatch(session):
        return
    operation = _operation_id(case)
    stage = "created"
    if ROLE != "visitor" and operation in ("claimConversation", "getHandoffConversation"):
        stage = "escalated"
    elif ROLE != "visitor" and operation in CLAIMED:
        stage = "claimed"
    ours = {f"Bearer {TOKEN}", f"Bearer {_token_for(case)}"}
    case.path_parameters["id"] = _new_session(stage)
    # The credential follows the session, unless a check replaced or dropped it on purpose.
    if (case.headers or {}).get("Authorization") in ours:
        case.headers["Authorization"] = f"Bearer {_token_for(case)}"


@schemathesis.hook("flatmap_body").apply_to(operation_id="createSession")
def demo_widget_key(ctx, body):
    key = body.get("widget_key") if isinstance(body, dict) else None
    # Only a key the schema allows is swapped, so a negative case stays negative.
    if not isinstance(key, str) or not WIDGET_KEY.fullmatch(key):
        return st.just(body)
    demo = {**body, "widget_key": DEMO_WIDGET_KEY}
    return st.sampled_from([demo, demo, demo, body])


_keys = itertools.count()


def _unique_key(key: str) -> str:
    suffix = f".{RUN}.{next(_keys)}"
    return key[: 255 - len(suffix)] + suffix


def _capped_wait(wait):
    text = str(wait) if isinstance(wait, (int, str)) and not isinstance(wait, bool) else ""
    if not DIGITS.fullmatch(text) or int(text) > MAX_WAIT:
        return wait
    return min(int(text), EVENTS_WAIT)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key):
        headers["Idempotency-Key"] = _unique_key(key)
    if _operation_id(case) == "sessionEvents" and isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = _capped_wait(case.query["wait"])
    if STEER:
        _steer(case)
