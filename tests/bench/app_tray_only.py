#!/usr/bin/env python3
"""The app's memory in the tray without WebKit (issue 19, goal 6): `tidings-app --tray-only`
beside `tidings-app --hidden`, on the same synced cache, signed in against a real server with
the bench's demo data. Run by run_tray_only.sh inside Xvfb and dbus-run-session:

    app_tray_only.py APP SERVER --out FILE.json [--smoke]

1. The first run (`--tray-only`) signs in as alice by itself (TIDINGS_SERVER /
   TIDINGS_DEMO_USER / TIDINGS_DEMO_PASSWORD) and syncs the cache; waits until its tray line
   (the StatusNotifierItem's Title) ends in "live".
2. Its memory, settled (VmRSS and PSS of the whole process tree, tests/bench/app_memory.py);
   no WebKit process and no GTK library mapped.
3. It works: bob's message to alice pops up (one Notify at the fake notification service),
   and the tray's line counts the unread; Do not disturb from the tray menu checks its mark;
   Quit from the tray menu ends the process with status 0.
4. The same for a start with `--hidden` (today's tray, over GTK, with WebKit mapped), for the
   comparison in the same run.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "desktop"))
from fake_desktop import Desktop, Failure, wait_for  # noqa: E402
from app_memory import breakdown, check_memory, is_webkit, memory, settled_memory, total, tree  # noqa: E402
from app_server import PASSWORD, Server, seed  # noqa: E402

T = float(os.environ.get("BENCH_TIMEOUT_S", "30"))


def mapped(pid, pattern):
    """The libraries matching `pattern` that process `pid` has mapped."""
    found = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            path = line.split()[-1]
            if re.search(pattern, path):
                found.add(os.path.basename(path))
    return sorted(found)


class Run:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="tidings-tray-only-")
        self.desktop = Desktop(T)
        self.server = Server(args.server, self.work)
        home = os.path.join(self.work, "home")
        os.makedirs(home)
        self.env = dict(os.environ, TIDINGS_APP_DIR=os.path.join(self.work, "app"), TIDINGS_CREDENTIALS="file",
                        TIDINGS_DEMO_USER="alice", TIDINGS_DEMO_PASSWORD=PASSWORD, HOME=home,
                        XDG_CONFIG_HOME=os.path.join(home, ".config"), XDG_DATA_HOME=os.path.join(home, ".local/share"),
                        XDG_CACHE_HOME=os.path.join(home, ".cache"),
                        TIDINGS_LOG="warn,tidings_app::telemetry=info,tidings_app::tray_only=info")
        self.env.pop("TIDINGS_UPDATE_URL", None)
        self.procs = []

    def title(self):
        props = self.desktop.tray()[1]
        return props.get("XAyatanaLabel") or props.get("Title", "")

    def start(self, *args):
        items = len(self.desktop.watcher.items)
        log = open(os.path.join(self.work, "app.log"), "a")
        log.write(f"---- start {' '.join(args)}\n")
        log.flush()
        p = subprocess.Popen([self.args.app, *args], stdout=subprocess.DEVNULL, stderr=log, env=self.env)
        self.procs.append(p)
        wait_for(lambda: len(self.desktop.watcher.items) > items or p.poll() is not None, "the app's tray item", T)
        if p.poll() is not None:
            raise Failure(f"the app ({' '.join(args)}) exited with {p.returncode} at start (see {self.work}/app.log)")
        return p

    def quit(self, p):
        self.desktop.click_menu("Quit Tidings")
        try:
            p.wait(T)
        except subprocess.TimeoutExpired:
            raise Failure("the app did not exit within 30 s of Quit in its tray menu")
        if p.returncode != 0:
            raise Failure(f"the app exited with {p.returncode} after Quit")

    def measure(self, p, what):
        wait_for(lambda: self.title().endswith("live"), f"the app ({what}) to be live", 120, interval=0.25)
        snap, settled = settled_memory(p.pid, what)
        check_memory(snap, what)
        return {"rss_mb": round(total(snap, "rss"), 1), "pss_mb": round(total(snap, "pss"), 1),
                "processes": breakdown(snap), "settled": settled,
                "webkit_processes": sum(1 for s in snap if is_webkit(s)),
                "gtk_webkit_libraries_mapped": mapped(p.pid, r"lib(gtk-3|webkit2gtk|javascriptcoregtk)"),
                "threads": len(os.listdir(f"/proc/{p.pid}/task")), "pids": len(tree(p.pid))}

    def log_lines(self):
        with open(os.path.join(self.work, "app.log"), errors="replace") as f:
            # tracing colours its field names: the ANSI codes out, as app_bench.py does.
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read()).splitlines()

    def paints(self):
        return [l for l in self.log_lines() if "first paint" in l]

    def window_round_trip(self, p):
        """Show from the tray starts the window's process, which paints from the cache; Hide
        ends it and the tray process is small again; Show again, then Quit ends both."""
        r = {}
        webkit = lambda: [x for x in memory(p.pid) if is_webkit(x)]
        for round_ in (1, 2):
            painted = len(self.paints())
            t0 = time.monotonic()
            self.desktop.click_menu("Show/Hide")
            wait_for(lambda: len(self.paints()) > painted, "the window's first paint", T, interval=0.02)
            r[f"show_to_first_paint_ms_{round_}"] = round((time.monotonic() - t0) * 1000)
            m = re.search(r"first paint ms=([0-9.]+)", self.paints()[-1])
            r[f"window_process_own_first_paint_ms_{round_}"] = round(float(m.group(1))) if m else None
            wait_for(lambda: self.title().endswith("live"), "the window's engine to be live", 60, interval=0.25)
            if round_ == 1:
                snap, _ = settled_memory(p.pid, "with the window open")
                r["open_rss_mb"], r["open_pss_mb"] = round(total(snap, "rss"), 1), round(total(snap, "pss"), 1)
                r["open_processes"] = breakdown(snap)
                # The tray follows the window's engine: bob's message counts.
                before = self.title()
                bob = self.users["bob"]
                cid = bob.group("While the window is open", ["alice"])
                bob.send(cid, f"window-open-{os.getpid()}", "while the window is open")
                wait_for(lambda: self.title() != before, f"the tray line to change with the window open (was {before!r})", T)
                r["line_with_window_open"] = self.title()
                self.desktop.click_menu("Show/Hide")
                wait_for(lambda: len(tree(p.pid)) == 1, "the window's process to end on Hide", T)
                wait_for(lambda: self.title().endswith("live"), "the tray process's engine to be live again", 60, interval=0.25)
                snap, settled = settled_memory(p.pid, "hidden after the window was open")
                r["after_window_rss_mb"], r["after_window_pss_mb"] = round(total(snap, "rss"), 1), round(total(snap, "pss"), 1)
                r["after_window_processes"] = breakdown(snap)
                r["after_window_gtk_webkit_mapped"] = mapped(p.pid, r"lib(gtk-3|webkit2gtk|javascriptcoregtk)")
                if webkit():
                    raise Failure(f"WebKit processes left after Hide: {webkit()}")
        return r

    def run(self):
        self.server.start()
        convs, per = (5, 40) if self.args.smoke else (20, 300)
        self.users, self.conversations, self.messages = seed(self.server, convs, per)
        self.env["TIDINGS_SERVER"] = self.server.base
        out = {}

        p = self.start("--tray-only")
        out["tray_only"] = self.measure(p, "started with --tray-only")
        if out["tray_only"]["webkit_processes"] or out["tray_only"]["gtk_webkit_libraries_mapped"]:
            print(f"note: --tray-only has GTK/WebKit: {out['tray_only']}", flush=True)
        # It notifies: bob writes to alice in a fresh group (its first news).
        alice, bob = self.users["alice"], self.users["bob"]
        cid = bob.group("Tray-only ping", ["alice"])
        wait_for(lambda: "unread" in self.title(), "the tray line to count the unread", T)
        before = self.title()
        text = f"tray-only ping {os.getpid()}"
        bob.send(cid, f"tray-only-{os.getpid()}", text)
        self.desktop.notes.wait_text(text, T)
        wait_for(lambda: self.title() != before, f"the tray line to count one more unread (was {before!r})", T)
        out["tray_only"]["line_after_ping"] = self.title()
        # Do not disturb from the menu: the tray's picture follows, there and back.
        picture = lambda: self.desktop.tray()[1].get("IconPixmap")
        normal = picture()
        self.desktop.click_menu("Do not disturb")
        wait_for(lambda: picture() != normal, "the tray's picture to show Do not disturb", T)
        self.desktop.click_menu("Do not disturb")
        wait_for(lambda: picture() == normal, "the tray's picture to come back from Do not disturb", T)
        if self.args.handover:
            out["window"] = self.window_round_trip(p)
        self.quit(p)
        out["tray_only"]["quit"] = "exit 0 from the tray menu" + (" (window open: both ended)" if self.args.handover else "")

        p = self.start("--hidden")
        out["hidden"] = self.measure(p, "started with --hidden")
        self.quit(p)
        return out

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.server.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("app")
    p.add_argument("server")
    p.add_argument("--out", required=True)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--handover", action="store_true", help="also Show the window from the tray-only process and hide it")
    args = p.parse_args()
    r = Run(args)
    try:
        load = os.getloadavg()[0]
        out = r.run()
        out["conditions"] = {"build": "release" if "/release/" in os.path.abspath(args.app) else "debug",
                             "cache": f"{r.conversations} conversations, {r.messages} messages",
                             "cpus": os.cpu_count(), "kernel": platform.release(),
                             "load_average_before_after": f"{load:.2f} / {os.getloadavg()[0]:.2f}",
                             "display": "Xvfb 1280x800x24, private D-Bus session, fake tray and notification services"}
    except Failure as e:
        print(f"tray-only bench failed: {e}; logs in {r.work}", file=sys.stderr)
        return 1
    finally:
        r.cleanup()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    for k in ("tray_only", "hidden"):
        m = out[k]
        print(f"{k:<10} RSS {m['rss_mb']:6.1f} MB  PSS {m['pss_mb']:6.1f} MB  (goal RSS <= 60: "
              f"{'met' if m['rss_mb'] <= 60 else 'MISSED'})  {m['processes']}; threads {m['threads']}; "
              f"GTK/WebKit mapped: {', '.join(m['gtk_webkit_libraries_mapped']) or 'none'}")
    if "window" in out:
        print("window:", json.dumps(out["window"], ensure_ascii=False))
    print(json.dumps(out["conditions"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
