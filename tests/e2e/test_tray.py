#!/usr/bin/env python3
"""The tray process without WebKit and its hand-overs with the window (issue 19 goal 6;
docs/desktop-app.md, "The tray without WebKit"), end to end with the real binaries (run by
run.sh inside Xvfb and dbus-run-session; no WebDriver: WebDriver drives one process, and this
is about several).

    test_tray.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server; alice uses the app (signed in by the demo variables), bob writes over
REST. The fake tray host and notification service on the private bus are how the checks see
and click the tray (its line, its menu) and the pop-ups, as a panel would. The app's
processes are told apart by their binary (/proc/PID/exe): `tidings-tray`, and `tidings-app`
(the window's process). One line per check, then "N passed, M failed".
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (T, Ctx, Failure, Person, app_env, run_suite, start_server, stop_server,  # noqa: E402
                     wait_for)
from harness import end_processes  # noqa: E402

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
TRAY = os.path.join(os.path.dirname(os.path.abspath(APP)), "tidings-tray")
PASSWORD = "correct horse battery"
WEBKIT = re.compile(r"lib(webkit2gtk|javascriptcoregtk)")
# A cold start of a debug build's window on a loaded 2-core machine, with WebKit.
SLOW = max(T, 60)


def pids_of(binary):
    """The live processes running `binary`."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if exe.removesuffix(" (deleted)") == os.path.abspath(binary) and state != "Z":
            found.append(int(d))
    return found


def one(binary, what):
    """The one process running `binary` (waits for it; fails if there are several)."""
    pids = wait_for(lambda: pids_of(binary) or None, what, SLOW)
    if len(pids) != 1:
        raise Failure(f"{len(pids)} processes of {os.path.basename(binary)}, one expected: {pids}")
    return pids[0]


def webkit_mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return sorted({os.path.basename(line.split()[-1]) for line in f if WEBKIT.search(line)})


class Processes:
    """The app's processes of a check, with their output in WORK/app.log; `shot` takes the
    whole screen (the window, if one is up)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.log_path = os.path.join(ctx.work, "app.log")
        self.started = []

    def start(self, binary, *args):
        log = open(self.log_path, "a")
        log.write(f"---- start {os.path.basename(binary)} {' '.join(args)}\n")
        log.flush()
        p = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.ctx.env)
        self.started.append(p)
        return p

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read())

    def paints(self):
        return len(re.findall(r"first paint", self.log()))

    def shot(self, name):
        path = os.path.join(SHOTS, f"tray-{name}.png")
        subprocess.run(["import", "-window", "root", path], capture_output=True, timeout=30)

    def quit(self):
        for binary in (TRAY, APP):
            end_processes(binary)
        for p in self.started:
            if p.poll() is None:
                p.kill()
            p.wait(10)


def seed(ctx):
    start_server(ctx)
    ctx.alice = Person(ctx.base, "alice", "Alice", PASSWORD)
    ctx.bob = Person(ctx.base, "bob", "Bob", PASSWORD)
    ctx.direct = ctx.bob.call("POST", "/api/conversations", {"kind": "direct", "participants": ["alice"]})["id"]
    ctx.env = app_env(ctx, ctx.base, TIDINGS_DEMO_USER="alice", TIDINGS_DEMO_PASSWORD=PASSWORD)
    ctx.env.pop("TIDINGS_KEEP_WINDOW", None)
    ctx.sent = 0


def launch(ctx):
    ctx.app = Processes(ctx)


def line(ctx):
    """The newest tray item's line ("Tidings — N unread — live"): its label, else its title
    (the tray process's StatusNotifierItem has no label)."""
    props = ctx.desktop.tray()[1]
    return props.get("XAyatanaLabel") or props.get("Title", "")


def live(ctx, what):
    wait_for(lambda: ctx.desktop.watcher.items and line(ctx).endswith("live") or None, what, SLOW, interval=0.25)


def pops_up(ctx, who):
    """bob writes to alice: the pop-up comes (from whichever process runs her account)."""
    ctx.sent += 1
    text = f"ping {ctx.sent} to {who} {os.getpid()}"
    ctx.bob.send(ctx.direct, text)
    ctx.desktop.notes.wait_text(text, SLOW)


def webkit_processes(ctx):
    """WebKit's web and network processes of this script's app (they inherit its folder)."""
    mine = f"TIDINGS_APP_DIR={ctx.env['TIDINGS_APP_DIR']}".encode()
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.path.basename(os.readlink(f"/proc/{d}/exe")).startswith("WebKit"):
                with open(f"/proc/{d}/environ", "rb") as f:
                    if mine in f.read().split(b"\0"):
                        found.append(int(d))
        except OSError:
            continue
    return found


def tray_alone(ctx):
    """The tray process, live, with no window's process, no WebKit process left and no WebKit
    mapped."""
    tray = one(TRAY, "the tray process")
    live(ctx, "the tray process to be live")
    mapped = webkit_mapped(tray)
    if mapped:
        raise Failure(f"the tray process maps WebKit: {mapped}")
    wait_for(lambda: not pids_of(APP) or None, "no window's process beside the tray process", SLOW)
    wait_for(lambda: not webkit_processes(ctx) or None, "no WebKit process left beside the tray process", SLOW)
    return tray


def check_the_tray_process_runs_without_webkit(ctx):
    items = len(ctx.desktop.watcher.items)
    p = ctx.app.start(TRAY)
    wait_for(lambda: len(ctx.desktop.watcher.items) > items or p.poll() is not None, "the tray item", SLOW)
    if p.poll() is not None:
        raise Failure(f"tidings-tray exited with {p.returncode} at start:\n{ctx.app.log()[-2000:]}")
    tray = tray_alone(ctx)
    # Not even linked: the binary names no WebKit library at all.
    needed = subprocess.run(["ldd", TRAY], capture_output=True, text=True).stdout
    if WEBKIT.search(needed):
        raise Failure(f"tidings-tray links WebKit:\n{needed}")
    if tray != p.pid:
        raise Failure(f"the tray process is {tray}, not the one started ({p.pid})")


def check_it_notifies_and_counts(ctx):
    before = line(ctx)
    pops_up(ctx, "the tray process")
    wait_for(lambda: line(ctx) != before or None, f"the tray line to count the message (was {before!r})", T)
    if "1 unread" not in line(ctx):
        raise Failure(f"the tray line says {line(ctx)!r}, not 1 unread")


def check_show_starts_the_window_and_hide_ends_it(ctx):
    tray = one(TRAY, "the tray process")
    painted = ctx.app.paints()
    ctx.desktop.click_menu("Show/Hide")
    window = one(APP, "the window's process")
    if f"PPid:\t{tray}\n" not in open(f"/proc/{window}/status").read():
        raise Failure("the window's process is not the tray process's child")
    wait_for(lambda: ctx.app.paints() > painted or None, "the window's first paint", SLOW)
    live(ctx, "the window's engine to be live (the tray line follows it)")
    ctx.app.shot("window-open")
    # The window's engine runs the account now: it notifies (the window is not focused).
    pops_up(ctx, "the window's process")
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: not pids_of(APP) or None, "the window's process to end on Hide", SLOW)
    if one(TRAY, "the tray process") != tray:
        raise Failure("the tray process changed on Hide")
    tray_alone(ctx)
    pops_up(ctx, "the tray process again")


def check_a_click_on_a_pop_up_opens_its_conversation_in_a_window(ctx):
    """From the tray process: the window's process starts and opens the conversation, which
    marks it read (alice's read marker on the server reaches bob's message)."""
    tray = tray_alone(ctx)
    ctx.sent += 1
    text = f"click me {ctx.sent} {os.getpid()}"
    seq = ctx.bob.send(ctx.direct, text)["seq"]
    note = ctx.desktop.notes.wait_text(text, SLOW)
    ctx.desktop.click_notification(note["id"])
    window = one(APP, "the window's process, started by the click")
    if f"PPid:\t{tray}\n" not in open(f"/proc/{window}/status").read():
        raise Failure("the clicked pop-up's window is not the tray process's child")
    wait_for(lambda: ctx.alice.read_seq(ctx.direct) >= seq or None,
             f"the clicked conversation to be open and read (read marker {ctx.alice.read_seq(ctx.direct)}, "
             f"message {seq})", SLOW)
    ctx.app.shot("opened-from-a-pop-up")
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: not pids_of(APP) or None, "the window's process to end on Hide", SLOW)
    tray_alone(ctx)


def check_do_not_disturb_from_the_tray(ctx):
    """The tray process's menu switches Do not disturb: its picture and check mark follow, and
    no pop-up comes while it is on."""
    picture = lambda: ctx.desktop.tray()[1].get("IconPixmap")  # noqa: E731
    normal = picture()
    ctx.desktop.click_menu("Do not disturb")
    wait_for(lambda: picture() != normal or None, "the tray's picture to show Do not disturb", T)
    ctx.sent += 1
    quiet = f"while quiet {ctx.sent} {os.getpid()}"
    ctx.bob.send(ctx.direct, quiet)
    wait_for(lambda: any(m["content"] == quiet for m in ctx.alice.history(ctx.direct)) or None, "bob's message", T)
    quiet_picture = picture()
    ctx.desktop.click_menu("Do not disturb")
    # Back to the unread picture (bob's quiet message is unread), not Do not disturb's.
    wait_for(lambda: picture() != quiet_picture or None, "the tray's picture to leave Do not disturb", T)
    # A pop-up after it shows the quiet one never came.
    pops_up(ctx, "the tray process after Do not disturb")
    if ctx.desktop.notes.with_text(quiet):
        raise Failure(f"{quiet!r} popped up during Do not disturb")


def check_launching_the_app_shows_the_window_of_the_running_tray(ctx):
    tray = one(TRAY, "the tray process")
    second = ctx.app.start(APP)
    if second.wait(SLOW) != 0:
        raise Failure(f"a second launch exited with {second.returncode}")
    window = one(APP, "the window's process, started by the tray process")
    if f"PPid:\t{tray}\n" not in open(f"/proc/{window}/status").read():
        raise Failure("the window was not started by the running tray process")
    # A start in the tray (the login's) while one runs changes nothing.
    again = ctx.app.start(TRAY)
    if again.wait(SLOW) != 0:
        raise Failure(f"a second tidings-tray exited with {again.returncode}")
    if pids_of(TRAY) != [tray] or pids_of(APP) != [window]:
        raise Failure(f"a second tidings-tray changed the processes: {pids_of(TRAY)} {pids_of(APP)}")


def check_quit_from_the_tray_ends_both(ctx):
    tray = one(TRAY, "the tray process")
    p = next(p for p in ctx.app.started if p.pid == tray)
    ctx.desktop.click_menu("Quit Tidings")
    if p.wait(SLOW) != 0:
        raise Failure(f"the tray process exited with {p.returncode} after Quit")
    wait_for(lambda: not pids_of(APP) or None, "the window's process to end with Quit", SLOW)


def check_the_window_hands_over_to_the_tray_when_hidden(ctx):
    painted = ctx.app.paints()
    items = len(ctx.desktop.watcher.items)
    app = ctx.app.start(APP)
    wait_for(lambda: ctx.app.paints() > painted or None, "the app's first paint", SLOW)
    wait_for(lambda: len(ctx.desktop.watcher.items) > items or None, "the app's own tray item", SLOW)
    live(ctx, "the app to be live")
    if pids_of(TRAY):
        raise Failure("a tray process runs beside the windowed app")
    ctx.desktop.click_menu("Show/Hide")
    if app.wait(SLOW) != 0:
        raise Failure(f"the app exited with {app.returncode} on handing over")
    tray = tray_alone(ctx)
    if "handed over to the tray process" not in ctx.app.log():
        raise Failure("the app's log does not say it handed over")
    pops_up(ctx, "the tray process after the window")
    ctx.tray_after_window = tray


def check_a_hidden_start_is_the_tray_process(ctx):
    tray = one(TRAY, "the tray process")
    # While one runs: the login's start does nothing.
    again = ctx.app.start(APP, "--hidden")
    if again.wait(SLOW) != 0:
        raise Failure(f"`tidings-app --hidden` beside the tray exited with {again.returncode}")
    if pids_of(TRAY) != [tray] or pids_of(APP):
        raise Failure(f"`tidings-app --hidden` beside the tray changed the processes: {pids_of(TRAY)} {pids_of(APP)}")
    ctx.desktop.click_menu("Quit Tidings")
    wait_for(lambda: not pids_of(TRAY) or None, "the tray process to end with Quit", SLOW)
    # Alone: it becomes the tray process itself (the same process, its binary replaced).
    hidden = ctx.app.start(APP, "--hidden")
    tray = one(TRAY, "the tray process started with --hidden")
    if tray != hidden.pid:
        raise Failure(f"`tidings-app --hidden` ({hidden.pid}) is not the tray process ({tray})")
    tray_alone(ctx)
    pops_up(ctx, "the tray process started hidden")


def check_a_window_process_keeps_messages_sent_while_handing_over(ctx):
    """Bob writes while the account changes hands: nothing is lost, left untold or shown twice."""
    ctx.desktop.click_menu("Show/Hide")
    one(APP, "the window's process")
    texts = []
    for i in range(5):
        ctx.sent += 1
        texts.append(f"during the hand-over {i} {os.getpid()}")
        ctx.bob.send(ctx.direct, texts[-1])
        if i == 2:
            ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: not pids_of(APP) or None, "the window's process to end on Hide", SLOW)
    tray_alone(ctx)
    history = [m["content"] for m in ctx.alice.history(ctx.direct)]
    missing = [t for t in texts if t not in history]
    if missing:
        raise Failure(f"the server lost {missing}")
    # The last one pops up, from one process or the other, unless the window had it in
    # view (then it is read): the process that takes over starts judging where the last
    # one stopped, so news stored or held back (the pop-up throttle) meanwhile is not lost.
    last = next(m for m in ctx.alice.history(ctx.direct) if m["content"] == texts[-1])
    wait_for(
        lambda: ctx.desktop.notes.with_text(texts[-1]) or ctx.alice.read_seq(ctx.direct) >= last["seq"] or None,
        "the last message sent during the hand-over to pop up (or to be read in the window)",
        SLOW,
    )
    # Each pops up once, from one process or the other (or is summed up in a burst's
    # summary): never twice.
    for t in texts:
        shown = ctx.desktop.notes.with_text(t)
        if len(shown) > 1:
            raise Failure(f"{t!r} popped up {len(shown)} times")


def check_news_held_back_at_a_hand_over_pops_up_once(ctx):
    """A message the tray process holds back (one pop-up per 1.5 s at most) when the window's
    process takes the account over pops up from there, once. Before, the window's process
    started from what the cache held, and the message never popped up."""
    tray_alone(ctx)
    group = ctx.bob.call("POST", "/api/conversations",
                         {"kind": "group", "title": "Held back", "participants": ["alice"]})["id"]
    first, second = (f"{n} of two, held back {os.getpid()}" for n in ("first", "second"))
    ctx.bob.send(group, first)
    ctx.desktop.notes.wait_text(first, SLOW)
    before = line(ctx)
    ctx.bob.send(group, second)
    # The tray line is drawn again once the notifier has looked at the second (held back
    # unless the throttle has passed already): then the window's process takes over.
    wait_for(lambda: line(ctx) != before or None, f"the tray line to count the second (was {before!r})", T)
    ctx.desktop.click_menu("Show/Hide")
    one(APP, "the window's process")
    ctx.desktop.notes.wait_text(second, SLOW)
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: not pids_of(APP) or None, "the window's process to end on Hide", SLOW)
    tray_alone(ctx)
    for t in (first, second):
        shown = ctx.desktop.notes.with_text(t)
        if len(shown) != 1:
            raise Failure(f"{t!r} popped up {len(shown)} times, once expected")


CHECKS = [
    ("the tray process runs without WebKit (not mapped, not linked)", check_the_tray_process_runs_without_webkit),
    ("it notifies and counts the unread in its line", check_it_notifies_and_counts),
    ("Show starts the window's process, Hide ends it, the tray goes on", check_show_starts_the_window_and_hide_ends_it),
    ("a click on a pop-up opens its conversation in a window", check_a_click_on_a_pop_up_opens_its_conversation_in_a_window),
    ("Do not disturb from the tray process's menu", check_do_not_disturb_from_the_tray),
    ("launching the app shows the running tray's window", check_launching_the_app_shows_the_window_of_the_running_tray),
    ("Quit from the tray ends the tray and the window", check_quit_from_the_tray_ends_both),
    ("the windowed app hands over to the tray process when hidden", check_the_window_hands_over_to_the_tray_when_hidden),
    ("a hidden start is the tray process, and one at a time", check_a_hidden_start_is_the_tray_process),
    ("messages during a hand-over are kept, popped up, and at most once", check_a_window_process_keeps_messages_sent_while_handing_over),
    ("news held back when the window's process takes over pops up there, once", check_news_held_back_at_a_hand_over_pops_up_once),
]


if __name__ == "__main__":
    sys.exit(run_suite("tray", Ctx("tidings-e2e-tray-"), CHECKS, seed, launch=launch, stop=stop_server))
