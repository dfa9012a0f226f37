#!/usr/bin/env python3
"""The desktop app's benchmarks (issue 7, scenarios 6 and 7). Run by run_app.sh inside Xvfb
and dbus-run-session:

    app_bench.py APP SERVER --out FILE.json [--smoke]

A real tidings-server (--demo, 127.0.0.1, port 0) seeded with more realistic data over REST;
the real app started as a user starts it (no WebDriver), signed in by itself as alice
(TIDINGS_SERVER / TIDINGS_DEMO_USER / TIDINGS_DEMO_PASSWORD, as tools/run-demo.sh does),
driven through its tray menu over dbusmenu; fake org.freedesktop.Notifications and
org.kde.StatusNotifierWatcher services on the private session bus (tests/desktop/fake_desktop.py).

1. Prepare the cache: one signed-in run that syncs everything, then Quit from the tray.
2. First paint: N cold starts of the process (the OS file cache stays warm), each timed by the
   app's own clock (its `first paint` log line: ms since the top of `run()` until the UI had
   painted the conversation list of the saved session from the cache) and from outside (spawn
   to that log line); one more start with the server stopped.
3. Memory: VmRSS and PSS (smaps_rollup) summed over the app's whole process tree (the app and
   the WebKitNetworkProcess / WebKitWebProcess it spawns), settled, with the window open; after
   Show/Hide from the tray (the app hands over to the tray process, `tidings-tray`, and ends:
   docs/desktop-app.md, "The tray without WebKit"), that process's; after the notification
   run; and for a start with --hidden (the tray process in the app's place).
4. Notification latency, hidden in the tray: bob sends one message into each of many fresh
   group conversations alice made (each the first news of its conversation, so the notifier's
   per-conversation throttle never applies), one at a time and at least the app's pop-up
   throttle (1.5 s, across conversations) after the previous pop-up; from just before the
   REST send to the Notify call arriving at the fake service.

Every wait polls a condition and has a deadline. Each scenario is checked (a paint reported,
RSS > 0 for every process, exactly one Notify per message); a failure exits non-zero with a
sentence. Writes the figures as JSON (--out) and prints a summary.
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "desktop"))
from fake_desktop import Desktop, Failure, wait_for  # noqa: E402
from app_memory import (MB, breakdown, check_memory, is_webkit, memory, proc_name, settled_memory, threads,
                        total, tree)
from app_server import PASSWORD, Server, seed

T = float(os.environ.get("BENCH_TIMEOUT_S", "30"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The app's shortest time between two pop-ups, across conversations (src-tauri/src/summary.rs).
THROTTLE = 1.5
PAINT = re.compile(r"first paint ms=([0-9.]+) conversations=(\d+) messages=(\d+)")


# ---------------------------------------------------------------- the app


class App:
    """One run of the app binary, its stderr read line by line with the time each arrived."""

    def __init__(self, binary, env, work, args=()):
        self.log = open(os.path.join(work, "app.log"), "a")
        self.log.write(f"---- start {' '.join(args)}\n")
        self.paint = None
        # Every first paint seen on this output, with when it came: the window's processes the
        # tray process starts write here too (they inherit its output, which is this one's).
        self.all_paints = []
        self.cond = threading.Condition()
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.seen = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stderr:
            t = time.monotonic()
            line = ANSI.sub("", raw.decode(errors="replace"))
            self.log.write(line)
            m = PAINT.search(line)
            if m:
                with self.cond:
                    self.all_paints.append({"at": t, "own_ms": float(m.group(1))})
                    if self.paint is None:
                        self.paint = {"at": t, "own_ms": float(m.group(1)), "external_ms": (t - self.spawned) * 1000,
                                      "conversations": int(m.group(2)), "messages": int(m.group(3))}
                    self.cond.notify_all()
        self.log.flush()

    def wait_paint(self, timeout=T):
        with self.cond:
            if not self.cond.wait_for(lambda: self.paint is not None or self.proc.poll() is not None, timeout):
                raise Failure(f"the app reported no first paint within {timeout:.0f} s (see app.log)")
            if self.paint is None:
                raise Failure(f"the app exited with {self.proc.returncode} before it reported a first paint (see app.log)")
            return self.paint

    def remember(self):
        self.seen.update(tree(self.proc.pid))

    def quit(self, desktop):
        """Tray → Quit; waits until the app and every process it spawned are gone."""
        self.remember()
        desktop.click_menu("Quit Tidings")
        try:
            self.proc.wait(T)
        except subprocess.TimeoutExpired:
            raise Failure("the app did not exit within 30 s of Quit in its tray menu")
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in self.seen), "the app's WebKit processes to end", T)
        if self.proc.returncode != 0:
            raise Failure(f"the app exited with {self.proc.returncode} after Quit")

    def kill(self):
        """Cleanup after a failure: only the processes this run started, by pid."""
        if self.proc.poll() is None:
            self.remember()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for p in self.seen - {self.proc.pid}:
            if proc_name(p).startswith("WebKit"):  # still the one it spawned, not a reused pid
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


def pids_of(binary):
    """The live processes running `binary` (by /proc/PID/exe)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.readlink(f"/proc/{d}/exe").removesuffix(" (deleted)") == binary \
                    and proc_state(int(d)) != "Z":
                found.append(int(d))
        except OSError:
            continue
    return found


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class Bench:
    """The scenarios, in order, over one server and one app data folder."""

    def __init__(self, args):
        self.args = args
        self.tray_binary = os.path.join(os.path.dirname(os.path.abspath(args.app)), "tidings-tray")
        self.smoke = args.smoke
        self.work = tempfile.mkdtemp(prefix="tidings-app-bench-")
        self.desktop = Desktop(T)
        self.server = Server(args.server, self.work)
        self.apps = []
        home = os.path.join(self.work, "home")
        os.makedirs(home)
        self.env = dict(os.environ, TIDINGS_APP_DIR=os.path.join(self.work, "app"), TIDINGS_CREDENTIALS="file",
                        TIDINGS_DEMO_USER="alice", TIDINGS_DEMO_PASSWORD=PASSWORD, HOME=home,
                        XDG_CONFIG_HOME=os.path.join(home, ".config"), XDG_DATA_HOME=os.path.join(home, ".local/share"),
                        XDG_CACHE_HOME=os.path.join(home, ".cache"),
                        TIDINGS_LOG="warn,tidings_app::telemetry=info")
        self.env.pop("TIDINGS_UPDATE_URL", None)

    def start_app(self, *args):
        items = len(self.desktop.watcher.items)
        app = App(self.args.app, self.env, self.work, args)
        self.apps.append(app)
        # Its tray item is how it is driven: wait for it to register.
        wait_for(lambda: len(self.desktop.watcher.items) > items or app.proc.poll() is not None, "the app's tray item", T)
        if app.proc.poll() is not None:
            raise Failure(f"the app exited with {app.proc.returncode} at start (see app.log)")
        return app

    def cache_db(self):
        # The account's cache, not its full-text index beside it (`<name>.search.db`): a
        # glob gives both, in the directory's order.
        found = sorted(p for p in glob.glob(os.path.join(self.work, "app", "data", "cache", "*.db"))
                       if not p.endswith(".search.db"))
        if not found:
            return None
        return found[0]

    def cache_count(self, sql):
        path = self.cache_db()
        if not path:
            return -1
        db = sqlite3.connect(path, timeout=5)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()

    def live(self):
        return self.desktop.label().endswith("live")

    # ---- 1. the cache

    def prepare(self):
        convs, per = (5, 40) if self.smoke else (20, 300)
        t0 = time.monotonic()
        self.users, self.conversations, self.messages = seed(self.server, convs, per)
        self.seed_s = time.monotonic() - t0
        print(f"bench: seeded {convs} conversations × {per} messages in {self.seed_s:.1f} s; alice has "
              f"{self.conversations} conversations, {self.messages} messages", flush=True)
        self.env["TIDINGS_SERVER"] = self.server.base
        app = self.start_app()
        t0 = time.monotonic()
        wait_for(lambda: self.cache_count("SELECT count(*) FROM messages") >= self.messages
                 and self.cache_count("SELECT count(*) FROM conversations") >= self.conversations,
                 f"the app to sync {self.messages} messages into its cache", 120, interval=0.25)
        wait_for(self.live, "the app to be live after its first sync", T)
        self.sync_s = time.monotonic() - t0
        app.quit(self.desktop)
        db = self.cache_db()
        index = db[: -len(".db")] + ".search.db"
        self.cache_mb = sum(os.path.getsize(f) for f in (db, db + "-wal", index, index + "-wal")
                            if os.path.exists(f)) / MB
        print(f"bench: the first signed-in run synced the cache in {self.sync_s:.1f} s ({self.cache_mb:.1f} MB)",
              flush=True)

    # ---- 2. first paint

    def cold_start(self, what):
        app = self.start_app()
        paint = app.wait_paint()
        if paint["conversations"] < self.conversations:
            raise Failure(f"the first paint ({what}) showed {paint['conversations']} conversations, "
                          f"not the {self.conversations} in the cache")
        app.quit(self.desktop)
        print(f"bench: first paint ({what}): {paint['own_ms']:.0f} ms by the app's clock, "
              f"{paint['external_ms']:.0f} ms from spawn", flush=True)
        return paint

    def first_paints(self):
        n = 1 if self.smoke else 5
        self.paints = [self.cold_start(f"start {i + 1}/{n}") for i in range(n)]
        self.server.stop()
        self.offline_paint = self.cold_start("server stopped")
        self.server.start()  # the same port: the saved session points at it

    # ---- 3. memory and 4. notifications

    def open_and_hidden(self):
        app = self.start_app()
        app.wait_paint()
        wait_for(self.live, "the app to be live", T)
        self.mem_open, self.settled_open = settled_memory(app.proc.pid, "with the window open")
        check_memory(self.mem_open, "with the window open")
        if not any(is_webkit(p) for p in self.mem_open):
            raise Failure(f"no WebKit process in the app's tree with the window open: {self.mem_open}")
        app.remember()
        items = len(self.desktop.watcher.items)
        self.desktop.click_menu("Show/Hide")
        # The app hands over to the tray process and ends, its WebKit processes with it.
        try:
            app.proc.wait(T)
        except subprocess.TimeoutExpired:
            raise Failure("the app did not end within 30 s of hiding its window (the hand-over to the tray process)")
        if app.proc.returncode != 0:
            raise Failure(f"the app exited with {app.proc.returncode} handing over to the tray process")
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in app.seen), "the app's WebKit processes to end", T)
        tray = wait_for(lambda: pids_of(self.tray_binary) or None, "the tray process", T)[0]
        wait_for(lambda: len(self.desktop.watcher.items) > items, "the tray process's tray item", T)
        wait_for(self.live, "the tray process to be live", T)
        self.webview_released = True
        self.mem_hidden, self.settled_hidden = settled_memory(tray, "hidden in the tray")
        check_memory(self.mem_hidden, "hidden in the tray")
        threads_before = threads(tray)
        self.notifications(app)
        self.mem_after, _ = settled_memory(tray, "hidden, after the notifications")
        check_memory(self.mem_after, "hidden, after the notifications")
        self.threads = (threads_before, threads(tray))
        self.window_from_tray(app, tray)
        self.desktop.click_menu("Quit Tidings")
        wait_for(lambda: not os.path.exists(f"/proc/{tray}"), "the tray process to end with Quit", T)

    def window_from_tray(self, app, tray):
        """Show from the tray process's menu starts the window's process, which paints from the
        cache: the click to its first paint (from outside), N times, each ended by Hide."""
        n = 1 if self.smoke else 5
        self.tray_paints = []
        for i in range(n):
            with app.cond:
                seen = len(app.all_paints)
            t0 = time.monotonic()
            self.desktop.click_menu("Show/Hide")
            with app.cond:
                if not app.cond.wait_for(lambda: len(app.all_paints) > seen, T):
                    raise Failure("the window's process started from the tray reported no first paint within 30 s")
                p = app.all_paints[seen]
            self.tray_paints.append({"click_to_paint_ms": (p["at"] - t0) * 1000, "own_ms": p["own_ms"]})
            print(f"bench: the window from the tray ({i + 1}/{n}): first paint {(p['at'] - t0) * 1000:.0f} ms after the "
                  f"click, {p['own_ms']:.0f} ms by its own clock", flush=True)
            wait_for(lambda: len(tree(tray)) > 1, "the window's process", T)
            self.desktop.click_menu("Show/Hide")
            wait_for(lambda: len(tree(tray)) == 1, "the window's process to end on Hide", T)
            wait_for(self.live, "the tray process to be live again", T)

    def notifications(self, app):
        n = 5 if self.smoke else 100
        bob = self.users["bob"]
        # alice (the app's user) makes the groups: being added by someone else would bring
        # n + 1 "added to" notifications at once, a burst the app summarises, and the pings
        # right after it would go into that summary (src-tauri/src/summary.rs).
        cids = [self.users["alice"].group(f"Ping {i:03} (bench)", ["bob"]) for i in range(n + 1)]
        wait_for(lambda: self.cache_count("SELECT count(*) FROM conversations WHERE title LIKE 'Ping %'") >= n + 1,
                 f"the app to have the {n + 1} new conversations", T, interval=0.1)
        run = f"{os.getpid()}-{int(time.time())}"
        self.latencies, texts = [], []
        for i, cid in enumerate(cids[:n]):
            text = f"ping {i:03} {run}"
            texts.append(text)
            t0 = time.monotonic()
            bob.send(cid, f"ping-{run}-{i}", text)
            note = self.desktop.notes.wait_text(text, T)
            self.latencies.append((note["t"] - t0) * 1000)
            # Pop-ups go out at most once per THROTTLE in all: the next ping waits until one
            # may show at once, so what is measured is the way from send to pop-up and not
            # the throttle's hold.
            time.sleep(max(0.0, note["t"] + THROTTLE - time.monotonic()))
        # A barrier: the notifier handles changes in order, so a second Notify for any of the
        # messages above would have come before this one.
        barrier = f"barrier {run}"
        bob.send(cids[n], f"ping-{run}-barrier", barrier)
        self.desktop.notes.wait_text(barrier, T)
        counts = {t: len(self.desktop.notes.with_text(t)) for t in texts}
        wrong = {t: c for t, c in counts.items() if c != 1}
        if wrong:
            raise Failure(f"messages did not produce exactly one Notify each: {wrong}")
        print(f"bench: {n} notifications, one each", flush=True)

    def started_hidden(self):
        app = self.start_app("--hidden")
        wait_for(self.live, "the app started with --hidden to be live", T)
        self.mem_started_hidden, self.settled_started_hidden = settled_memory(app.proc.pid, "started with --hidden")
        check_memory(self.mem_started_hidden, "started with --hidden")
        if app.paint is not None:
            raise Failure("the app started with --hidden painted a window")
        app.quit(self.desktop)

    def run(self):
        self.load_before = os.getloadavg()
        self.server.start()
        self.prepare()
        self.first_paints()
        self.open_and_hidden()
        self.started_hidden()
        self.load_after = os.getloadavg()

    def cleanup(self):
        for app in self.apps:
            app.kill()
        # A tray process this run's app handed over to (its app folder is this run's).
        mine = f"TIDINGS_APP_DIR={self.env['TIDINGS_APP_DIR']}".encode()
        for pid in pids_of(self.tray_binary):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if mine in f.read().split(b"\0"):
                        os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        self.server.stop()


# ---------------------------------------------------------------- figures


def percentile(values, q):
    """Linear interpolation between closest ranks (q in 0..100)."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def fig(metric, value, unit, goal=None):
    f = {"metric": metric, "target": "tidings", "value": round(value, 1), "unit": unit}
    if goal is not None:
        f["goal"] = {"op": "<=", "value": float(goal)}
    return f


def webkit_version():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libwebkit2gtk-4.1-0"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def report(b, app_binary):
    own = [p["own_ms"] for p in b.paints]
    ext = [p["external_ms"] for p in b.paints]
    lat = b.latencies
    figures = [
        fig("first paint p50 (app's own clock)", percentile(own, 50), "ms", 1000),
        fig("first paint max (app's own clock)", max(own), "ms", 1000),
        fig("first paint p50 (spawn to log line)", percentile(ext, 50), "ms", 1000),
        fig("first paint max (spawn to log line)", max(ext), "ms", 1000),
        fig("first paint, server stopped (app's own clock)", b.offline_paint["own_ms"], "ms", 1000),
        fig("first paint, server stopped (spawn to log line)", b.offline_paint["external_ms"], "ms", 1000),
        fig("first paint p50, window opened from the tray (click to paint)",
            percentile([p["click_to_paint_ms"] for p in b.tray_paints], 50), "ms", 1000),
        fig("first paint max, window opened from the tray (click to paint)",
            max(p["click_to_paint_ms"] for p in b.tray_paints), "ms", 1000),
        fig("RSS window open (all processes)", total(b.mem_open, "rss"), "MB"),
        fig("PSS window open (all processes)", total(b.mem_open, "pss"), "MB"),
        fig("RSS hidden in tray (all processes)", total(b.mem_hidden, "rss"), "MB", 60),
        fig("PSS hidden in tray (all processes)", total(b.mem_hidden, "pss"), "MB"),
        fig(f"RSS hidden in tray after {len(lat)} notifications (all processes)", total(b.mem_after, "rss"), "MB", 60),
        fig("RSS started hidden (all processes)", total(b.mem_started_hidden, "rss"), "MB", 60),
        fig("PSS started hidden (all processes)", total(b.mem_started_hidden, "pss"), "MB"),
        fig("notification latency p50", percentile(lat, 50), "ms"),
        fig("notification latency p90", percentile(lat, 90), "ms"),
        fig("notification latency p99", percentile(lat, 99), "ms", 50),
        fig("notification latency max", max(lat), "ms"),
    ]
    build = "release" if "/release/" in os.path.abspath(app_binary) else "debug"
    conditions = {
        "build": build,
        "display": "Xvfb 1280x800x24",
        "starts": len(b.paints),
        "samples": len(lat),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "webkit2gtk": webkit_version(),
        "load_average_before_after": f"{b.load_before[0]:.2f} / {b.load_after[0]:.2f}",
        "cache": f"{b.conversations} conversations, {b.messages} messages, {b.cache_mb:.1f} MB",
        "first_paint": "the conversation list of the saved session painted from the cache (no conversation opens by "
                       "itself at start): UI tick() + requestAnimationFrame + a task, then report_first_paint; own clock "
                       "from the top of run(), external from spawn to the log line; process-cold, OS file cache warm",
        "memory": "VmRSS and PSS (smaps_rollup) summed over the app's process tree, sampled until the total moved < 2% "
                  "over 2 s; MB = 2^20 bytes; D-Bus-activated desktop services (at-spi) are not in the tree",
        "processes_open": breakdown(b.mem_open),
        "processes_hidden": breakdown(b.mem_hidden),
        "processes_started_hidden": breakdown(b.mem_started_hidden),
        "webview_released_when_hidden": "yes (WebKitWebProcess gone)" if b.webview_released else "no",
        "memory_settled_open_hidden_started_hidden": "/".join(
            "yes" if v else "no" for v in (b.settled_open, b.settled_hidden, b.settled_started_hidden)),
        "app_threads_hidden_before_after_notifications": f"{b.threads[0]} / {b.threads[1]} (none of the notifications "
                                                           "was closed: the fake service, like GNOME Shell, keeps them)",
        "notification": "bob sends over REST (kept-alive HTTP/1.1, TCP_NODELAY) into a fresh group conversation per sample, one at "
                        "a time, the app hidden in the tray; time from just before the send to the Notify call at the "
                        "fake org.freedesktop.Notifications (same monotonic clock)",
        "server": "tidings-server --demo on 127.0.0.1 (sends_per_minute lifted), same machine",
        "seed_seconds": round(b.seed_s, 1),
        "first_sync_seconds": round(b.sync_s, 1),
    }
    pts = lambda vs: [[float(i + 1), round(v, 1)] for i, v in enumerate(vs)]
    series = [
        {"chart": "notification-latency", "title": "Send to Notify on D-Bus", "x_label": "percentile",
         "y_label": "ms", "name": "tidings",
         "points": [[q, round(percentile(lat, q), 1)] for q in (50.0, 90.0, 99.0)] + [[100.0, round(max(lat), 1)]]},
        {"chart": "app-first-paint", "title": "Start to first painted conversation list", "x_label": "start",
         "y_label": "ms", "name": "tidings (app's own clock)", "points": pts(own)},
        {"chart": "app-first-paint", "title": "Start to first painted conversation list", "x_label": "start",
         "y_label": "ms", "name": "tidings (spawn to log line)", "points": pts(ext)},
    ]
    return {"scenario": "app", "conditions": conditions, "figures": figures, "series": series}


def summary(result):
    lines = [f"app bench ({result['conditions']['build']} build, {result['conditions']['starts']} starts, "
             f"{result['conditions']['samples']} notifications):"]
    for f in result["figures"]:
        goal = f.get("goal")
        mark = ""
        if goal:
            mark = "  (goal ≤ {:g}: {})".format(goal["value"], "met" if f["value"] <= goal["value"] else "MISSED")
        lines.append(f"  {f['metric']:<62} {f['value']:>8.1f} {f['unit']}{mark}")
    c = result["conditions"]
    lines.append(f"  window open:   {c['processes_open']}")
    lines.append(f"  hidden:        {c['processes_hidden']}")
    lines.append(f"  started hidden: {c['processes_started_hidden']}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("app")
    p.add_argument("server")
    p.add_argument("--out", required=True)
    p.add_argument("--smoke", action="store_true", help="a tiny run that only proves every scenario works")
    p.add_argument("--keep", action="store_true", help="keep the work folder (server data, app data, logs)")
    args = p.parse_args()
    for b in (args.app, args.server):
        if not os.access(b, os.X_OK):
            print(f"app bench: {b} is missing or not executable", file=sys.stderr)
            return 2
    started = time.monotonic()
    try:
        bench = Bench(args)
    except Failure as e:
        print(f"app bench failed: {e}", file=sys.stderr)
        return 1
    try:
        bench.run()
    except Failure as e:
        print(f"app bench failed: {e}; logs kept in {bench.work}", file=sys.stderr)
        return 1
    finally:
        bench.cleanup()
    result = report(bench, args.app)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(summary(result))
    print(f"app bench: done in {time.monotonic() - started:.0f} s; figures in {args.out}")
    if args.keep:
        print(f"app bench: the work folder is kept: {bench.work}")
    else:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
