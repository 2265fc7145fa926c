#!/usr/bin/env bash
# The answer pipeline (extractive responder) through devhost with every real process: the
# app, Chroma, the embedding sidecar; the sample knowledge base loaded. Prints p50/p95/p99
# at 20 messages/s open loop over 100 chats, the throughput ceiling (closed loop), and the
# median time of each stage (store, keyword, vector = embed + Chroma, compose, reply) from
# the Server-Timing header; then answer quality (`kb-loader eval-answers`). Figures, not
# assertions. BACKEND=postgres for PostgreSQL+Redis. RERANK=1 starts the sidecar with the
# rerank model and sets the tenant's `retrieval.rerank`: every answer's search is reranked
# (the `rerank` stage in the medians); RERANK_CANDIDATES=N sets `retrieval.rerank_candidates`
# (default 10). CONTEXT=follow_ups|best sets `retrieval.conversation_context` (default
# "always": the previous question's words in every later query, so longer texts to embed).
# CONCURRENCY="1 4" sets the closed-loop runs (default "4 16"); 1 shows each stage unqueued.
# Needs `make components host models chroma`.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
BACKEND=${BACKEND:-sqlite}
RATE=${RATE:-20}
SECONDS_OPEN=${SECONDS_OPEN:-30}
KB=kb-loader/sample-kb

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 900); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

STATE=$(mktemp -d)
PG_DB="bench_answer_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$BACKEND" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$STATE"
}
trap cleanup EXIT

export SPIN_VARIABLE_JWT_SECRET="bench-secret-$(head -c 24 /dev/urandom | base64)"
EMB_PORT=$(free_port); CHROMA_PORT=$(free_port); APP_PORT=$(free_port)
export SPIN_VARIABLE_EMBEDDER_URL=http://127.0.0.1:$EMB_PORT SPIN_VARIABLE_EMBEDDER_HOST=127.0.0.1:$EMB_PORT
export SPIN_VARIABLE_CHROMA_URL=http://127.0.0.1:$CHROMA_PORT SPIN_VARIABLE_CHROMA_HOST=127.0.0.1:$CHROMA_PORT
RC=()
if [ "$BACKEND" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PG_DB" >/dev/null
  DB_URL="postgres://postgres@127.0.0.1:5432/$PG_DB"
  export SPIN_VARIABLE_DB_URL=$DB_URL SPIN_VARIABLE_COUNTERS_URL=redis://127.0.0.1:6379
else
  DB_URL="sqlite://$STATE/sqlite_db.db"
  printf '[sqlite_database.default]\ntype = "spin"\npath = "%s/sqlite_db.db"\n' "$STATE" > "$STATE/runtime.toml"
  RC=(--runtime-config-file "$STATE/runtime.toml")
fi
TENANT="bench-$$"
# Limits far above the load: this measures the pipeline, not the limiter.
SETTINGS='{"rate_limits":{"per_client":100000000,"per_visitor":100000000,"window_secs":60}'
RERANK_ARGS=()
RETRIEVAL=()
if [ "${RERANK:-0}" = 1 ]; then
  RETRIEVAL+=('"rerank":true' '"rerank_candidates":'"${RERANK_CANDIDATES:-10}")
  RERANK_ARGS=(--rerank-model-dir .models/reranker)
fi
[ -n "${CONTEXT:-}" ] && RETRIEVAL+=('"conversation_context":"'"$CONTEXT"'"')
if [ ${#RETRIEVAL[@]} -gt 0 ]; then
  SETTINGS="$SETTINGS,\"retrieval\":{$(IFS=,; echo "${RETRIEVAL[*]}")}"
fi
SETTINGS="$SETTINGS}"
"$T/release/kb-loader" migrate --db-url "$DB_URL" >/dev/null
"$T/release/kb-loader" tenant add --db-url "$DB_URL" --id "$TENANT" --name Bench \
  --widget-key "wk-$TENANT" --settings "$SETTINGS" >/dev/null

"$T/release/embedder" --model-dir .models/minilm "${RERANK_ARGS[@]}" --listen 127.0.0.1:$EMB_PORT \
  2>"$STATE/embedder.log" &
pids+=($!)
bash scripts/chroma/run.sh --port "$CHROMA_PORT" --path "$STATE/chroma" >"$STATE/chroma.log" 2>&1 &
pids+=($!)
"$T/release/devhost" --from spin.toml --listen 127.0.0.1:$APP_PORT --state-dir "$STATE/devhost" \
  "${RC[@]}" >/dev/null 2>"$STATE/devhost.log" &
pids+=($!)
wait_up "http://127.0.0.1:$EMB_PORT/health"; wait_up "http://127.0.0.1:$CHROMA_PORT/api/v2/heartbeat"
wait_up "http://127.0.0.1:$APP_PORT/health"

export SPIN_VARIABLE_JWT_SECRET
"$T/release/kb-loader" load "$KB" --url "http://127.0.0.1:$APP_PORT" --tenant "$TENANT" >/dev/null 2>&1

echo "backend: $BACKEND   cores: $(nproc)   extractive responder, sample knowledge base, rerank: ${RERANK:-0}$([ "${RERANK:-0}" = 1 ] && echo " (${RERANK_CANDIDATES:-10} candidates)"), conversation context: ${CONTEXT:-always}"
export APP_URL=http://127.0.0.1:$APP_PORT WIDGET_KEY="wk-$TENANT" QUESTIONS="$KB/questions.jsonl"
python3 bench/answer_pipeline/loadgen.py open 5 5 10 >/dev/null   # warm-up
python3 bench/answer_pipeline/loadgen.py open "$RATE" "$SECONDS_OPEN" 100
if [ "${CEILING:-1}" = 1 ]; then
  for c in ${CONCURRENCY:-4 16}; do python3 bench/answer_pipeline/loadgen.py ceiling "$c" 15 100; done
fi

# Answer quality on the same app: every sample question and escalation case through the
# whole pipeline (QUALITY=0 skips it).
if [ "${QUALITY:-1}" = 1 ]; then
  echo
  echo "answer quality (kb-loader eval-answers):"
  "$T/release/kb-loader" eval-answers "$KB/questions.jsonl" --url "http://127.0.0.1:$APP_PORT" \
    --tenant "$TENANT" --widget-key "wk-$TENANT"
fi
