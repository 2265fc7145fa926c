#!/usr/bin/env bash
# The HTTP API against its own contract: schemathesis (PyPI, pinned) runs openapi.yaml's
# examples, coverage, fuzzing and stateful phases (the document's links take it from a new
# session to its messages, events, feedback, escalation and the agent's reply) against the
# whole app as `make run` starts it (SQLite, Chroma, the sidecar, the sample knowledge base),
# once per role: a visitor, an agent and an admin of the demo tenant (scripts/contract/hooks.py
# picks each request's token). The demo tenant's rate limits are out of the way: the run
# measures the contract, not the limiter.
#
# Fails (non-zero) on any finding of any check (a server error, a response outside the
# documented schemas, a 405 without `Allow`, a schema-valid request refused, ...), when the app
# does not start, or when a role ran no test case. Prints each role's summary of failures and
# one closing line `N passed, M failed` (operations of all roles; .ci/run adds it up).
#
# Each role is two schemathesis runs: the examples, coverage and fuzzing phases (one request
# after another, per operation; the three roles one after another), then the stateful phase
# (chains of requests along the links; the three roles side by side). The closing lines list,
# per run, the operations that answered 2xx, and for the stateful runs the scenarios, the
# links followed and whether the agent's reply was reached.
#
# Needs `make setup models chroma ui components host`. Tuning: ROLES ("visitor agent admin"),
# EXAMPLES (fuzzing examples per operation, 6), STATEFUL_EXAMPLES (stateful scenarios, 30),
# STATEFUL_OPERATIONS (the operations of the stateful run, by operationId),
# SEED (1), MAX_SECONDS (a run that takes longer is stopped and fails, 300), WORKERS (2; hooks.py
# serializes `ast.parse` against a CPython 3.11 race between them), CONTRACT_EVENTS_WAIT (the cap on the event feed's long-poll `wait`, 1 s;
# hooks.py), PHASES (of the first run, "examples,coverage,fuzzing"), ST_ARGS (extra
# schemathesis arguments), REPORT_DIR (keep the JSON and HAR reports, schemathesis's output
# and the app's log there).
# `make contract` runs it with these defaults; bench/contract/run.sh runs it longer.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
T=${CARGO_TARGET_DIR:-$REPO/target}
ROLES=${ROLES:-visitor agent admin}
VENV=${SCHEMATHESIS_VENV:-$HOME/.cache/support-agent/schemathesis-venv}
SCHEMATHESIS=4.32.5
if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
STATE=$(mktemp -d)
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill -- -"$APP_PID" 2>/dev/null || true
  [ -n "${REPORT_DIR:-}" ] && cp "$STATE/app.log" "$REPORT_DIR/app.log" 2>/dev/null
  rm -rf "$STATE"
}
trap cleanup EXIT

export LISTEN=127.0.0.1:$(free_port) EMBEDDER_LISTEN=127.0.0.1:$(free_port) CHROMA_LISTEN=127.0.0.1:$(free_port)
export STATE_DIR=$STATE CARGO_TARGET_DIR=$T
export SPIN_VARIABLE_METRICS_TOKEN="contract-$(head -c 12 /dev/urandom | base64 | tr -dc a-zA-Z0-9)"
BASE=http://$LISTEN
started=$(date +%s)
setsid bash scripts/run-local.sh >"$STATE/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 300); do
  curl -sf "$BASE/health/ready" >/dev/null && grep -q "is running" "$STATE/app.log" && break
  kill -0 "$APP_PID" 2>/dev/null || break
  sleep 1
done
if ! grep -q "is running" "$STATE/app.log"; then
  cat "$STATE/app.log" >&2
  echo "contract: the app did not start" >&2
  exit 1
fi
echo "contract: app up in $(($(date +%s) - started)) s at $BASE"

# The demo tenant without rate limits.
python3 - "$STATE/sqlite_db.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("""UPDATE tenants SET settings = '{"rate_limits":{"per_visitor":100000000,"per_client":100000000}}' WHERE id = 'demo'""")
db.commit()
PY
staff_token() {
  SPIN_VARIABLE_JWT_SECRET=$(cat "$STATE/jwt_secret") "$T/release/kb-loader" token --tenant demo --role "$1" --sub "contract-$1"
}
visitor_token() { # a session of its own, made before the run
  curl -sf -X POST "$BASE/api/sessions" -H 'Content-Type: application/json' \
    -d '{"widget_key":"wk_demo"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

REPORTS=${REPORT_DIR:-$STATE/reports}
mkdir -p "$REPORTS"
# The stateful run walks a conversation: the session, the visitor's messages, events,
# history, feedback and attachments, the escalation, the agent's claim, reply, resolve and
# hand-back. The knowledge-base and outbox routes are fuzzed in the first run.
STATEFUL_OPERATIONS=${STATEFUL_OPERATIONS:-createSession getSession eraseSession postMessage listMessages sessionEvents rateConversation uploadAttachment escalateSession listHandoffQueue getHandoffConversation claimConversation replyAsAgent resolveConversation handBackConversation}
stateful_filter=()
for op in $STATEFUL_OPERATIONS; do stateful_filter+=(--include-operation-id "$op"); done

# The operations a role may not call answer every request 401/403 before they read it: in
# that role's first run they get the examples and fuzzing phases (the refusal and its
# documented problem response), not the coverage phase's hundreds of variants of each
# parameter. The ticketing webhook and /metrics take no role's token: the admin's run tests
# them in full (with the metrics token).
ADMIN_ONLY="uploadDocument listDocuments upsertDocument getDocument deleteDocument searchKnowledge reindexPending listUnanswered listCurated curateAnswer flushOutbox listOutbox replayOutboxEvent"
STAFF_ONLY="listSessions listHandoffQueue getHandoffConversation claimConversation replyAsAgent resolveConversation handBackConversation"
NO_ROLE="receiveTicketingWebhook metrics"
role_config() { # ROLE -> path of the role's schemathesis.toml
  local refused="" config="$STATE/schemathesis-$1.toml"
  case "$1" in
    visitor) refused="$STAFF_ONLY $ADMIN_ONLY $NO_ROLE" ;;
    agent) refused="$ADMIN_ONLY $NO_ROLE" ;;
  esac
  cp scripts/contract/schemathesis.toml "$config"
  if [ -n "$refused" ]; then
    printf '\n# %s: refused operations (run.sh)\n[[operations]]\ninclude-operation-id = [%s]\nphases.coverage.enabled = false\n' \
      "$1" "$(printf '"%s", ' $refused | sed 's/, $//')" >>"$config"
  fi
  echo "$config"
}

# One schemathesis run: ROLE PART PHASES EXAMPLES [FILTER...]. Budgets are counts, not time,
# so a seed gives the same requests every time; MAX_SECONDS only stops a run that hangs.
st_run() {
  local role=$1 part=$2 phases=$3 examples=$4 t0 code metrics=""
  shift 4
  [ "$role" = admin ] && metrics=$SPIN_VARIABLE_METRICS_TOKEN
  t0=$(date +%s)
  set +e
  (cd "$STATE" && CONTRACT_ROLE=$role CONTRACT_RUN=$role-$part CONTRACT_TOKEN=$token \
    CONTRACT_METRICS_TOKEN=$metrics CONTRACT_BASE_URL=$BASE \
    CONTRACT_STEER=$([ "$part" = stateful ] && echo 1 || echo 0) \
    SCHEMATHESIS_HOOKS="$REPO/scripts/contract/hooks.py" \
    timeout "${MAX_SECONDS:-300}" "$VENV/bin/st" --config-file "$(cd "$REPO" && role_config "$role")" \
      run "$REPO/openapi.yaml" --url "$BASE" --workers "${WORKERS:-2}" --seed "${SEED:-1}" \
      --phases "$phases" --max-examples "$examples" "$@" \
      --report json,har --report-json-path "$REPORTS/$role-$part.json" \
      --report-har-path "$REPORTS/$role-$part.har" \
      ${ST_ARGS:-} >"$REPORTS/$role-$part.txt" 2>&1)
  code=$?
  set -e
  echo "== contract, $role, $part: schemathesis exit $code in $(($(date +%s) - t0)) s"
  sed -n '/^=* FAILURES =*$/,/^=* SUMMARY/p' "$REPORTS/$role-$part.txt" |
    grep -E '^_{3,}|^- |^\[[0-9]{3}\]|"detail"|^    curl' | head -120 || true
  sed -n '/^Failures:/,/^Test cases:/p' "$REPORTS/$role-$part.txt"
  [ "$code" -eq 0 ]
}

status=0
reports=()
declare -A tokens
for role in $ROLES; do
  case "$role" in
    visitor) tokens[$role]=$(visitor_token) ;;
    agent | admin) tokens[$role]=$(staff_token "$role") ;;
    *) echo "contract: unknown role $role" >&2; exit 2 ;;
  esac
  [ -n "${tokens[$role]}" ] || { echo "contract: no $role token" >&2; exit 1; }
done

# The first runs one after another: the admin's may erase any session of the tenant and
# delete knowledge-base documents, which would pull the ground from under another run.
for role in $ROLES; do
  token=${tokens[$role]}
  st_run "$role" single "${PHASES:-examples,coverage,fuzzing}" "${EXAMPLES:-6}" || status=1
  reports+=("$role-single")
done
# The stateful runs side by side: each works on sessions it made (its chains start at a new
# session, or at one hooks.py makes for the step), so none erases another's. A claim of the
# queue's oldest conversation may race another run's claim: the one that comes second gets
# the documented 409.
pids=()
for role in $ROLES; do
  token=${tokens[$role]}
  st_run "$role" stateful stateful "${STATEFUL_EXAMPLES:-30}" "${stateful_filter[@]}" \
    >"$STATE/$role-stateful.out" 2>&1 &
  pids+=($!)
  reports+=("$role-stateful")
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for role in $ROLES; do cat "$STATE/$role-stateful.out"; done

"$VENV/bin/python" "$REPO/scripts/contract/tally.py" "$REPO/openapi.yaml" "$REPORTS" "${reports[@]}" || status=1
exit "$status"
