"""What the app's end-to-end scripts share (test_app.py, test_chat.py, test_reading.py,
test_keyboard.py, test_notifications.py, test_accounts.py, test_attachments.py, test_profiles.py, test_tray.py): bounded
waits, free ports, REST calls, the real tidings-server started and stopped, the app's environment, the app driven
through WebDriver (tauri-driver + WebKitWebDriver), axe-core over what is on screen, and the
run of a script's checks (`run_suite`: one PASS/FAIL line each, then "N passed, M failed",
the line run.sh adds up)."""

import json
import os
import re
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.client_config import ClientConfig

T = float(os.environ.get("E2E_TIMEOUT_S", "20"))
# The longest one WebDriver command may take (a new session starts the app: a cold start on
# a loaded machine). Selenium's own default is no limit, so a command the driver never
# answered hung its script until run.sh's `timeout` ended it, with no line saying which.
DRIVER_TIMEOUT = max(6 * T, 120)

AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ui", "node_modules", "axe-core",
                   "axe.min.js")

__all__ = ["T", "App", "Ctx", "Desktop", "Failure", "Server", "app_env", "axe", "free_port", "launch_app",
           "no_violations", "rest", "rest_status", "run_checks", "run_suite", "start_server", "stop_server",
           "wait_for", "wait_port", "Person"]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "desktop"))
from fake_desktop import Desktop, Failure  # noqa: E402,F401  (the fake notification and tray services)
from fake_desktop import wait_for as _wait_for  # noqa: E402


def wait_for(cond, what, timeout=T, interval=0.1):
    """Polls cond() until it returns something truthy; fails with `what` at the deadline."""
    return _wait_for(cond, what, timeout, interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=T):
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5).close() or True, f"port {port}", timeout)


def rest(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read()
        return json.loads(text) if text else None


class Person:
    """Someone acting over REST on one server, registered with `password`."""

    def __init__(self, base, user, name, password):
        self.base, self.user, self.name = base, user, name
        self.token = rest(base, "POST", "/api/auth/register",
                          body={"username": user, "password": password, "displayName": name})["accessToken"]

    def call(self, method, path, body=None):
        return rest(self.base, method, path, token=self.token, body=body)

    def send(self, cid, text, content_type="TEXT", reply_to=None, mentions=None):
        body = {"clientId": str(uuid.uuid4()), "content": text, "contentType": content_type}
        if reply_to:
            body["replyTo"] = reply_to
        if mentions:
            body["mentions"] = mentions
        return self.call("POST", f"/api/conversations/{cid}/messages", body)

    def history(self, cid):
        return self.call("GET", f"/api/conversations/{cid}/messages?limit=500")["messages"]

    def conversations(self):
        return self.call("GET", "/api/conversations?limit=500")["conversations"]

    def read_seq(self, cid):
        """This person's read marker in `cid`, as the server has it."""
        c = self.call("GET", f"/api/conversations/{cid}")
        return next(p["readSeq"] for p in c["participants"] if p["id"] == self.user)



# ---------------------------------------------------------------- the server


class Ctx:
    """What one script's checks share: the binaries and the screenshot folder from its command
    line (APP SERVER CLI SCREENSHOT_DIR), a fresh work folder (the server's data in
    WORK/server-data), and whatever the script's seed and checks add (people, ids, the app)."""

    def __init__(self, prefix):
        self.app_bin, self.server_bin, self.cli_bin, self.shots = sys.argv[1:5]
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.data = os.path.join(self.work, "server-data")


class Server:
    """One real tidings-server on 127.0.0.1:`port` (0: a free one), its data in WORK/NAME-data
    (or `data`) and its log in WORK/NAME.log; `demo` seeds the demo data, `env` adds to its
    environment. Started when made: its first line on stdout says where it listens."""

    def __init__(self, ctx, name="server", port=0, demo=False, env=None, data=None):
        self.data = data or os.path.join(ctx.work, f"{name}-data")
        args = [ctx.server_bin, "--listen", f"127.0.0.1:{port}", "--data-dir", self.data] + (["--demo"] if demo else [])
        log = open(os.path.join(ctx.work, f"{name}.log"), "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True,
                                     env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline()
        if not line.startswith("tidings-server listening on "):
            self.stop()
            which = "server" if name == "server" else f"{name} server"
            raise Failure(f"the {which} did not start: {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(15)


def start_server(ctx, port=0, demo=False, env=None):
    """The script's server (again on `port` after stop_server): ctx.server, ctx.port, ctx.base."""
    ctx.server = Server(ctx, port=port, demo=demo, env=env, data=ctx.data)
    ctx.port, ctx.base = ctx.server.port, ctx.server.base


def stop_server(ctx):
    ctx.server.stop()


def app_env(ctx, base, **extra):
    """The app's environment: its folders and a home under the work folder, `base` as its
    server, credentials in a file, no demo sign-in or update URL unless given in `extra`."""
    home = os.path.join(ctx.work, "home")
    os.makedirs(home, exist_ok=True)
    # TIDINGS_KEEP_WINDOW: hiding keeps the windowed app in the tray instead of handing over to
    # the tray process (WebDriver drives one process; test_tray.py takes it out).
    env = dict(os.environ, TIDINGS_APP_DIR=os.path.join(ctx.work, "app"), TIDINGS_SERVER=base,
               TIDINGS_CREDENTIALS="file", HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_DATA_HOME=os.path.join(home, ".local/share"), TIDINGS_LOG="info", TIDINGS_KEEP_WINDOW="1")
    for k in ("TIDINGS_DEMO_USER", "TIDINGS_DEMO_PASSWORD", "TIDINGS_UPDATE_URL"):
        env.pop(k, None)
    env.update(extra)
    return env


# ---------------------------------------------------------------- the app


class App:
    def __init__(self, work, env, binary, shots):
        self.shots = shots
        self.binary = binary
        self.port = free_port()
        # WebKitWebDriver's port: a free one too (port + 1 may still be held by the last one).
        native = wait_for(lambda: (lambda p: p if p != self.port else None)(free_port()), "a second free port")
        self.driver_log = open(os.path.join(work, "tauri-driver.log"), "a")
        self.env = env
        self.proc = subprocess.Popen(["tauri-driver", "--port", str(self.port), "--native-port", str(native)],
                                     stdout=self.driver_log, stderr=subprocess.STDOUT, env=env)
        # tauri-driver starts WebKitWebDriver beside itself and forwards the new session to
        # it: both must be listening (on a loaded machine WebKitWebDriver can come second).
        wait_port(self.port)
        wait_port(native)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": binary})
        url = f"http://127.0.0.1:{self.port}"
        self.d = webdriver.Remote(command_executor=url, options=opts,
                                  client_config=ClientConfig(remote_server_addr=url, timeout=DRIVER_TIMEOUT))

    def els(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def el(self, css):
        return wait_for(lambda: (self.els(css) or [None])[0], f"element {css}")

    def texts(self, css):
        return [e.text for e in self.els(css)]

    def shot(self, name):
        try:
            self.d.save_screenshot(os.path.join(self.shots, f"{name}.png"))
        except Exception:
            pass

    def conversation_row(self, name):
        return self.d.execute_script("""
            for (const r of document.querySelectorAll('[data-testid=conversation]')) {
              if (r.querySelector('.name').textContent.trim() === arguments[0]) return r;
            }
            return null;""", name)

    def open_conversation(self, name):
        wait_for(lambda: self.conversation_row(name), f"conversation {name} in the list").click()
        wait_for(lambda: self.title() == name, f"{name} open")

    def title(self):
        """The open conversation's title (its text content: WebDriver's visible text of the
        header's clipped heading can come back empty)."""
        return self.el('[data-testid="conversation-title"]').get_attribute("textContent").strip()

    def type_and_send(self, text):
        box = self.el('[data-testid="composer"]')
        box.click()
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def message_texts(self):
        return [e.text for e in self.els('[data-testid="message"] .text')]

    def current_window(self):
        """After the window was released and built again, drive the new one."""
        handles = self.d.window_handles
        if handles:
            self.d.switch_to.window(handles[-1])
        return bool(handles)

    def quit(self):
        try:
            self.d.quit()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        # WebDriver's quit ends the app; on a loaded machine the app can outlive it (seen in
        # CI: its web process gone, the app still up). A relaunch would then only hand over
        # to it (the app is single-instance) and WebDriver would wait for a window forever.
        end_processes(self.binary)


def end_processes(binary):
    """Ends every process running `binary` (SIGTERM, SIGKILL after 10 s) and waits until
    they are gone."""
    def running():
        pattern = re.escape(os.path.abspath(binary)) + "( .*)?"
        found = subprocess.run(["pgrep", "-f", "-x", pattern], capture_output=True, text=True)
        return [int(p) for p in found.stdout.split()]
    for pid in running():
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in running():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    wait_for(lambda: not running(), f"every {os.path.basename(binary)} process to end", timeout=10)


def launch_app(ctx):
    """The app (ctx.app) under WebDriver with ctx.env."""
    ctx.app = App(ctx.work, ctx.env, ctx.app_bin, ctx.shots)


def axe(a, screen):
    """axe-core's serious and critical violations on what is on screen."""
    if not a.d.execute_script("return !!window.axe"):
        with open(AXE) as f:
            a.d.execute_script(f.read() + "\nwindow.axe = axe;")
    result = a.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        window.axe.run(document, { resultTypes: ['violations'] })
          .then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))))
          .catch((e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));""")
    return [dict(v, screen=screen) for v in result]


def no_violations(violations):
    """Fails with each of axe's violations (from `axe`), one line each, if there are any."""
    if violations:
        lines = [f"{v['screen']}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for v in violations]
        raise Failure("axe-core found serious or critical violations:\n  " + "\n  ".join(lines))


def rest_status(base, method, path, token=None, body=None):
    """(status, JSON body) of a call, also when it is refused."""
    try:
        return 200, rest(base, method, path, token, body)
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text else None)


def run_checks(ctx, checks):
    """Runs each check, one PASS/FAIL line each (a screenshot on failure); (passed, failed)."""
    passed = failed = 0
    only = [n for n in os.environ.get("E2E_ONLY", "").split(",") if n]  # while developing: check_x,check_y
    for name, fn in checks:
        if only and fn.__name__ not in only:
            continue
        started = time.monotonic()
        try:
            fn(ctx)
            passed += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception as e:
            failed += 1
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc(limit=3)
            print(f"FAIL {name}: {detail}", flush=True)
            ctx.app.shot("failed-" + fn.__name__)
    return passed, failed


ANSI = re.compile(r"\x1b\[[0-9;]*m")
NEWS = re.compile(r"\b(WARN|ERROR)\b|panicked|segfault|general protection|Out of memory|page crash")


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def kernel_lines_since(since):
    """The kernel's log lines stamped after `since` (seconds since boot), if dmesg may be read."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except Exception:
        return []
    stamped = (re.match(r"\[\s*([0-9.]+)\]", line) for line in out)
    return [line for line, m in zip(out, stamped) if m and float(m.group(1)) >= since]


def log_excerpts(label, work, since, per_file=12):
    """After a failed run: the warnings, errors and panics of every log in the work folder
    (the app's, through tauri-driver's; each server's) and the kernel's crash lines since
    `since` (seconds since boot), the last `per_file` of each, each line starting "diag:" (run.sh prints them again at the
    end, where a CI log's tail shows them)."""
    found = []
    for name in sorted(os.listdir(work)):
        path = os.path.join(work, name)
        if not name.endswith(".log") or not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            lines = [ANSI.sub("", line.rstrip()) for line in f if NEWS.search(ANSI.sub("", line))]
        found += [f"{name}: {line[:300]}" for line in lines[-per_file:]]
    found += [f"dmesg: {line[:300]}" for line in kernel_lines_since(since) if NEWS.search(line)][-per_file:]
    print(f"diag: {label}: {len(found)} warning, error or crash line(s) in its logs", flush=True)
    for line in found:
        print(f"diag:   {line}", flush=True)


def run_suite(name, ctx, checks, seed, launch=launch_app, stop=stop_server, summary=None):
    """A script's whole run: seed(ctx) (start its servers, its people, ctx.env), launch(ctx)
    (the app), the checks, then the app quit and stop(ctx) whatever happened. The work folder
    is removed if all passed, else kept and named; summary(ctx) may print its own lines before
    the last one, "N passed, M failed". The exit status."""
    label = f"e2e {name}" if name else "e2e"
    started = uptime()
    ctx.desktop = Desktop(T)
    passed, failed = 0, 1
    try:
        try:
            seed(ctx)
        except Exception as e:
            print(f"FAIL {label}: starting or seeding the server(s) failed: {e}", flush=True)
            return 1
        try:
            launch(ctx)
        except Exception as e:
            print(f"FAIL {label}: the app did not start under WebDriver: {e}", flush=True)
            return 1
        try:
            passed, failed = run_checks(ctx, checks)
        finally:
            ctx.app.quit()
    finally:
        try:
            stop(ctx)
        except Exception:
            pass
        if failed:
            print(f"{label}: logs kept in {ctx.work}")
            log_excerpts(label, ctx.work, started)
        else:
            shutil.rmtree(ctx.work, ignore_errors=True)
        if summary:
            summary(ctx)
        print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1
