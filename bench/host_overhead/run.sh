#!/usr/bin/env bash
# Host overhead: the hello component through devhost vs a native hyper server returning the
# same bytes, same load generator (wrk), 1 and 8 connections. Prints p50/p99 latency and
# requests/s for both and the ratios. Figures, not assertions.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-$PWD/target}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

HOST_PORT=$(free_port); NATIVE_PORT=$(free_port)
STATE=$(mktemp -d)
"$T/release/devhost" --from bench/host_overhead/hello.toml --listen 127.0.0.1:$HOST_PORT \
  --state-dir "$STATE" >/dev/null 2>"$STATE/log" &
HOST_PID=$!
"$T/release/native-hello" 127.0.0.1:$NATIVE_PORT >/dev/null &
NATIVE_PID=$!
trap 'kill $HOST_PID $NATIVE_PID 2>/dev/null; rm -rf "$STATE"' EXIT
wait_up http://127.0.0.1:$HOST_PORT/
wait_up http://127.0.0.1:$NATIVE_PORT/

# wrk prints latency percentiles with --latency; parse p50, p99 (as ms) and req/s.
measure() { # url conns -> "rps p50_ms p99_ms"
  wrk -t1 -c"$2" -d"$DURATION" --latency "$1" | python3 -c '
import re,sys
t=sys.stdin.read()
def ms(v,u): return float(v)*{"us":0.001,"ms":1.0,"s":1000.0}[u]
p=dict((k,ms(v,u)) for k,v,u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$",t,re.M))
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
print(rps,p["50"],p["99"])'
}

printf "%-6s %-8s %12s %10s %10s\n" conns server "req/s" "p50 ms" "p99 ms"
for c in 1 8; do
  # warm-up: compile caches, pool, connections
  wrk -t1 -c"$c" -d2s http://127.0.0.1:$HOST_PORT/ >/dev/null
  wrk -t1 -c"$c" -d2s http://127.0.0.1:$NATIVE_PORT/ >/dev/null
  read -r h_rps h_p50 h_p99 < <(measure http://127.0.0.1:$HOST_PORT/ "$c")
  read -r n_rps n_p50 n_p99 < <(measure http://127.0.0.1:$NATIVE_PORT/ "$c")
  printf "%-6s %-8s %12.0f %10.3f %10.3f\n" "$c" devhost "$h_rps" "$h_p50" "$h_p99"
  printf "%-6s %-8s %12.0f %10.3f %10.3f\n" "$c" native "$n_rps" "$n_p50" "$n_p99"
  python3 - "$h_rps" "$n_rps" "$h_p99" "$n_p99" "$c" <<'PY'
import sys
h,n,hp,np_,c=map(float,sys.argv[1:])
print(f"c={int(c)}: devhost/native throughput {h/n:.2f}x, p99 added {hp-np_:.3f} ms")
PY
done
