"""RSS sampler for bench/soak: every INTERVAL seconds, one CSV row with the resident memory
(VmRSS, summed over the process and its descendants) and the CPU use of devhost, the
embedding sidecar and Chroma, found among the descendants of the run-local.sh process, plus
devhost's anonymous memory (RssAnon), the size of the state folder (SQLite, Chroma, logs)
and of Chroma's log in it.

  python3 sample.py ROOT_PID STATE_DIR OUT.csv [INTERVAL]

Runs until killed (SIGTERM) or until ROOT_PID is gone. Standard library only.
"""
import os, signal, sys, time

ROOT, STATE, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
INTERVAL = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
TICK = os.sysconf("SC_CLK_TCK")
NAMES = ("devhost", "embedder", "chroma")


def children(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def which(pid):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
        args = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if comm == "devhost":
        return "devhost"
    if comm == "embedder":
        return "embedder"
    if "chroma" in args and " run " in args + " ":
        return "chroma"
    return None


def rss_kb(pid, field="VmRSS:"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError):
        return 0


def tree_size(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def roots():
    found = {}
    for p in descendants(ROOT):
        name = which(p)
        if name and name not in found:  # the topmost one; its own children are summed in
            found[name] = p
    return found


stop = False
signal.signal(signal.SIGTERM, lambda *_: globals().__setitem__("stop", True))
new = not os.path.exists(OUT)
out = open(OUT, "a", buffering=1)
if new:
    out.write("unix_s," + ",".join(f"{n}_rss_kb,{n}_cpu_pct" for n in NAMES) + ",devhost_anon_kb,state_bytes,chroma_log_bytes,pids\n")
last = {}
while not stop and os.path.exists(f"/proc/{ROOT}"):
    now = time.time()
    found = roots()
    row = [f"{now:.1f}"]
    for name in NAMES:
        pids = descendants(found[name]) if name in found else []
        ticks = sum(cpu_ticks(p) for p in pids)
        prev = last.get(name)
        pct = 100.0 * (ticks - prev[1]) / TICK / (now - prev[0]) if prev and now > prev[0] else 0.0
        last[name] = (now, ticks)
        row += [str(sum(rss_kb(p) for p in pids)), f"{pct:.0f}"]
    row.append(str(rss_kb(found["devhost"], "RssAnon:") if "devhost" in found else 0))
    try:
        log_size = os.path.getsize(os.path.join(STATE, "chroma.log"))
    except OSError:
        log_size = 0
    row += [str(tree_size(STATE)), str(log_size), " ".join(f"{k}={v}" for k, v in sorted(found.items()))]
    out.write(",".join(row) + "\n")
    deadline = now + INTERVAL
    while not stop and time.time() < deadline:
        time.sleep(0.2)
