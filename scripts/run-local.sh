#!/usr/bin/env bash
# `make run`: the whole app on one machine with its embedded defaults — SQLite for data and
# counters (.spin/), Chroma (.spin/chroma), the embedding sidecar with the default model
# (.models/minilm) and the app on devhost — with the demo tenant (widget key wk_demo) and the
# sample knowledge base loaded. Ctrl-C stops everything.
#
# Addresses: LISTEN (127.0.0.1:3000), EMBEDDER_LISTEN (127.0.0.1:8088), CHROMA_LISTEN
# (127.0.0.1:8000); STATE_DIR (.spin) holds the data. Expects `make setup models chroma ui
# components host` to have run. The browser tests (tests/ui.rs) start the app with this
# script, on free ports and a temporary STATE_DIR.
#
# The production stores instead: DB_URL=postgres://user@host:port/database (an existing,
# empty or migrated database) with REDIS_URL (redis://127.0.0.1:6379) for counters and the
# key-value store (runtime-config/production.toml, which names 127.0.0.1:6379).
#
# REQUEST_TIMEOUT_SECS (30) is devhost's limit on one request: a slow local LLM needs it
# above `llm_turn_budget_ms` plus retrieval's own limits (README, "Knowledge base and
# conversations").
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-$PWD/target}
LISTEN=${LISTEN:-127.0.0.1:3000}
EMBEDDER_LISTEN=${EMBEDDER_LISTEN:-127.0.0.1:8088}
CHROMA_LISTEN=${CHROMA_LISTEN:-127.0.0.1:8000}
KB=${KB:-kb-loader/sample-kb}
STATE_DIR=${STATE_DIR:-.spin}
REQUEST_TIMEOUT_SECS=${REQUEST_TIMEOUT_SECS:-30}

mkdir -p "$STATE_DIR"
DB_URL=${DB_URL:-sqlite://$STATE_DIR/sqlite_db.db}
RUNTIME_CONFIG=runtime-config/local.toml
case "$DB_URL" in
  postgres://*)
    REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
    RUNTIME_CONFIG=runtime-config/production.toml
    db_host=${DB_URL#postgres://}; db_host=${db_host#*@}; db_host=${db_host%%/*}
    export SPIN_VARIABLE_DB_URL="$DB_URL" SPIN_VARIABLE_DB_HOST="$db_host"
    export SPIN_VARIABLE_COUNTERS_URL="$REDIS_URL" SPIN_VARIABLE_COUNTERS_HOST="${REDIS_URL#redis://}"
    ;;
  *)
    if [ "$(realpath "$STATE_DIR")" != "$(realpath .spin)" ]; then
      # local.toml names .spin; another state folder gets its own copy of it.
      RUNTIME_CONFIG="$STATE_DIR/runtime-config.toml"
      sed "s|\.\./\.spin/|$(realpath "$STATE_DIR")/|" runtime-config/local.toml >"$RUNTIME_CONFIG"
    fi
    ;;
esac
"$T/release/kb-loader" migrate --db-url "$DB_URL"
"$T/release/kb-loader" tenant add --db-url "$DB_URL" \
  --id demo --name "Demo Company" --widget-key wk_demo --if-missing
[ -s "$STATE_DIR/jwt_secret" ] || (umask 077; head -c 32 /dev/urandom | base64 >"$STATE_DIR/jwt_secret")
export SPIN_VARIABLE_JWT_SECRET="$(cat "$STATE_DIR/jwt_secret")"
export SPIN_VARIABLE_EMBEDDER_URL="http://$EMBEDDER_LISTEN" SPIN_VARIABLE_EMBEDDER_HOST="$EMBEDDER_LISTEN"
export SPIN_VARIABLE_CHROMA_URL="http://$CHROMA_LISTEN" SPIN_VARIABLE_CHROMA_HOST="$CHROMA_LISTEN"
# devhost flushes the ticketing-webhook outbox every 5 s with this token, as the CronJob
# does in production.
[ -s "$STATE_DIR/outbox_flush_token" ] ||
  (umask 077; head -c 24 /dev/urandom | base64 >"$STATE_DIR/outbox_flush_token")
export SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN="$(cat "$STATE_DIR/outbox_flush_token")"
# Local development: ticketing webhooks may reach receivers on this machine or the LAN
# (refused by default: see the README's "Outbound webhooks and SSRF").
export SPIN_VARIABLE_WEBHOOK_ALLOW_PRIVATE_HOSTS="${SPIN_VARIABLE_WEBHOOK_ALLOW_PRIVATE_HOSTS:-true}"

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

wait_up() { # url name
  for _ in $(seq 1 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$2 did not come up at $1" >&2; exit 1
}

"$T/release/embedder" --model-dir .models/minilm --rerank-model-dir .models/reranker \
  --listen "$EMBEDDER_LISTEN" &
pids+=($!)
bash scripts/chroma/run.sh --host "${CHROMA_LISTEN%:*}" --port "${CHROMA_LISTEN##*:}" \
  --path "$STATE_DIR/chroma" >"$STATE_DIR/chroma.log" 2>&1 &
pids+=($!)
"$T/release/devhost" --from spin.toml --listen "$LISTEN" --state-dir "$STATE_DIR" \
  --runtime-config-file "$RUNTIME_CONFIG" --outbox-flush-secs 5 \
  --request-timeout-secs "$REQUEST_TIMEOUT_SECS" &
pids+=($!)
wait_up "http://$EMBEDDER_LISTEN/health" "the embedding sidecar"
wait_up "http://$CHROMA_LISTEN/api/v2/heartbeat" "Chroma"
wait_up "http://$LISTEN/health" "the app"

# The sample knowledge base: unchanged files are skipped, so a restart loads nothing twice.
token=$("$T/release/kb-loader" token --tenant demo --role admin --sub make-run --ttl 12h)
agent_token=$("$T/release/kb-loader" token --tenant demo --role agent --sub make-run-agent --ttl 12h)
SUPPORT_AGENT_TOKEN="$token" "$T/release/kb-loader" load "$KB" --url "http://$LISTEN" ||
  echo "warning: some sample documents did not load (see above)" >&2

# Sign-in links carry tokens: they go to a private file, never to the console.
(umask 077; cat >"$STATE_DIR/sign-in-links.txt" <<LINKS
agent inbox  http://$LISTEN/agent/#token=$agent_token
admin page   http://$LISTEN/admin/#token=$token
LINKS
)

cat <<MSG

support-agent is running:
  app            http://$LISTEN   (health: /health/ready)
  sidecar        http://$EMBEDDER_LISTEN
  Chroma         http://$CHROMA_LISTEN
  demo tenant    widget key wk_demo
  web chat       http://$LISTEN/chat/?key=wk_demo&name=Demo%20Company   (demo page with the widget: http://$LISTEN/)
  agent inbox    http://$LISTEN/agent/   admin page  http://$LISTEN/admin/
                 sign-in links (12 h tokens) in $STATE_DIR/sign-in-links.txt; more tokens:
                 kb-loader token --tenant demo --role agent|admin --sub you
                 (with SPIN_VARIABLE_JWT_SECRET=\$(cat $STATE_DIR/jwt_secret))
Ctrl-C stops everything.
MSG
wait "${pids[2]}"
