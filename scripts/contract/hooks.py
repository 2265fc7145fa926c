"""Credentials for the schemathesis contract run (scripts/contract/run.sh), one role per run.

What a request carries depends on CONTRACT_ROLE and on the session in its path:

- visitor: the visitor token of the session in the path when this run created it (a
  `createSession` answer, seen by `after_call`), else CONTRACT_TOKEN (the visitor token of a
  session made before the run), so staff routes and other visitors' sessions are refused.
- agent, admin: CONTRACT_TOKEN (a staff token of the demo tenant), except on the routes only
  the session's own visitor may call (send a message, rate, upload, refresh the token) of a
  session this run created: those carry that session's visitor token, so one stateful chain
  goes visitor message -> escalate -> claim -> agent reply -> resolve.

Three in four generated `createSession` bodies name the demo tenant's widget key (a random
key is only ever 404), so the stateful phase has sessions to follow links from.

A generated `Idempotency-Key` that the schema allows gets a suffix unique to the run: the
generator repeats short keys ("0") with other bodies, and the API rightly answers a key reused
with another request with 422.

Not for anything else: the document's links decide which operations follow which.
"""

import itertools
import os
import re
import threading

import schemathesis
from hypothesis import strategies as st

ROLE = os.environ["CONTRACT_ROLE"]
TOKEN = os.environ["CONTRACT_TOKEN"]
DEMO_WIDGET_KEY = os.environ.get("CONTRACT_WIDGET_KEY", "wk_demo")
WIDGET_KEY = re.compile(r"[!-~]{1,128}")  # openapi.yaml's CreateSession.widget_key
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,240}")  # openapi.yaml allows 255; room for a suffix
VISITOR_ONLY = {"postMessage", "rateConversation", "uploadAttachment", "refreshSessionToken"}
SESSION_PATHS = ("/api/sessions/{id}", "/api/agent/conversations/{id}")

_lock = threading.Lock()
_visitor_tokens: dict[str, str] = {}


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _session_token(case) -> str | None:
    if not case.operation.path.startswith(SESSION_PATHS):
        return None
    session = (case.path_parameters or {}).get("id")
    if not isinstance(session, str):
        return None
    with _lock:
        return _visitor_tokens.get(session)


@schemathesis.auth()
class RoleAuth:
    def get(self, case, ctx):
        return TOKEN

    def set(self, case, data, ctx):
        token = data
        own = _session_token(case)
        if own is not None and (ROLE == "visitor" or _operation_id(case) in VISITOR_ONLY):
            token = own
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.hook
def after_call(ctx, case, response):
    if response.status_code not in (200, 201):
        return
    if _operation_id(case) not in ("createSession", "refreshSessionToken"):
        return
    try:
        body = response.json()
        session, token = body["session"]["id"], body["token"]
    except (ValueError, KeyError, TypeError):
        return
    with _lock:
        _visitor_tokens[session] = token


@schemathesis.hook("flatmap_body").apply_to(operation_id="createSession")
def demo_widget_key(ctx, body):
    key = body.get("widget_key") if isinstance(body, dict) else None
    # Only a key the schema allows is swapped, so a negative case stays negative.
    if not isinstance(key, str) or not WIDGET_KEY.fullmatch(key):
        return st.just(body)
    demo = {**body, "widget_key": DEMO_WIDGET_KEY}
    return st.sampled_from([demo, demo, demo, body])


_keys = itertools.count()


@schemathesis.hook
def map_headers(ctx, headers):
    key = headers.get("Idempotency-Key") if headers else None
    if isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key):
        headers["Idempotency-Key"] = f"{key}.{next(_keys)}"
    return headers
