#!/usr/bin/env bash
# The HTTP API against its own contract: schemathesis (PyPI, pinned) runs openapi.yaml's
# coverage, fuzzing and stateful phases against the whole app as `make run` starts it
# (SQLite, Chroma, the sidecar, the sample knowledge base), as the demo tenant's admin with
# rate limits out of the way and metrics enabled. Prints schemathesis's summary: server
# errors, responses outside the documented schemas, schema-valid requests refused, and so on.
# A figure, not a gate (the tail it still finds is listed in issue 19's notes).
#
# Needs `make setup models chroma ui components host`. SECONDS_BUDGET (240), EXAMPLES (10),
# SEED (1) and ST_ARGS (extra schemathesis arguments) tune the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
T=${CARGO_TARGET_DIR:-$REPO/target}
VENV=${SCHEMATHESIS_VENV:-$HOME/.cache/support-agent/schemathesis-venv}
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q schemathesis==4.32.5
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
STATE=$(mktemp -d)
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill -- -"$APP_PID" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT

PORT=$(free_port)
export LISTEN=127.0.0.1:$PORT EMBEDDER_LISTEN=127.0.0.1:$(free_port) CHROMA_LISTEN=127.0.0.1:$(free_port)
export STATE_DIR=$STATE CARGO_TARGET_DIR=$T SPIN_VARIABLE_METRICS_TOKEN="contract-$(head -c 12 /dev/urandom | base64 | tr -dc a-zA-Z0-9)"
setsid bash scripts/run-local.sh >"$STATE/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 300); do curl -sf "http://$LISTEN/health/ready" >/dev/null && break; sleep 1; done
curl -sf "http://$LISTEN/health/ready" >/dev/null || { cat "$STATE/app.log"; exit 1; }

# The demo tenant without rate limits: the run measures the contract, not the limiter.
python3 - "$STATE/sqlite_db.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("""UPDATE tenants SET settings = '{"rate_limits":{"per_visitor":100000000,"per_client":100000000}}' WHERE id = 'demo'""")
db.commit()
PY
ADMIN=$(SPIN_VARIABLE_JWT_SECRET=$(cat "$STATE/jwt_secret") "$T/release/kb-loader" token --tenant demo --role admin --sub contract)

cd "$STATE"
set +e
"$VENV/bin/st" run "$REPO/openapi.yaml" --url "http://$LISTEN" \
  -H "Authorization: Bearer $ADMIN" --workers 2 --request-timeout 20 \
  --max-examples "${EXAMPLES:-10}" --seed "${SEED:-1}" --max-time "${SECONDS_BUDGET:-240}" \
  ${ST_ARGS:-} > "$STATE/schemathesis.txt" 2>&1
status=$?
set -e
sed -n '/^=* FAILURES =*$/,$p' "$STATE/schemathesis.txt" | grep -E '^_{3,}|^- ST|^\[[0-9]{3}\]|"detail"' || true
sed -n '/ SUMMARY /,$p' "$STATE/schemathesis.txt"
echo "schemathesis exit status: $status (1 = it found failures)"
