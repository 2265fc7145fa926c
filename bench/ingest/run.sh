#!/usr/bin/env bash
# Knowledge-base ingest and search: loads the sample knowledge base ten times (as ten
# prefixes, so every copy is new) through `kb-loader load` into the app on devhost with a
# real Chroma and the real embedding sidecar, and prints chunks/s; then times the search
# preview for every sample question in keyword, vector and hybrid mode and prints p50/p99.
# Figures, not assertions. Backend: SQLite (default) or BACKEND=postgres (PostgreSQL+Redis).
# Needs `make components host models chroma`.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
COPIES=${COPIES:-10}
CONCURRENCY=${CONCURRENCY:-4}
BACKEND=${BACKEND:-sqlite}
KB=kb-loader/sample-kb

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 900); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

STATE=$(mktemp -d)
PG_DB="bench_ingest_$$"
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
if [ "$BACKEND" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PG_DB" >/dev/null
  DB_URL="postgres://postgres@127.0.0.1:5432/$PG_DB"
  export SPIN_VARIABLE_DB_URL=$DB_URL SPIN_VARIABLE_COUNTERS_URL=redis://127.0.0.1:6379
else
  DB_URL="sqlite://$STATE/sqlite_db.db"
fi
"$T/release/kb-loader" migrate --db-url "$DB_URL" >/dev/null
TENANT="bench-$$"
# Limits far above the load: this measures ingest and search, not the limiter.
SETTINGS='{"rate_limits":{"per_client":100000000,"per_visitor":100000000,"window_secs":60}}'
"$T/release/kb-loader" tenant add --db-url "$DB_URL" --id "$TENANT" --name Bench \
  --widget-key "wk-$TENANT" --settings "$SETTINGS" >/dev/null
if [ "$BACKEND" != postgres ]; then
  printf '[sqlite_database.default]\ntype = "spin"\npath = "%s/sqlite_db.db"\n' "$STATE" > "$STATE/runtime.toml"
  RC=(--runtime-config-file "$STATE/runtime.toml")
else
  RC=()
fi

"$T/release/embedder" --model-dir .models/minilm --listen 127.0.0.1:$EMB_PORT 2>"$STATE/embedder.log" &
pids+=($!)
bash scripts/chroma/run.sh --port "$CHROMA_PORT" --path "$STATE/chroma" >"$STATE/chroma.log" 2>&1 &
pids+=($!)
"$T/release/devhost" --from spin.toml --listen 127.0.0.1:$APP_PORT --state-dir "$STATE/devhost" \
  "${RC[@]}" >/dev/null 2>"$STATE/devhost.log" &
pids+=($!)
wait_up "http://127.0.0.1:$EMB_PORT/health"; wait_up "http://127.0.0.1:$CHROMA_PORT/api/v2/heartbeat"
wait_up "http://127.0.0.1:$APP_PORT/health"

export SUPPORT_AGENT_URL=http://127.0.0.1:$APP_PORT
export SUPPORT_AGENT_TOKEN=$("$T/release/kb-loader" token --tenant "$TENANT" --role admin --sub bench)
export SUPPORT_AGENT_TENANT=$TENANT

echo "backend: $BACKEND   copies: $COPIES   concurrency: $CONCURRENCY   cores: $(nproc)"
start=$(date +%s.%N)
for i in $(seq 1 "$COPIES"); do
  "$T/release/kb-loader" load "$KB" --prefix "copy$i/" --concurrency "$CONCURRENCY" >/dev/null 2>&1 ||
    { echo "load of copy $i failed" >&2; exit 1; }
done
end=$(date +%s.%N)
python3 bench/ingest/figures.py ingest "$start" "$end"
python3 bench/ingest/figures.py search "$KB/questions.jsonl"
echo
echo "retrieval quality (copy 1, kb-loader eval):"
"$T/release/kb-loader" eval "$KB/questions.jsonl" --prefix copy1/
