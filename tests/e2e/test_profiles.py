#!/usr/bin/env python3
"""Servers of another kind in the app, end to end (run by run.sh inside Xvfb and dbus-run-session).

    test_profiles.py APP SERVER CLI SCREENSHOT_DIR

A private RabbitMQ with Web-STOMP (tests/interop/rabbitmq.sh: fixed ports 15674, 61613, 5672)
and a user of its own with a random password; a tidings-server only as the sign-in form's
default. The app starts with no account. Checks: a RabbitMQ Web-STOMP profile is added from
the sign-in screen through the form (its fields by click and typing); "Test connection" says
each step worked; the new account shows what it waits for; a message that a third party
(stomp.py) publishes to its topic raises an OS notification whose title and body are the
configured fields, is in the list and counts in the tray; the password is in neither the
app's files nor its log; a second profile with a wrong password, filled in and tested with
the keyboard only from the accounts switcher, gets a clear sentence from the test and on its
account, and is removed; axe-core finds no serious or critical violation on the form or the
account; a narrow window holds the form; after a restart with RabbitMQ stopped, the account
and its notification are still there. Then a Socket.IO profile against the seed-style Node
backend (tests/sio-backend: a login endpoint, the token in the handshake): its test passes,
its `notification:new` pops up with the configured title and body, and again after that
backend restarts. One line per check, then "N passed, M failed".
"""

import json
import os
import secrets
import subprocess
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import App, Ctx, Failure, Server, app_env, axe, no_violations, run_suite, wait_for  # noqa: E402

import stomp  # noqa: E402

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
RABBIT = os.path.join(HERE, "..", "interop", "rabbitmq.sh")
RMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
WS = "ws://127.0.0.1:15674/ws"


def rabbit(ctx, cmd):
    out = subprocess.run(["bash", RABBIT, cmd, ctx.rabbit_dir], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise Failure(f"rabbitmq.sh {cmd} failed: {out.stdout} {out.stderr}")


def rabbitmqctl(ctx, *args):
    env = dict(os.environ, HOME=ctx.rabbit_dir, RABBITMQ_NODENAME="peer@localhost")
    out = subprocess.run([RMQCTL, "-q", "-n", "peer@localhost", *args], capture_output=True, text=True,
                         timeout=60, env=env)
    if out.returncode != 0:
        raise Failure(f"rabbitmqctl {' '.join(args[:1])} failed: {out.stdout} {out.stderr}")


def seed(ctx):
    ctx.rabbit_dir = os.path.join(ctx.work, "rabbitmq")
    rabbit(ctx, "start")
    ctx.rabbit_up = True
    # A user of its own, with a password that can be looked for in the app's files and log.
    ctx.user, ctx.password = "tidings-e2e", "pw-" + secrets.token_hex(8)
    rabbitmqctl(ctx, "add_user", ctx.user, ctx.password)
    rabbitmqctl(ctx, "set_permissions", "-p", "/", ctx.user, ".*", ".*", ".*")
    ctx.topic = "/topic/tidings.e2e." + secrets.token_hex(4)
    ctx.server = Server(ctx)
    ctx.sio = SioBackend(ctx)
    ctx.env = app_env(ctx, ctx.server.base)
    ctx.app_dir = ctx.env["TIDINGS_APP_DIR"]


SIO_DIR = os.path.join(HERE, "..", "sio-backend")


class SioBackend:
    """The seed-style Socket.IO backend (tests/sio-backend, node), on `port` (0: a free one)."""

    def __init__(self, ctx, port=0):
        if not os.path.isdir(os.path.join(SIO_DIR, "node_modules", "socket.io")):
            raise Failure("tests/sio-backend has no node_modules: run make deps (npm ci --prefix tests/sio-backend)")
        log = open(os.path.join(ctx.work, "sio-backend.log"), "a")
        self.proc = subprocess.Popen(["node", "server.mjs", "--port", str(port)], cwd=SIO_DIR, stdout=subprocess.PIPE,
                                     stderr=log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("sio-backend listening on "):
            self.stop()
            raise Failure(f"the Socket.IO backend did not start: {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(15)

    def post(self, path, body):
        import urllib.request
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status

    def sockets(self, user):
        import urllib.request
        try:
            with urllib.request.urlopen(f"{self.base}/test/sockets?user={user}", timeout=5) as resp:
                return json.loads(resp.read())["count"]
        except OSError:
            return 0


def stop_all(ctx):
    if hasattr(ctx, "server"):
        ctx.server.stop()
    if getattr(ctx, "sio", None):
        ctx.sio.stop()
    if getattr(ctx, "rabbit_up", False):
        rabbit(ctx, "stop")


def publish(ctx, message):
    conn = stomp.WSConnection([("127.0.0.1", 15674)], ws_path="/ws", vhost="/")
    conn.connect("guest", "guest", wait=True)
    conn.send(destination=ctx.topic, body=json.dumps(message), headers={"content-type": "application/json"})
    conn.disconnect()


# ---------------------------------------------------------------- helpers on the app


def field(a, name):
    return a.el(f'[data-testid="profile-form"] [name="{name}"]')


def fill(a, name, text):
    e = field(a, name)
    e.clear()
    e.send_keys(text)


def account_ids(a):
    return [e.get_attribute("data-id") for e in a.els('[data-testid="account"]')]


def steps(a):
    return [(e.get_attribute("data-name"), e.get_attribute("data-ok"), e.text) for e in a.els('[data-testid="check-step"]')]


def notes_with(ctx, text):
    return [n for n in ctx.desktop.notes.snapshot() if text in n["summary"] or text in n["body"]]


def note_titles(a):
    return [e.get_attribute("textContent").strip() for e in a.els('[data-testid="notification"] .title')]


def active_element_name(a):
    return a.d.execute_script(
        "const e = document.activeElement; return e ? (e.getAttribute('name') || e.dataset.testid || '') : ''")


def tab_to(a, name, limit=30):
    """Presses Tab until the focus is on the field or button `name` (bounded)."""
    for _ in range(limit):
        if active_element_name(a) == name:
            return
        ActionChains(a.d).send_keys(Keys.TAB).perform()
    raise Failure(f"Tab never reached {name} (the focus is on {active_element_name(a)!r})")


def window_open(a):
    try:
        return len(a.d.window_handles) > 0
    except Exception:
        return False


# ---------------------------------------------------------------- the checks


def check_add_from_sign_in(ctx):
    a = ctx.app
    a.el('[data-testid="signin"]')
    a.el('[data-testid="add-other-server"]').click()
    a.el('[data-testid="kind-rabbitmq"]').click()
    fill(a, "name", "Build alerts")
    fill(a, "url", WS)
    fill(a, "vhost", "/")
    fill(a, "login", ctx.user)
    fill(a, "secret", ctx.password)
    fill(a, "follow", ctx.topic)
    fill(a, "titleField", "title")
    fill(a, "bodyField", "body")
    fill(a, "idField", "id")
    a.shot("profiles-00-form")
    a.el('[data-testid="test-connection"]').click()
    verdict = wait_for(lambda: (a.els('[data-testid="check-verdict"]') or [None])[0], "the test's verdict")
    wait_for(lambda: all(ok == "true" for _, ok, _ in steps(a)) and len(steps(a)) >= 2, "every step to pass")
    if verdict.text != "The connection works.":
        raise Failure(f"the test says {verdict.text!r}: {steps(a)}")
    names = [n for n, _, _ in steps(a)]
    if "connect" not in names or "subscribe" not in names:
        raise Failure(f"the test did not show the connect and subscribe steps: {steps(a)}")
    a.d.execute_script("arguments[0].scrollIntoView({block: 'end'})", a.el('[data-testid="check-steps"]'))
    a.shot("profiles-01-test-passed")


def check_save(ctx):
    a = ctx.app
    a.el('[data-testid="save-profile"]').click()
    ctx.account = wait_for(lambda: (account_ids(a) or [None])[0], "the new account in the switcher")
    if a.el(f'[data-testid="account"][data-id="{ctx.account}"]').get_attribute("data-kind") != "rabbitmq":
        raise Failure("the switcher does not know the account is RabbitMQ")
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "the banner to say Live")
    empty = a.el('[data-testid="profile-empty"]')
    wait_for(lambda: ctx.topic in empty.text and "Connected and listening" in empty.text,
             "the empty state to say what it waits for")
    # Notifications only: no chats to list or search, no display name to set.
    offered = [b.get_attribute("data-testid") for b in a.els('nav[aria-label="Sections"] button')]
    if offered != ["open-notifications", "open-settings"]:
        raise Failure(f"a server of another kind offers the sections {offered}")
    a.shot("profiles-02-empty")


def check_notification(ctx):
    a = ctx.app
    publish(ctx, {"id": "a-1", "title": "Disk almost full", "body": "db-1 is at 91%", "severity": "warn"})
    n = wait_for(lambda: notes_with(ctx, "Disk almost full"), "the OS notification")[-1]
    if (n["summary"], n["body"]) != ("Disk almost full", "db-1 is at 91%"):
        raise Failure(f"the notification's title and body are not the configured fields: {n}")
    wait_for(lambda: note_titles(a) == ["Disk almost full"], "the notification in the list")
    text = a.el('[data-testid="notification"] .text').text
    if text != "db-1 is at 91%":
        raise Failure(f"the list shows {text!r}")
    wait_for(lambda: ctx.desktop.label() == "Tidings — 1 unread — live", "the tray to count it")
    a.shot("profiles-03-notification")


def check_secret_kept_apart(ctx):
    found = []
    for root, _, files in os.walk(ctx.work):
        for f in files:
            path = os.path.join(root, f)
            if "rabbitmq" in path.split(os.sep):
                continue
            try:
                if ctx.password.encode() in open(path, "rb").read():
                    found.append(os.path.relpath(path, ctx.work))
            except OSError:
                pass
    allowed = {os.path.join("app", "data", "credentials.json")}  # the file stands in for the keyring (TIDINGS_CREDENTIALS=file)
    if set(found) - allowed:
        raise Failure(f"the password is in {sorted(set(found) - allowed)}")
    saved = json.load(open(os.path.join(ctx.app_dir, "config", "profiles.json")))
    if saved[0]["form"]["auth"] != {"type": "stomp", "login": ctx.user, "passcode": ""}:
        raise Failure(f"the saved form is {saved[0]['form']['auth']}")


def check_wrong_password_keyboard(ctx):
    a = ctx.app
    a.el('[data-testid="add-other-server-switcher"]').click()
    wait_for(lambda: active_element_name(a) == "name", "the focus in the name field")
    ActionChains(a.d).send_keys("Wrong password").perform()
    tab_to(a, "secret")
    ActionChains(a.d).send_keys("not-the-password").perform()
    tab_to(a, "follow")
    ActionChains(a.d).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(ctx.topic).perform()
    tab_to(a, "test-connection")
    ActionChains(a.d).send_keys(Keys.ENTER).perform()
    wait_for(lambda: any(ok == "false" for _, ok, _ in steps(a)), "a failed step")
    failed = [s for s in steps(a) if s[1] == "false"][0]
    verdict = a.el('[data-testid="check-verdict"]').text
    if verdict != "The connection does not work yet:" or not any(w in failed[2].lower() for w in ("refused", "password", "login")):
        raise Failure(f"the test does not say plainly what failed: {verdict!r} {steps(a)}")
    if "not-the-password" in a.d.page_source:
        raise Failure("the page shows the password")
    a.d.execute_script("arguments[0].scrollIntoView({block: 'end'})", a.el('[data-testid="check-steps"]'))
    a.shot("profiles-04-wrong-password")
    # Saved anyway (Enter in a field): the account says why it cannot connect.
    field(a, "name").click()
    ActionChains(a.d).send_keys(Keys.ENTER).perform()
    ctx.wrong = wait_for(lambda: account_ids(a)[1] if len(account_ids(a)) == 2 else None, "the second account")
    wait_for(lambda: a.els(f'[data-testid="account"][data-id="{ctx.wrong}"][aria-current="true"]'),
             "the second account shown")
    # RabbitMQ's ERROR says "Bad CONNECT" in its header and who was refused in its body: the
    # line carries both. Read afresh each time: the line is drawn again as the account's state
    # moves (an element found before that is stale; CI saw it once).
    seen = []

    def refused():
        els = a.els('[data-testid="profile-trouble"]')
        if not els:
            return None
        seen.append(els[0].text)
        return "access refused" in seen[-1].lower()

    try:
        wait_for(refused, "the account's trouble line to say the access was refused")
    except Failure as e:
        raise Failure(f"the account's line is not clear: {seen[-1:]!r} ({e})")
    a.shot("profiles-05-cannot-connect")


def check_axe(ctx):
    a = ctx.app
    violations = axe(a, "a server of another kind that cannot connect")
    a.el('[data-testid="edit-profile"]').click()
    a.el('[data-testid="profile-form"]')
    wait_for(lambda: field(a, "name").get_attribute("value") == "Wrong password", "the edit form, filled in")
    if field(a, "secret").get_attribute("value"):
        raise Failure("the edit form shows the stored password")
    violations += axe(a, "the edit form")
    a.el('[data-testid="cancel-profile"]').click()
    wait_for(lambda: not a.els('[data-testid="profile-form"]'), "the form to close")
    no_violations(violations)


def check_narrow(ctx):
    a = ctx.app
    size = a.d.get_window_size()
    try:
        a.d.set_window_size(520, 700)  # (the window's minimum width, 640, wins)
        a.el('[data-testid="edit-profile"]').click()
        form = a.el('[data-testid="profile-form"]')
        # (The form's own width: the top bar's sections are the banner's, not the form's.)
        wait_for(lambda: a.d.execute_script(
            "const f = arguments[0], r = f.getBoundingClientRect();"
            "return r.right <= window.innerWidth + 1 && f.scrollWidth <= f.clientWidth + 1", form),
            "the form to fit a narrow window")
        a.shot("profiles-06-narrow")
        cancel = a.el('[data-testid="cancel-profile"]')
        # (WebDriver's own scrolling can leave a button at the very bottom edge of the form's
        # scrolling box, where its click is lost: centred first.)
        a.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", cancel)
        cancel.click()
        wait_for(lambda: not a.els('[data-testid="profile-form"]'), "the form to close")
    finally:
        a.d.set_window_size(size["width"], size["height"])


def check_remove(ctx):
    a = ctx.app
    a.el('[data-testid="remove-profile"]').click()
    a.el('[data-testid="confirm-remove-profile"]').click()
    wait_for(lambda: account_ids(a) == [ctx.account], "only the first account left")
    saved = json.load(open(os.path.join(ctx.app_dir, "config", "profiles.json")))
    if [s["account"] for s in saved] != [ctx.account]:
        raise Failure(f"the saved servers are {[s['account'] for s in saved]}")


def check_restart_offline(ctx):
    a = ctx.app
    ctx.desktop.click_menu("Quit Tidings")
    try:
        wait_for(lambda: not window_open(a), "the app to quit")
    finally:
        a.quit()
    rabbit(ctx, "stop")
    ctx.rabbit_up = False
    ctx.app = a = App(ctx.work, ctx.env, APP, SHOTS)
    wait_for(lambda: account_ids(a) == [ctx.account], "the account after the restart")
    wait_for(lambda: note_titles(a) == ["Disk almost full"], "the notification, from the cache, with RabbitMQ stopped")
    wait_for(lambda: a.el('[data-testid="banner"]').text != "Live", "the banner not to say Live")
    a.shot("profiles-07-offline-after-restart")


def check_socketio(ctx):
    a = ctx.app
    a.el('[data-testid="add-other-server-switcher"]').click()
    a.el('[data-testid="kind-socketio"]').click()
    fill(a, "name", "Casting")
    fill(a, "url", ctx.sio.base)
    Select(field(a, "auth")).select_by_value("login")
    fill(a, "loginUrl", ctx.sio.base + "/api/auth/login")
    fill(a, "username", "alice")
    fill(a, "secret", "alice-password")
    fill(a, "tokenField", "token")
    Select(field(a, "placement")).select_by_value("handshake")
    fill(a, "follow", "notification:new")
    fill(a, "titleField", "title")
    fill(a, "bodyField", "message")
    fill(a, "idField", "id")
    a.el('[data-testid="test-connection"]').click()
    wait_for(lambda: a.els('[data-testid="check-verdict"]') and len(steps(a)) >= 3, "the test's steps")
    if a.el('[data-testid="check-verdict"]').text != "The connection works.":
        raise Failure(f"the Socket.IO test failed: {steps(a)}")
    a.d.execute_script("arguments[0].scrollIntoView({block: 'end'})", a.el('[data-testid="check-steps"]'))
    a.shot("profiles-08-socketio-test")
    a.el('[data-testid="save-profile"]').click()
    ctx.casting = wait_for(lambda: next((i for i in account_ids(a) if i.startswith("casting@")), None),
                           "the Socket.IO account")
    wait_for(lambda: ctx.sio.sockets("alice") >= 1, "the app's socket at the backend")
    ctx.sio.post("/api/notifications", {"userId": "alice", "title": "Callback", "message": "Tuesday 10:00"})
    n = wait_for(lambda: notes_with(ctx, "Tuesday 10:00"), "the Socket.IO notification")[-1]
    if not n["summary"].startswith("Callback"):
        raise Failure(f"the notification's title is not the configured field: {n}")
    wait_for(lambda: "Callback" in note_titles(a), "the notification in the Socket.IO account's list")
    a.shot("profiles-09-socketio-notification")


def check_socketio_restart(ctx):
    port = ctx.sio.port
    ctx.sio.stop()
    ctx.sio = None
    ctx.sio = SioBackend(ctx, port)
    wait_for(lambda: ctx.sio.sockets("alice") >= 1, "the app to connect again after the backend's restart", timeout=60)
    ctx.sio.post("/api/notifications", {"userId": "alice", "title": "Callback moved", "message": "Wednesday 11:00"})
    wait_for(lambda: notes_with(ctx, "Wednesday 11:00"), "the notification after the restart")
    wait_for(lambda: "Callback moved" in note_titles(ctx.app), "it in the list")


CHECKS = [
    ("a RabbitMQ Web-STOMP profile filled in from the sign-in screen: Test connection passes step by step",
     check_add_from_sign_in),
    ("saved, it is an account that says what it waits for", check_save),
    ("a message published to its topic by a third party pops up with the configured title and body, "
     "is in the list and counts in the tray", check_notification),
    ("the password is in neither the saved form nor the log", check_secret_kept_apart),
    ("keyboard only, from the switcher: a wrong password is said plainly by the test and on the account",
     check_wrong_password_keyboard),
    ("axe-core: no serious or critical violation on the account or the edit form (which shows no password)",
     check_axe),
    ("a narrow window holds the form", check_narrow),
    ("removing a profile account removes it and its saved form", check_remove),
    ("after a restart with RabbitMQ stopped the account and its notification are still there",
     check_restart_offline),
    ("a Socket.IO profile (login endpoint, token in the handshake) tests and saves; the Node backend's "
     "notification:new pops up with the configured title and body", check_socketio),
    ("after the Socket.IO backend restarts, its notifications arrive again", check_socketio_restart),
]


def main():
    return run_suite("profiles", Ctx("tidings-e2e-profiles-"), CHECKS, seed, stop=stop_all)


if __name__ == "__main__":
    sys.exit(main())
