#!/usr/bin/env bash
# Session creation: POST /api/sessions through devhost on each backend — (SQLite store, SQLite
# counters) and (PostgreSQL, Redis) — with wrk at 1 and 8 connections. Prints sessions
# created per second and p50/p99 latency. Figures, not assertions.
# Needs the components and devhost built (`make components host`), PostgreSQL on
# 127.0.0.1:5432 and Redis on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

TENANT="bench-$$-$(date +%s)"
export WIDGET_KEY="wk-$TENANT"
# Limits far above what the benchmark can reach: it measures creation, not the limiter.
SETTINGS='{"rate_limits":{"per_client":100000000,"per_visitor":100000000,"window_secs":60}}'
INSERT="INSERT INTO tenants (id, name, widget_key, settings, created_at) VALUES ('$TENANT', 'Bench', '$WIDGET_KEY', '$SETTINGS', 0);"
export SPIN_VARIABLE_JWT_SECRET="bench-secret-$(head -c 24 /dev/urandom | base64)"

STATE=$(mktemp -d)
PG_DB="bench_session_create_$$"
HOST_PID=""
cleanup() {
  [ -n "$HOST_PID" ] && kill "$HOST_PID" 2>/dev/null && wait "$HOST_PID" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

measure() { # conns -> "rps p50_ms p99_ms non2xx"
  wrk -t1 -c"$1" -d"$DURATION" --latency -s bench/session_create/create.lua "$URL/api/sessions" | python3 -c '
import re,sys
t=sys.stdin.read()
def ms(v,u): return float(v)*{"us":0.001,"ms":1.0,"s":1000.0}[u]
p=dict((k,ms(v,u)) for k,v,u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$",t,re.M))
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
bad=re.search(r"Non-2xx or 3xx responses:\s+(\d+)",t)
print(rps,p["50"],p["99"],bad.group(1) if bad else 0)'
}

run_backend() { # name, then devhost args and env are set by the caller
  local name=$1
  wait_up "$URL/health"
  wrk -t1 -c8 -d2s -s bench/session_create/create.lua "$URL/api/sessions" >/dev/null # warm-up
  for c in 1 8; do
    read -r rps p50 p99 bad < <(measure "$c")
    printf "%-16s %-6s %14.0f %10.2f %10.2f %8s\n" "$name" "$c" "$rps" "$p50" "$p99" "$bad"
  done
  kill "$HOST_PID"; wait "$HOST_PID" 2>/dev/null || true; HOST_PID=""
}

printf "%-16s %-6s %14s %10s %10s %8s\n" backend conns "sessions/s" "p50 ms" "p99 ms" "non-2xx"

PORT=$(free_port); URL=http://127.0.0.1:$PORT
"$T/release/devhost" --from spin.toml --listen 127.0.0.1:$PORT --state-dir "$STATE/sqlite" \
  --sqlite @migrations/sqlite/0001_platform.sql --sqlite "$INSERT" >/dev/null 2>"$STATE/sqlite.log" &
HOST_PID=$!
run_backend "sqlite+sqlite"

psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PG_DB" >/dev/null
psql -h 127.0.0.1 -U postgres -d "$PG_DB" -v ON_ERROR_STOP=1 -q \
  -f migrations/postgres/0001_platform.sql -c "$INSERT" >/dev/null
PORT=$(free_port); URL=http://127.0.0.1:$PORT
SPIN_VARIABLE_DB_URL="postgres://postgres@127.0.0.1:5432/$PG_DB" \
SPIN_VARIABLE_COUNTERS_URL="redis://127.0.0.1:6379" \
  "$T/release/devhost" --from spin.toml --listen 127.0.0.1:$PORT --state-dir "$STATE/pg" \
  >/dev/null 2>"$STATE/pg.log" &
HOST_PID=$!
run_backend "postgres+redis"
