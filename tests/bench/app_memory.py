"""The memory of a process tree, from /proc: VmRSS and PSS (smaps_rollup) per process, and
samples taken until the total settles."""

import os
import time

MB = 1024 * 1024  # /proc reports KiB; figures are in MB of 2^20 bytes


def children_of():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all its descendants alive now."""
    kids = children_of()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists(f"/proc/{p}"):
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0].decode(errors="replace"))
    except OSError:
        return "?"


def memory(pid):
    """[{pid, name, rss, pss}] (KiB) for the process tree of pid."""
    out = []
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue  # gone between the listing and the read, or a zombie
        out.append({"pid": p, "name": proc_name(p), "rss": rss, "pss": pss})
    return out


def settled_memory(pid, what, timeout=20.0, span=2.0, tolerance=0.02):
    """Samples the tree's memory every 0.25 s until the total RSS has moved less than
    `tolerance` over `span` seconds; returns (the last sample, settled?)."""
    history = []
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        snap = memory(pid)
        total = sum(p["rss"] for p in snap)
        history.append((now, total))
        window = [v for t, v in history if t >= now - span]
        if history[0][0] <= now - span and window and max(window) - min(window) <= tolerance * max(window):
            return snap, True
        if now >= deadline:
            print(f"bench: memory {what} did not settle within {timeout:.0f} s; the last sample is reported", flush=True)
            return snap, False
        time.sleep(0.25)


def total(snap, key):
    return sum(p[key] for p in snap) * 1024 / MB


def breakdown(snap):
    by = {}
    for p in snap:
        by.setdefault(p["name"], [0, 0])
        by[p["name"]][0] += p["rss"]
        by[p["name"]][1] += p["pss"]
    return ", ".join(f"{n} {r / 1024:.1f}/{s / 1024:.1f}" for n, (r, s) in by.items()) + " (RSS/PSS MB)"


def check_memory(snap, what):
    if not snap or any(p["rss"] <= 0 for p in snap):
        raise Failure(f"the memory sample {what} is empty or has a process with no RSS: {snap}")


def threads(pid):
    """The number of threads of one process."""
    return len(os.listdir(f"/proc/{pid}/task"))


def is_webkit(p):
    return p["name"].startswith("WebKit")
