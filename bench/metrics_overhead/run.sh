#!/usr/bin/env bash
# What recording metrics costs the message route: the answer-pipeline benchmark's open
# loop (20 messages/s over 100 chats, every real process, the sample knowledge base) with
# metrics recording on and off (the `metrics_recording` variable), ROUNDS times each,
# alternating; prints each run's p50/p95/p99, the medians per setting and the difference
# (on − off) and ratio. Figures, not assertions. BACKEND=postgres for PostgreSQL + Redis.
# Needs `make components host models chroma`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-2}
export QUALITY=0 CEILING=0 SECONDS_OPEN=${SECONDS_OPEN:-20}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for setting in on off; do
    out=$(SPIN_VARIABLE_METRICS_RECORDING=$setting bash bench/answer_pipeline/run.sh 2>&1) ||
      { echo "the benchmark run failed:"; echo "$out"; exit 1; }
    line=$(grep -m1 'latency ms' <<<"$out")
    echo "round $round, metrics $setting: ${line## }"
    echo "$setting $line" >> "$results"
  done
done
python3 - "$results" <<'PY'
import re, statistics, sys
runs = {"on": [], "off": []}
for line in open(sys.argv[1]):
    setting, rest = line.split(" ", 1)
    runs[setting].append({k: float(v) for k, v in re.findall(r"(p\d\d) ([\d.]+)", rest)})
print()
print(f"{'':10}{'p50':>8}{'p95':>8}{'p99':>8}   (ms, median of {len(runs['on'])} runs)")
med = {s: {p: statistics.median(r[p] for r in runs[s]) for p in ("p50", "p95", "p99")} for s in runs}
for s in ("off", "on"):
    print(f"{'metrics ' + s:10}" + "".join(f"{med[s][p]:8.1f}" for p in ("p50", "p95", "p99")))
print(f"{'on - off':10}" + "".join(f"{med['on'][p] - med['off'][p]:8.1f}" for p in ("p50", "p95", "p99")))
print(f"{'on / off':10}" + "".join(f"{med['on'][p] / med['off'][p]:8.2f}" for p in ("p50", "p95", "p99")))
PY
