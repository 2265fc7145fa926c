#!/usr/bin/env bash
# Load and soak: the whole app as `make run` starts it (SQLite, Chroma, the embedding sidecar,
# the sample knowledge base, the extractive responder) on free ports with its own state
# folder, driven by wrk (Debian) with bench/soak/chat.lua: the mixed traffic of a chat site
# (sessions, messages, event long-polls, history, knowledge-base search; the shares are in
# chat.lua and README.md) with idle widgets holding long-polls.
#
# 1. Ceiling: closed loop at CEIL_LEVELS chatting connections (2 4 8), CEIL_SECONDS (20) each.
# 2. Soak: SOAK_FRACTION (0.5) of the best of those, paced, for SOAK_SECONDS (600), while
#    sample.py records the RSS and CPU of devhost, the sidecar and Chroma every 10 s.
# 3. report.py writes RESULTS (bench/soak/results): report.md (tables), rss.csv, rss.svg.
#
# SOAK_BACKEND=postgres runs the app on the production stores instead of SQLite: a fresh
# PostgreSQL database (dropped at the end) on PGHOST_PORT (127.0.0.1:5432, user postgres)
# and Redis at REDIS_URL (redis://127.0.0.1:6379) for counters.
# CEILING=<requests/s> skips step 1. SOAK_SECONDS=60 is the short version. POLLERS (16) idle
# long-polls, SOAK_ACTORS (8) paced chatting connections. The raw request logs stay in the
# run folder printed at the end. Figures, not assertions.
# Needs `make setup models chroma ui components host` (nothing here compiles).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
T=${CARGO_TARGET_DIR:-$REPO/target}
CEIL_LEVELS=${CEIL_LEVELS:-2 4 8}
CEIL_SECONDS=${CEIL_SECONDS:-20}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_FRACTION=${SOAK_FRACTION:-0.5}
SOAK_ACTORS=${SOAK_ACTORS:-8}
POLLERS=${POLLERS:-16}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
SOAK_BACKEND=${SOAK_BACKEND:-sqlite}
PGHOST_PORT=${PGHOST_PORT:-127.0.0.1:5432}
RESULTS=${RESULTS:-$REPO/bench/soak/results}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RUN=$(mktemp -d /tmp/soak-run.XXXXXX)
STATE=$RUN/state
mkdir -p "$STATE"
APP_PID="" SAMPLER_PID="" PG_DB=""
pg() { psql -h "${PGHOST_PORT%:*}" -p "${PGHOST_PORT##*:}" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  [ -n "$APP_PID" ] && kill -- -"$APP_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$PG_DB" ] && pg -d postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
  rm -rf "$STATE"
}
trap cleanup EXIT
case "$SOAK_BACKEND" in
  sqlite) ;;
  postgres)
    PG_DB=soak_$(date +%s)_$$
    pg -d postgres -c "CREATE DATABASE $PG_DB"
    export DB_URL="postgres://postgres@$PGHOST_PORT/$PG_DB" REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
    ;;
  *) echo "SOAK_BACKEND: sqlite or postgres, not $SOAK_BACKEND" >&2; exit 2 ;;
esac

PORT=$(free_port)
export LISTEN=127.0.0.1:$PORT EMBEDDER_LISTEN=127.0.0.1:$(free_port) CHROMA_LISTEN=127.0.0.1:$(free_port)
export STATE_DIR=$STATE CARGO_TARGET_DIR=$T
setsid bash scripts/run-local.sh >"$RUN/app.log" 2>&1 &
APP_PID=$!
# Up, and the sample knowledge base loaded.
for _ in $(seq 1 600); do grep -q "support-agent is running" "$RUN/app.log" && break; sleep 1; done
grep -q "support-agent is running" "$RUN/app.log" || { tail -50 "$RUN/app.log"; exit 1; }

# The demo tenant without rate limits: the run measures the app, not the limiter.
NO_LIMITS='{"rate_limits":{"per_visitor":100000000,"per_client":100000000}}'
if [ "$SOAK_BACKEND" = postgres ]; then
  pg -d "$PG_DB" -c "UPDATE tenants SET settings = '$NO_LIMITS' WHERE id = 'demo'"
else
  python3 - "$STATE/sqlite_db.db" "$NO_LIMITS" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE tenants SET settings = ? WHERE id = 'demo'", (sys.argv[2],))
db.commit()
PY
fi
export SOAK_ADMIN_TOKEN=$(SPIN_VARIABLE_JWT_SECRET=$(cat "$STATE/jwt_secret") \
  "$T/release/kb-loader" token --tenant demo --role admin --sub soak --ttl 12h)
export WIDGET_KEY=wk_demo SOAK_QUESTIONS=$REPO/kb-loader/sample-kb/questions.jsonl
export SOAK_POLLERS=$POLLERS SOAK_WAIT=25

python3 bench/soak/sample.py "$APP_PID" "$STATE" "$RUN/rss.csv" "$SAMPLE_SECONDS" &
SAMPLER_PID=$!

{
  echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD)  cores: $(nproc)  stores: $SOAK_BACKEND"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wrk: $(wrk --version 2>&1 | head -1)"
} >"$RUN/meta.txt"

: >"$RUN/phases.tsv"
phase() { # name actors rate seconds
  local name=$1 actors=$2 rate=$3 secs=$4 start end
  mkdir -p "$RUN/$name"
  start=$(date +%s.%N)
  SOAK_OUT=$RUN/$name SOAK_ACTORS=$actors SOAK_RATE=$rate \
    wrk -t$((POLLERS + actors)) -c$((POLLERS + actors)) -d"${secs}s" --timeout 60s \
    -s bench/soak/chat.lua "http://$LISTEN" >"$RUN/$name/wrk.txt" 2>&1
  end=$(date +%s.%N)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$start" "$end" "$actors" "$rate" "$POLLERS" \
    "$(grep '^WRK' "$RUN/$name/wrk.txt" | sed 's/^WRK //')" >>"$RUN/phases.tsv"
}
chat_rps() { # name -> completed chat requests/s (idle polls not counted)
  python3 - "$RUN" "$1" <<'PY'
import glob, os, sys
run, name = sys.argv[1], sys.argv[2]
for line in open(os.path.join(run, "phases.tsv")):
    f = line.split("\t")
    if f[0] == name:
        dur = float(f[2]) - float(f[1])
n = sum(1 for p in glob.glob(os.path.join(run, name, "thread-*.log")) for l in open(p) if l.split()[1] != "poll")
print(f"{n / dur:.2f}")
PY
}

if [ -z "${CEILING:-}" ]; then
  phase warmup 2 0 10
  CEILING=0
  for c in $CEIL_LEVELS; do
    phase "ceiling-c$c" "$c" 0 "$CEIL_SECONDS"
    rps=$(chat_rps "ceiling-c$c")
    echo "ceiling at $c chatting connections: $rps requests/s" | tee -a "$RUN/meta.txt"
    CEILING=$(python3 -c "print(max($CEILING, $rps))")
  done
fi
RATE=$(python3 -c "print(round($CEILING * $SOAK_FRACTION, 2))")
echo "ceiling $CEILING requests/s; soak at $RATE requests/s for $SOAK_SECONDS s" | tee -a "$RUN/meta.txt"
sleep "$SAMPLE_SECONDS"
phase soak "$SOAK_ACTORS" "$RATE" "$SOAK_SECONDS"
sleep 1
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/meta.txt"

{
  echo "state folder at the end (KiB):"
  du -sk "$STATE"/* | sort -rn | head -6 | sed 's/^/  /'
  # What the app logged (by message, ids blanked; tokens are never logged). Long-polls
  # that wrk cut at the end of a phase log "Could not set ResponseOutparam" when they end.
  echo "app.log lines with error|panic|trap|warn, by message:"
  grep -iE 'error|panic|trap|warn' "$RUN/app.log" | sed -E 's/[0-9a-f]{16,32}/<id>/g; s/^.{0,40}Z//' |
    sort | uniq -c | sort -rn | head -8 | sed 's/^/  /'
} >>"$RUN/meta.txt" 2>&1 || true

mkdir -p "$RESULTS"
{
  echo "## Run"
  echo
  sed 's/^/    /' "$RUN/meta.txt"
  echo
  python3 bench/soak/report.py "$RUN" "$RESULTS"
} >"$RUN/report.md"
cp "$RUN/report.md" "$RESULTS/report.md"
cat "$RESULTS/report.md"
echo "raw logs: $RUN"
