"""Open-loop load on the message route (stdlib only), for bench/answer_pipeline/run.sh.

`open RATE SECONDS CHATS` sends RATE messages per second for SECONDS, spread over CHATS
sessions (each message starts on schedule whatever the previous ones are doing, so a slow
server is not given a break), and prints p50/p95/p99 latency, the achieved rate and errors,
the median of each pipeline stage from the `Server-Timing` header, and how many replies
said `degraded` (retrieval ran without the vector index: the embedder or Chroma too slow).
`ceiling CONCURRENCY SECONDS CHATS` sends as fast as CONCURRENCY closed-loop workers can and
prints messages/s and the stage medians. Sessions are created first through the public API with the widget key.
"""
import http.client, json, os, random, statistics, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

URL = urlparse(os.environ["APP_URL"])
WIDGET_KEY = os.environ["WIDGET_KEY"]
QUESTIONS = [json.loads(l)["question"] for l in open(os.environ["QUESTIONS"]) if l.strip()]
local = threading.local()


def conn():
    if getattr(local, "c", None) is None:
        local.c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=60)
    return local.c


def call(method, path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    for attempt in range(2):
        try:
            c = conn()
            c.request(method, path, json.dumps(body), headers)
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheader("server-timing") or "", data
        except (http.client.HTTPException, OSError):
            local.c = None
            if attempt:
                raise


def sessions(n):
    out = []
    for _ in range(n):
        status, _, data = call("POST", "/api/sessions", {"widget_key": WIDGET_KEY})
        assert status == 201, data
        body = json.loads(data)
        out.append((body["session"]["id"], body["token"]))
    return out


def send(chat, question):
    sid, token = chat
    t = time.perf_counter()
    status, timing, data = call("POST", f"/api/sessions/{sid}/messages", {"text": question}, token)
    ms = (time.perf_counter() - t) * 1000
    try:
        degraded = json.loads(data).get("degraded") is True
    except (ValueError, AttributeError):
        degraded = False
    return ms, status, timing, degraded


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def stages(timings):
    per = {}
    for header in timings:
        for part in header.split(","):
            if ";dur=" in part:
                name, dur = part.strip().split(";dur=")
                per.setdefault(name, []).append(float(dur))
    return "  ".join(f"{k} {statistics.median(v):.2f}" for k, v in per.items())


def open_loop(rate, seconds, n_chats):
    chats = sessions(n_chats)
    results, lock = [], threading.Lock()
    total = int(rate * seconds)

    def one(i):
        r = send(chats[i % len(chats)], random.choice(QUESTIONS))
        with lock:
            results.append(r)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n_chats) as pool:
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    elapsed = time.perf_counter() - start
    lat = [r[0] for r in results]
    errors = sum(1 for r in results if r[1] not in (200, 201))
    degraded = sum(1 for r in results if r[3])
    print(f"open loop {rate}/s for {seconds}s over {n_chats} chats: {len(results)} messages, "
          f"{len(results) / elapsed:.1f}/s achieved, errors {errors}, degraded {degraded}")
    print(f"  latency ms  p50 {pct(lat, .5):.1f}  p95 {pct(lat, .95):.1f}  p99 {pct(lat, .99):.1f}")
    print(f"  stage medians ms  {stages(r[2] for r in results)}")


def ceiling(concurrency, seconds, n_chats):
    chats = sessions(n_chats)
    results, lock = [], threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(w):
        i = w
        while time.perf_counter() < deadline:
            r = send(chats[i % len(chats)], random.choice(QUESTIONS))
            with lock:
                results.append(r)
            i += concurrency

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = [r[0] for r in results]
    errors = sum(1 for r in results if r[1] not in (200, 201))
    degraded = sum(1 for r in results if r[3])
    print(f"ceiling with {concurrency} concurrent chats: {len(results) / elapsed:.1f} messages/s, "
          f"p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, errors {errors}, "
          f"degraded {degraded}")
    print(f"  stage medians ms  {stages(r[2] for r in results)}")


if __name__ == "__main__":
    mode, a, b, c = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    random.seed(7)
    if mode == "open":
        open_loop(a, b, c)
    else:
        ceiling(int(a), b, c)
