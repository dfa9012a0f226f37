"""What the app's end-to-end scripts share (test_app.py, test_chat.py): bounded waits, free
ports, REST calls, and the app driven through WebDriver (tauri-driver + WebKitWebDriver)."""

import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.options import ArgOptions

T = float(os.environ.get("E2E_TIMEOUT_S", "20"))

__all__ = ["T", "App", "Desktop", "Failure", "free_port", "rest", "rest_status", "run_checks", "wait_for", "wait_port"]

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


# ---------------------------------------------------------------- the app


class App:
    def __init__(self, work, env, binary, shots):
        self.shots = shots
        self.port = free_port()
        self.driver_log = open(os.path.join(work, "tauri-driver.log"), "w")
        self.env = env
        self.proc = subprocess.Popen(["tauri-driver", "--port", str(self.port), "--native-port", str(self.port + 1)],
                                     stdout=self.driver_log, stderr=subprocess.STDOUT, env=env)
        wait_port(self.port)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": binary})
        self.d = webdriver.Remote(command_executor=f"http://127.0.0.1:{self.port}", options=opts)

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
