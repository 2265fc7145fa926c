"""Figures for bench/ingest/run.sh (stdlib only): `ingest START END` prints documents,
chunks and chunks/s from the app's document list; `search QUESTIONS` times the search
preview for every question in each mode and prints p50/p99 (ms), sequential requests."""
import json, os, statistics, sys, time, urllib.request

URL = os.environ["SUPPORT_AGENT_URL"]
TOKEN = os.environ["SUPPORT_AGENT_TOKEN"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def ingest(start, end):
    docs, chunks, pending, cursor = 0, 0, 0, None
    while True:
        page = call("GET", "/api/kb/documents?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        for d in page["documents"]:
            docs += 1
            chunks += d["chunk_count"]
            pending += d["vector_status"] != "indexed"
        cursor = page["next_cursor"]
        if not cursor:
            break
    secs = float(end) - float(start)
    print(f"ingest: {docs} documents, {chunks} chunks in {secs:.1f} s "
          f"-> {chunks / secs:.0f} chunks/s, {docs / secs:.1f} documents/s (pending vectors: {pending})")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def search(path):
    questions = [json.loads(line)["question"] for line in open(path) if line.strip()]
    for q in questions[:5]:  # warm-up
        call("POST", "/api/kb/search", {"query": q, "mode": "hybrid"})
    print(f"search ({len(questions)} questions, 10 results, sequential):")
    print(f"  {'mode':<8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for mode in ("keyword", "vector", "hybrid"):
        times = []
        for q in questions:
            t = time.perf_counter()
            call("POST", "/api/kb/search", {"query": q, "mode": mode, "limit": 10})
            times.append((time.perf_counter() - t) * 1000)
        print(f"  {mode:<8} {pct(times, 0.5):8.1f} {pct(times, 0.99):8.1f} {statistics.mean(times):8.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "ingest":
        ingest(sys.argv[2], sys.argv[3])
    else:
        search(sys.argv[2])
