"""Tables and a plot for bench/soak from the wrk request logs and the RSS samples.

  python3 report.py RUN_DIR RESULTS_DIR

RUN_DIR holds phases.tsv (name, start, end, actors, rate, pollers, wrk summary line), one
folder of thread-N.log files per phase and rss.csv (sample.py). Prints the report (Markdown
tables); writes RESULTS_DIR/rss.csv (the samples of the soak phase, times from its start) and
RESULTS_DIR/rss.svg (RSS over time). Standard library only.
"""
import collections, csv, glob, os, statistics, sys

RUN, RES = sys.argv[1], sys.argv[2]
os.makedirs(RES, exist_ok=True)
ROUTES = ["session", "history", "message", "events", "search", "poll"]
PROCS = ["devhost", "embedder", "chroma"]


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]


def load_phase(name):
    rows = []
    for path in glob.glob(os.path.join(RUN, name, "thread-*.log")):
        for line in open(path):
            parts = line.split()
            if len(parts) == 4:
                rows.append((float(parts[0]), parts[1], int(parts[2]), int(parts[3]) / 1000.0))
    return rows


phases = []
for line in open(os.path.join(RUN, "phases.tsv")):
    name, start, end, actors, rate, pollers, summary = line.rstrip("\n").split("\t")
    phases.append(dict(name=name, start=float(start), end=float(end), actors=int(actors),
                       rate=float(rate), pollers=int(pollers), summary=summary))

out = []
w = out.append


def ms(x):
    return "–" if x != x else (f"{x:.0f}" if x >= 100 else f"{x:.1f}")


# ---- ceiling -------------------------------------------------------------------------------
ceil = [p for p in phases if p["name"].startswith("ceiling")]
if ceil:
    w("### Ceiling (closed loop, the chat mix without idle polls counted)\n")
    w("| chatting connections | idle long-polls | requests/s | messages/s | message p50 ms | message p99 ms | non-2xx | broken |")
    w("|---|---|---|---|---|---|---|---|")
    for p in ceil:
        rows = [r for r in load_phase(p["name"]) if r[1] != "poll"]
        dur = p["end"] - p["start"]
        msg = [r[3] for r in rows if r[1] == "message" and 200 <= r[2] < 300]
        bad = sum(1 for r in rows if r[2] >= 300)
        broken = sum(1 for r in rows if r[2] == 0)
        w(f"| {p['actors']} | {p['pollers']} | {len(rows) / dur:.1f} | "
          f"{sum(1 for r in rows if r[1] == 'message') / dur:.1f} | {ms(pct(msg, 50))} | "
          f"{ms(pct(msg, 99))} | {bad} | {broken} |")
    w("")

# ---- soak ----------------------------------------------------------------------------------
soak = next((p for p in phases if p["name"] == "soak"), None)
if soak is None:
    print("\n".join(out))
    sys.exit(0)
rows = load_phase("soak")
t0, dur = soak["start"], soak["end"] - soak["start"]
chat = [r for r in rows if r[1] != "poll"]
w(f"### Soak: {dur / 60:.1f} min at {soak['rate']:.1f} requests/s target "
  f"({soak['actors']} chatting connections, {soak['pollers']} idle long-polls)\n")
w(f"Achieved: **{len(chat) / dur:.2f} requests/s** of the chat mix "
  f"({len(chat)} requests) plus {sum(1 for r in rows if r[1] == 'poll')} idle long-polls; "
  f"wrk: `{soak['summary']}`\n")
w("| route | requests | share | per s | p50 ms | p90 ms | p99 ms | max ms | non-2xx (by status) |")
w("|---|---|---|---|---|---|---|---|---|")
by_route = collections.defaultdict(list)
for r in rows:
    by_route[r[1]].append(r)
for route in ROUTES + sorted(set(by_route) - set(ROUTES)):
    rs = by_route.get(route)
    if not rs:
        continue
    lat = [r[3] for r in rs]
    bad = collections.Counter(r[2] for r in rs if not 200 <= r[2] < 300)
    share = f"{100.0 * len(rs) / len(chat):.1f} %" if route != "poll" else "(idle)"
    w(f"| {route} | {len(rs)} | {share} | {len(rs) / dur:.2f} | {ms(pct(lat, 50))} | "
      f"{ms(pct(lat, 90))} | {ms(pct(lat, 99))} | {ms(max(lat))} | "
      f"{', '.join(f'{k}: {v}' for k, v in sorted(bad.items())) or '0'} |")
lat = [r[3] for r in chat]
bad = collections.Counter(r[2] for r in chat if not 200 <= r[2] < 300)
w(f"| **all but idle polls** | {len(chat)} | 100 % | {len(chat) / dur:.2f} | {ms(pct(lat, 50))} | "
  f"{ms(pct(lat, 90))} | {ms(pct(lat, 99))} | {ms(max(lat))} | "
  f"{', '.join(f'{k}: {v}' for k, v in sorted(bad.items())) or '0'} |")
w("")

# ---- RSS -----------------------------------------------------------------------------------
samples = []
with open(os.path.join(RUN, "rss.csv")) as f:
    for row in csv.DictReader(f):
        t = float(row["unix_s"])
        if t0 <= t <= soak["end"] + 1:
            samples.append(row)
with open(os.path.join(RES, "rss.csv"), "w") as f:
    f.write("t_s," + ",".join(f"{n}_rss_mib,{n}_cpu_pct" for n in PROCS)
            + ",devhost_anon_mib,state_mib,chroma_log_mib\n")
    for s in samples:
        f.write(f"{float(s['unix_s']) - t0:.0f}," + ",".join(
            f"{int(s[n + '_rss_kb']) / 1024:.1f},{s[n + '_cpu_pct']}" for n in PROCS)
            + f",{int(s.get('devhost_anon_kb') or 0) / 1024:.1f}"
            + f",{int(s['state_bytes']) / 2**20:.1f},{int(s.get('chroma_log_bytes') or 0) / 2**20:.1f}\n")

minutes = int(dur // 60 + (1 if dur % 60 > 5 else 0))
w("### Per minute of the soak\n")
w("| minute | requests/s | message p50 ms | message p99 ms | non-2xx | "
  + " | ".join(f"{n} RSS MiB" for n in PROCS) + " | devhost CPU % | embedder CPU % | chroma CPU % | state MiB | of which chroma.log MiB |")
w("|---" * (5 + len(PROCS) + 5) + "|")
per_min_rss = {n: [] for n in PROCS}
for m in range(minutes):
    a, b = t0 + 60 * m, min(t0 + 60 * (m + 1), soak["end"])
    rs = [r for r in chat if a <= r[0] < b]
    msg = [r[3] for r in rs if r[1] == "message"]
    ss = [s for s in samples if a <= float(s["unix_s"]) < b + 0.5]
    meds = {}
    for n in PROCS:
        vals = [int(s[n + "_rss_kb"]) / 1024 for s in ss]
        meds[n] = statistics.median(vals) if vals else float("nan")
        per_min_rss[n].append(meds[n])
    cpu = {n: [float(s[n + "_cpu_pct"]) for s in ss] for n in PROCS}
    st = [int(s["state_bytes"]) / 2**20 for s in ss]
    lg = [int(s.get("chroma_log_bytes") or 0) / 2**20 for s in ss]
    w(f"| {m + 1} | {len(rs) / max(b - a, 1):.1f} | {ms(pct(msg, 50))} | {ms(pct(msg, 99))} | "
      f"{sum(1 for r in rs if not 200 <= r[2] < 300)} | "
      + " | ".join(f"{meds[n]:.1f}" for n in PROCS)
      + "".join(f" | {statistics.median(cpu[n]) if cpu[n] else float('nan'):.0f}" for n in PROCS)
      + f" | {max(st) if st else 0:.1f} | {max(lg) if lg else 0:.1f} |")
w("")


def slope(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


w("### Memory growth over the soak\n")
w("| process | first minute median MiB | last minute median MiB | change MiB | per minute (first→last) | per minute (least squares, all samples) | second half, least squares |")
w("|---|---|---|---|---|---|---|")
growth = {}
for n in PROCS:
    first, last = per_min_rss[n][0], per_min_rss[n][-1]
    span = max(len(per_min_rss[n]) - 1, 1)
    xs = [(float(s["unix_s"]) - t0) / 60 for s in samples]
    ys = [int(s[n + "_rss_kb"]) / 1024 for s in samples]
    half = [(x, y) for x, y in zip(xs, ys) if x >= dur / 120]
    ls = slope(xs, ys) if len(xs) > 2 else float("nan")
    ls2 = slope([h[0] for h in half], [h[1] for h in half]) if len(half) > 2 else float("nan")
    growth[n] = (first, last)
    w(f"| {n} | {first:.1f} | {last:.1f} | {last - first:+.1f} | {(last - first) / span:+.2f} MiB/min | "
      f"{ls:+.2f} MiB/min | {ls2:+.2f} MiB/min |")
w("")

# ---- plot ----------------------------------------------------------------------------------
W, H, L, R, T, B = 760, 380, 60, 130, 30, 45
colors = {"devhost": "#1f77b4", "embedder": "#d62728", "chroma": "#2ca02c"}
xmax = max(dur / 60, 1)
ymax = max([int(s[n + "_rss_kb"]) / 1024 for s in samples for n in PROCS] + [1]) * 1.1
sx = lambda x: L + (W - L - R) * x / xmax
sy = lambda y: H - B - (H - T - B) * y / ymax
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">RSS during the soak ({soak["rate"]:.1f} req/s target, {len(chat) / dur:.1f} achieved)</text>']
step = 100 if ymax > 500 else 50 if ymax > 200 else 20
y = 0
while y <= ymax:
    svg.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>'
               f'<text x="{L - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y}</text>')
    y += step
for m in range(0, int(xmax) + 1):
    svg.append(f'<line x1="{sx(m):.1f}" x2="{sx(m):.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>'
               f'<text x="{sx(m):.1f}" y="{H - B + 16}" text-anchor="middle">{m}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">minutes into the soak</text>')
svg.append(f'<text x="16" y="{(T + H - B) / 2}" transform="rotate(-90 16 {(T + H - B) / 2})" text-anchor="middle">RSS (MiB)</text>')
for i, n in enumerate(PROCS):
    pts = " ".join(f"{sx((float(s['unix_s']) - t0) / 60):.1f},{sy(int(s[n + '_rss_kb']) / 1024):.1f}" for s in samples)
    svg.append(f'<polyline fill="none" stroke="{colors[n]}" stroke-width="2" points="{pts}"/>')
    svg.append(f'<rect x="{W - R + 12}" y="{T + 20 * i}" width="14" height="4" fill="{colors[n]}"/>'
               f'<text x="{W - R + 32}" y="{T + 20 * i + 6}">{n}</text>')
svg.append("</svg>")
open(os.path.join(RES, "rss.svg"), "w").write("\n".join(svg) + "\n")

print("\n".join(out))
