#!/usr/bin/env python3
"""The notification centre and OS-notification discipline, end to end in the real app (run
by run.sh inside Xvfb and dbus-run-session).

    test_notifications.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server (no demo data, a service token): bob uses the app, and the `tidings`
CLI as his other device; alice acts over REST; a backend service raises notifications with
the service token. The fake notification service on the private bus records every Notify
call. One line per check, then "N passed, M failed".
"""

import json
import os
import re
import subprocess
import sys
import uuid

from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Ctx, Failure, app_env, launch_app, rest, run_suite, start_server, stop_server,  # noqa: E402
                     wait_for)

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
PASSWORD = "correct horse battery"
SERVICE = "e2e-service-token-0123456789"
SERVER_ENV = {"TIDINGS_SERVICE_TOKEN": SERVICE}
NOTES = 60  # more than one page of the list (50)


def register(ctx, user, name):
    return rest(ctx.base, "POST", "/api/auth/register",
                body={"username": user, "password": PASSWORD, "displayName": name})["accessToken"]


def bob_cli(ctx, args, input=""):
    r = subprocess.run([CLI] + args, input=input, capture_output=True, text=True, env=ctx.cli_env, timeout=60)
    if r.returncode != 0:
        raise Failure(f"bob's `tidings {' '.join(args)}` failed ({r.returncode}): {r.stderr}")
    return r.stdout


def bob_cli_notifications(ctx):
    return json.loads(bob_cli(ctx, ["--json", "notifications", "--limit", "500"]))


def server_unread(ctx):
    return rest(ctx.base, "GET", "/api/notifications?limit=1", token=ctx.bob_token)["unreadCount"]


def text(el):
    return (el.get_attribute("textContent") or "").strip()


def badge(a):
    els = a.els('[data-testid="unread-notifications"]')
    return text(els[0]) if els else ""


def window_count(ctx):
    try:
        return len(ctx.app.d.window_handles)
    except Exception:
        return 0


def hide_window(ctx):
    if window_count(ctx) == 0:
        return
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: window_count(ctx) == 0, "the window to hide")


def show_window(ctx):
    if window_count(ctx) == 0:
        ctx.desktop.click_menu("Show/Hide")
    wait_for(ctx.app.current_window, "the window to come back")
    wait_for(lambda: ctx.app.els('[data-testid="conversations"]'), "the window's content")


def notes_since(ctx, before):
    return ctx.desktop.notes.snapshot()[before:]


# ---------------------------------------------------------------- the checks


def check_sign_in(ctx):
    a = ctx.app
    form = a.el('[data-testid="signin"]')
    server = form.find_element(By.NAME, "server")
    server.clear()
    server.send_keys(ctx.base)
    form.find_element(By.NAME, "username").send_keys("bob")
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "the banner to say Live")


def check_badge_counts_without_opening_the_panel(ctx):
    a = ctx.app
    for i in range(NOTES):
        rest(ctx.base, "POST", "/api/notifications", token=SERVICE,
             body={"users": ["bob"], "kind": "appointment.moved", "title": f"Appointment {i + 1} moved",
                   "message": f"Now on day {i + 1} at 10:30"})
    wait_for(lambda: badge(a) == str(NOTES), f"the badge to say {NOTES} with the panel closed")
    if a.el('[data-testid="open-chats"]').get_attribute("aria-pressed") != "true":
        raise Failure("the notification panel was opened")
    # Bob's other device (the CLI) holds them unread too.
    unread = [n for n in bob_cli_notifications(ctx) if not n["isRead"]]
    if len(unread) != NOTES:
        raise Failure(f"bob's CLI has {len(unread)} unread, not {NOTES}")


def check_badge_right_after_relaunch(ctx):
    ctx.app.quit()
    # The server is down: whatever the badge says comes from the cache.
    stop_server(ctx)
    launch_app(ctx)
    a = ctx.app
    wait_for(lambda: a.els('[data-testid="conversations"]'), "the app to open on the cache")
    wait_for(lambda: badge(a) == str(NOTES), f"the badge to say {NOTES} right after the relaunch, server down")
    wait_for(lambda: a.el('[data-testid="unread-notifications"]').is_displayed(), "the badge painted")
    a.shot("notifications-01-badge-after-relaunch")
    if badge(a) != str(NOTES):
        raise Failure(f"the badge changed to {badge(a)!r} with the server down")
    start_server(ctx, ctx.port, env=SERVER_ENV)
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "live again", timeout=60)


def check_mark_one_without_leaving_and_page_back(ctx):
    a = ctx.app
    a.el('[data-testid="open-notifications"]').click()
    wait_for(lambda: len(a.els('[data-testid="notification"]')) == 50, "the first page of 50")
    first = a.els('[data-testid="notification"]')[0]
    if f"Appointment {NOTES} moved" not in text(first):
        raise Failure(f"the newest is not first: {text(first)!r}")
    a.els('[data-testid="mark-read"]')[0].click()
    wait_for(lambda: badge(a) == str(NOTES - 1), "the badge to count one less")
    if a.el('[data-testid="open-notifications"]').get_attribute("aria-pressed") != "true":
        raise Failure("marking one read left the list")
    if a.els('[data-testid="notification"]')[0].get_attribute("data-read") != "true":
        raise Failure("the entry is not shown as read")
    wait_for(lambda: server_unread(ctx) == NOTES - 1, "the server to have it read", interval=0.3)
    # Older ones: scrolling to the end loads them (or the button does).
    a.d.execute_script("document.querySelector('.panel').scrollTop = 1e9")
    # If the scroll did not load them already, the button does (clicked only if still there).
    a.d.execute_script("const b = document.querySelector('[data-testid=older-notifications]'); if (b) b.click();")
    wait_for(lambda: len(a.els('[data-testid="notification"]')) == NOTES, f"all {NOTES} after paging back")
    last = a.els('[data-testid="notification"]')[-1]
    if "Appointment 1 moved" not in text(last):
        raise Failure(f"the oldest is not last: {text(last)!r}")
    # Scrolled to the oldest, Mark all read is still in view (the header stays).
    a.d.execute_script("document.querySelector('.panel').scrollTop = 1e9")
    where = a.d.execute_script(
        "const p = document.querySelector('.panel').getBoundingClientRect();"
        "const b = document.querySelector('[data-testid=mark-all-read]').getBoundingClientRect();"
        "const top = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);"
        "return {inside: b.top >= p.top && b.bottom <= p.bottom,"
        " onTop: !!top && !!top.closest('[data-testid=mark-all-read]'),"
        " scrolled: document.querySelector('.panel').scrollTop};")
    if where["scrolled"] <= 0 or not where["inside"] or not where["onTop"]:
        raise Failure(f"scrolled to the end, Mark all read is out of view or covered: {where}")
    # At the oldest there is nothing older to offer, also after the list reloads: bob's
    # other device reads the oldest, and once the list shows it read it has reloaded.
    page = rest(ctx.base, "GET", "/api/notifications?limit=500&unread=true", token=ctx.bob_token)
    oldest = next(n for n in page["notifications"] if n["title"] == "Appointment 1 moved")
    rest(ctx.base, "POST", f"/api/notifications/{oldest['id']}/read", token=ctx.bob_token)
    wait_for(lambda: a.els('[data-testid="notification"]')[-1].get_attribute("data-read") == "true",
             "the list to reload with the oldest read")
    if a.els('[data-testid="older-notifications"]'):
        raise Failure("the oldest is shown, yet the list offers older notifications")
    a.shot("notifications-05-scrolled-header-stays")
    a.d.execute_script("document.querySelector('.panel').scrollTop = 0")
    a.shot("notifications-02-centre")


def check_mark_all_read_everywhere(ctx):
    a = ctx.app
    a.el('[data-testid="mark-all-read"]').click()
    wait_for(lambda: badge(a) == "", "the badge to go")
    wait_for(lambda: all(e.get_attribute("data-read") == "true" for e in a.els('[data-testid="notification"]')),
             "every entry shown read")
    if a.els('[data-testid="mark-read"]'):
        raise Failure("a Mark read control is left")
    wait_for(lambda: server_unread(ctx) == 0, "the server to have them all read", interval=0.3)
    listed = bob_cli_notifications(ctx)
    unread = [n for n in listed if not n["isRead"]]
    if len(listed) != NOTES or unread:
        raise Failure(f"bob's CLI lists {len(listed)} with {len(unread)} unread")
    a.shot("notifications-03-all-read")
    a.el('[data-testid="open-chats"]').click()


def check_click_while_in_the_tray_opens_the_list(ctx):
    a = ctx.app
    hide_window(ctx)
    rest(ctx.base, "POST", "/api/notifications", token=SERVICE,
         body={"users": ["bob"], "kind": "report.ready", "title": "Report ready",
               "message": "The quarterly report is ready"})
    n = ctx.desktop.notes.wait_text("The quarterly report is ready", 20)
    if window_count(ctx) != 0:
        raise Failure("the window came back before the click")
    # One click, sent to the connection that sent the notification only.
    ctx.desktop.click_notification(n["id"])
    wait_for(lambda: window_count(ctx) > 0, "the window to come back after a click on the notification")
    wait_for(a.current_window, "the window to come back")
    wait_for(lambda: a.el('[data-testid="open-notifications"]').get_attribute("aria-pressed") == "true",
             "the notification list to open")
    wait_for(lambda: any("Report ready" in text(e) for e in a.els('[data-testid="notification"]')),
             "the clicked notification in the list")
    a.shot("notifications-02-opened-from-a-click-in-the-tray")
    a.el('[data-testid="open-chats"]').click()


def app_threads(ctx):
    """The app process's thread count and resident memory in kB (/proc/PID/status)."""
    pattern = re.escape(os.path.abspath(APP)) + "( .*)?"
    pids = subprocess.run(["pgrep", "-f", "-x", pattern], capture_output=True, text=True).stdout.split()
    if len(pids) != 1:
        raise Failure(f"not one app process: {pids}")
    with open(f"/proc/{pids[0]}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def check_thirty_on_screen(ctx):
    """Thirty notifications on screen at once, raised one at a time (each its own pop-up, not
    a summary): the app's threads before and after are printed at the end (a
    figure, not a test: they were one per notification on screen before the one listener)."""
    hide_window(ctx)
    before = len(ctx.desktop.notes.snapshot())
    threads_before = app_threads(ctx)
    for i in range(30):
        title = f"Screen note {i + 1}"
        rest(ctx.base, "POST", "/api/notifications", token=SERVICE,
             body={"users": ["bob"], "kind": "screen.note", "title": title, "message": "on screen"})
        # Shown before the next is raised: the app holds that one for the throttle, then
        # shows it alone, a pop-up of its own (a flush from fewer than 3 places).
        ctx.desktop.notes.wait_text(title, 20)
    ids = {n["id"] for n in notes_since(ctx, before)}
    if len(ids) != 30:
        raise Failure(f"{len(ids)} notifications on screen, not 30")
    ctx.threads = (threads_before, app_threads(ctx))
    show_window(ctx)
    a = ctx.app
    a.el('[data-testid="open-notifications"]').click()
    a.el('[data-testid="mark-all-read"]').click()
    wait_for(lambda: badge(a) == "", "all read again")
    a.el('[data-testid="open-chats"]').click()


def check_joined_history_is_not_news(ctx):
    hide_window(ctx)
    before = len(ctx.desktop.notes.snapshot())
    carol = ctx.carol_token
    g = rest(ctx.base, "POST", "/api/conversations", token=carol,
             body={"kind": "group", "title": "Old times", "participants": ["alice"]})
    for i in range(30):
        rest(ctx.base, "POST", f"/api/conversations/{g['id']}/messages", token=carol,
             body={"clientId": str(uuid.uuid4()), "content": f"old history {i}"})
    rest(ctx.base, "POST", f"/api/conversations/{g['id']}/participants", token=carol, body={"users": ["bob"]})
    rest(ctx.base, "POST", f"/api/conversations/{g['id']}/messages", token=carol,
         body={"clientId": str(uuid.uuid4()), "content": "welcome, bob"})
    # The message after joining pops up: a barrier after which any pop-up of the history
    # would have come.
    try:
        ctx.desktop.notes.wait_text("welcome, bob", 20)
    except Failure as e:
        shown = [(n["id"], n["summary"], n["body"]) for n in notes_since(ctx, before)]
        raise Failure(f"{e}; shown meanwhile: {shown}")
    old = [n for n in notes_since(ctx, before) if "old history" in n["body"] or "old history" in n["summary"]]
    if old:
        raise Failure(f"the history before joining popped up: {old}")


def summary_count(n):
    """The notifications a summary counts ("40 new notifications", or "1 new message in 1
    conversation, 41 notifications" when messages are unseen too); 0 for other pop-ups."""
    m = re.search(r"(\d+) (new )?notifications?$", n["summary"])
    return int(m.group(1)) if m else 0


def check_forty_groups_few_pop_ups(ctx):
    hide_window(ctx)
    before = len(ctx.desktop.notes.snapshot())
    for i in range(40):
        rest(ctx.base, "POST", "/api/conversations", token=ctx.alice_token,
             body={"kind": "group", "title": f"Project {i + 1}", "participants": ["bob"]})
    # The summary counts the burst's notifications (the last one added to "Old times" may
    # belong to it too): it reaches 40 once all 40 are told.
    try:
        wait_for(lambda: any(summary_count(n) >= 40 for n in notes_since(ctx, before)),
                 "a summary counting the 40 groups", timeout=30)
    except Failure as e:
        raise Failure(f"{e}; shown: {[(n['id'], n['summary']) for n in notes_since(ctx, before)]}")
    made = notes_since(ctx, before)
    if len(made) > 4:
        raise Failure(f"40 groups made {len(made)} OS notification calls: {[n['summary'] for n in made]}")
    if len({n["id"] for n in made}) > 3:
        raise Failure(f"40 groups left {len({n['id'] for n in made})} notifications on screen")
    ctx.shown_for_forty = len(made)
    show_window(ctx)
    a = ctx.app
    a.el('[data-testid="open-notifications"]').click()
    wait_for(lambda: any("Project 40" in text(e) for e in a.els('[data-testid="notification"]')),
             "the 40 in the list")
    a.shot("notifications-04-forty-groups")
    a.el('[data-testid="mark-all-read"]').click()
    wait_for(lambda: badge(a) == "", "all read again")
    a.el('[data-testid="open-chats"]').click()


CHECKS = [
    ("bob signs in to the app", check_sign_in),
    (f"{NOTES} notifications: the badge counts them with the panel never opened", check_badge_counts_without_opening_the_panel),
    ("relaunched with the server down: the badge shows the unread count from the cache", check_badge_right_after_relaunch),
    ("mark one read without leaving the list; the list pages back to the oldest", check_mark_one_without_leaving_and_page_back),
    ("mark all read: the list and badge clear, the server and bob's other device (CLI) see them read",
     check_mark_all_read_everywhere),
    ("a click on a server notification while the window is in the tray: the window opens on the list",
     check_click_while_in_the_tray_opens_the_list),
    ("added to a group with a past: its history does not pop up, what follows does", check_joined_history_is_not_news),
    ("30 notifications on screen at once, each its own", check_thirty_on_screen),
    ("added to 40 groups at once: at most a few OS notifications, the last one a summary", check_forty_groups_few_pop_ups),
]


def seed(ctx):
    start_server(ctx, env=SERVER_ENV)
    ctx.bob_token = register(ctx, "bob", "Bob Okafor")
    ctx.alice_token = register(ctx, "alice", "Alice Martin")
    ctx.carol_token = register(ctx, "carol", "Carol Diaz")
    ctx.cli_env = dict(os.environ, TIDINGS_HOME=os.path.join(ctx.work, "bob-cli"), TIDINGS_CREDENTIALS="file")
    bob_cli(ctx, ["login", "--server", ctx.base, "--username", "bob", "--password-stdin"], input=PASSWORD + "\n")
    ctx.env = app_env(ctx, ctx.base)


def summary(ctx):
    if hasattr(ctx, "shown_for_forty"):
        print(f"e2e: 40 groups at once made {ctx.shown_for_forty} OS notification call(s)")
    if hasattr(ctx, "threads"):
        (t0, rss0), (t1, rss1) = ctx.threads
        print(f"e2e: the app with 30 notifications on screen: {t0} -> {t1} threads, "
              f"{rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB resident (window hidden both times)")


def main():
    return run_suite("notifications", Ctx("tidings-e2e-notes-"), CHECKS, seed, summary=summary)


if __name__ == "__main__":
    sys.exit(main())
