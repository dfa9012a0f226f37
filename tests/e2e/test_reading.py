#!/usr/bin/env python3
"""Reading and drafts, end to end in the real app (run by run.sh inside Xvfb and
dbus-run-session).

    test_reading.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server: alice, bob and carol registered over REST; a group "Team", a direct
conversation alice-bob, and a group "Reading club" whose first messages are dated three days
ago and yesterday (written into the server's database while it is stopped: REST cannot
backdate). The app signs alice in from the environment. Checks: a draft stays with its
conversation across switching, hiding to the tray and a restart, and is never sent elsewhere;
80 unread open at the first one with a "New messages" line and only what is seen is marked
read (the server's read marker, over REST); date separators; the jump button; each
conversation's scroll position; the window's size after a restart. One line per check, then
"N passed, M failed".
"""

import glob
import os
import sqlite3
import sys
import time

from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import App, Ctx, Failure, Person, app_env, run_suite, start_server, stop_server, wait_for  # noqa: E402

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
PASSWORD = "correct horse battery"
DRAFT = "half a thought for the team"
DAY_MS = 86_400_000


def person(base, user, name):
    return Person(base, user, name, PASSWORD)


def seed(ctx):
    """The people and conversations; the Reading club's first eight messages backdated."""
    ctx.alice, ctx.bob, ctx.carol = (person(ctx.base, u, n) for u, n in
                                     (("alice", "Alice Martin"), ("bob", "Bob Okafor"), ("carol", "Carol Diaz")))
    ctx.team = ctx.alice.call("POST", "/api/conversations",
                              {"kind": "group", "title": "Team", "participants": ["bob", "carol"]})["id"]
    ctx.direct = ctx.bob.call("POST", "/api/conversations", {"kind": "direct", "participants": ["alice"]})["id"]
    ctx.bob.send(ctx.direct, "Hi Alice")
    ctx.bob.send(ctx.team, "Morning, team")
    ctx.club = ctx.bob.call("POST", "/api/conversations",
                            {"kind": "group", "title": "Reading club", "participants": ["alice", "carol"]})["id"]
    lines = ["Which book next?", "Something short, please", "Then a novella", "Agreed",
             "I finished chapter one", "Me too", "The ending is near", "No spoilers!",
             "Meeting on Friday?", "Friday works", "Friday it is", "See you then"]
    for i, text in enumerate(lines):
        (ctx.bob if i % 3 != 1 else ctx.carol).send(ctx.club, text)
    last = ctx.alice.history(ctx.club)[-1]["seq"]
    ctx.alice.call("POST", f"/api/conversations/{ctx.club}/read", {"upTo": last})
    ctx.club_read = last
    port = ctx.port
    stop_server(ctx)
    db = [p for p in glob.glob(os.path.join(ctx.data, "*.db")) if "messages" in tables(p)]
    if len(db) != 1:
        raise Failure(f"cannot find the server's database in {os.listdir(ctx.data)}")
    now = int(time.time() * 1000)
    with sqlite3.connect(db[0]) as conn:
        conn.execute("UPDATE messages SET created_at = ? - (5 - seq) * 60000 WHERE conversation_id = ? AND seq <= 4",
                     (now - 3 * DAY_MS, ctx.club))
        conn.execute("UPDATE messages SET created_at = ? - (9 - seq) * 60000 WHERE conversation_id = ? AND seq BETWEEN 5 AND 8",
                     (now - DAY_MS, ctx.club))
    start_server(ctx, port)


def tables(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


# ---------------------------------------------------------------- helpers on the app


def composer_text(a):
    return a.el('[data-testid="composer"]').get_attribute("value")


def draft_marker(a, name):
    row = a.conversation_row(name)
    found = row.find_elements("css selector", '[data-testid="draft"]') if row else []
    return found[0].get_attribute("textContent").strip() if found else ""


def window_count(a):
    try:
        return len(a.d.window_handles)
    except Exception:  # the session's window is gone
        return 0


def hide_window(ctx):
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: window_count(ctx.app) == 0, "the window to hide")


def show_window(ctx):
    ctx.desktop.click_menu("Show/Hide")
    wait_for(ctx.app.current_window, "the window to come back")
    wait_for(lambda: ctx.app.els('[data-testid="conversations"]'), "the window's content")


SCROLLER = 'document.querySelector("[data-testid=messages]")'


def visible_seqs(a):
    """The timeline's entries at least half in view (the app's rule for "seen")."""
    return a.d.execute_script(f"""
        const s = {SCROLLER}; const box = s.getBoundingClientRect(); const out = [];
        for (const el of s.querySelectorAll('[data-seq]')) {{
          const r = el.getBoundingClientRect();
          const shown = Math.max(0, Math.min(r.bottom, box.bottom) - Math.max(r.top, box.top));
          if (r.height > 0 && (shown / r.height >= 0.5 || shown >= box.height / 2)) out.push(Number(el.dataset.seq));
        }}
        return out;""")


def scroll_to(a, where):
    a.d.execute_script(f"const s = {SCROLLER}; s.scrollTop = arguments[0] === 'top' ? 0 : s.scrollHeight;", where)


def unread_badge(a, name):
    row = a.conversation_row(name)
    found = row.find_elements("css selector", '[data-testid="unread"]') if row else []
    return found[0].get_attribute("textContent").strip() if found else ""


# ---------------------------------------------------------------- the checks


def check_draft_switching(ctx):
    a = ctx.app
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "the banner to say Live")
    a.open_conversation("Team")
    box = a.el('[data-testid="composer"]')
    box.click()
    box.send_keys(DRAFT)
    a.open_conversation("Bob Okafor")
    if composer_text(a) != "":
        raise Failure(f"Bob's composer shows {composer_text(a)!r}: the draft followed alice")
    wait_for(lambda: DRAFT in draft_marker(a, "Team"), "the Draft marker on Team")
    # Enter in Bob's (empty) composer sends nothing; a message of its own goes to Bob alone.
    a.el('[data-testid="composer"]').send_keys(Keys.ENTER)
    a.type_and_send("Hello Bob")
    wait_for(lambda: any(m["content"] == "Hello Bob" for m in ctx.bob.history(ctx.direct)), "Hello Bob on the server")
    a.shot("reading-00-draft-marker")
    a.open_conversation("Team")
    wait_for(lambda: composer_text(a) == DRAFT, "the draft back in Team's composer")
    sent = [m["content"] for m in ctx.bob.history(ctx.direct)] + [m["content"] for m in ctx.bob.history(ctx.team)]
    if DRAFT in sent:
        raise Failure("the draft was sent")


def check_draft_hide_show(ctx):
    a = ctx.app
    hide_window(ctx)
    show_window(ctx)
    wait_for(lambda: a.title() == "Team", "Team open again after hide/show")
    wait_for(lambda: composer_text(a) == DRAFT, "the draft after hide/show")


def check_unread_line(ctx):
    a = ctx.app
    first = ctx.club_read + 1
    for i in range(80):
        ctx.bob.send(ctx.club, f"Unread number {i + 1}")
    last = first + 79
    wait_for(lambda: unread_badge(a, "Reading club") == "80", "80 unread on Reading club", timeout=40)
    a.open_conversation("Reading club")
    line = a.el('[data-testid="new-messages-line"]')
    after = a.d.execute_script("""
        let n = arguments[0].nextElementSibling;
        while (n && !n.dataset.seq) n = n.nextElementSibling;
        return n ? Number(n.dataset.seq) : null;""", line)
    if after != first:
        raise Failure(f"the New messages line is above seq {after}, not the first unread {first}")
    wait_for(lambda: first in visible_seqs(a), "the first unread message in view")
    seen = max(visible_seqs(a))
    if seen >= last:
        raise Failure(f"the window shows everything up to {seen}: nothing is below the fold")
    # What is in view is read; nothing below it.
    wait_for(lambda: ctx.alice.read_seq(ctx.club) >= seen, f"the server's marker to reach {seen}", interval=0.3)
    marker = ctx.alice.read_seq(ctx.club)
    if marker > max(visible_seqs(a)):
        raise Failure(f"the server's marker is {marker}, past what was in view ({max(visible_seqs(a))})")
    a.shot("reading-01-new-messages-line")
    scroll_to(a, "bottom")
    wait_for(lambda: ctx.alice.read_seq(ctx.club) == last, "everything read once scrolled to", interval=0.3)
    ctx.club_last = last


def check_date_separators(ctx):
    a = ctx.app
    scroll_to(a, "top")
    labels = lambda: [e.get_attribute("textContent").strip() for e in a.els('[data-testid="day-separator"]')]
    wait_for(lambda: len(labels()) == 3, "three date separators")
    got = labels()
    if got[1:] != ["Yesterday", "Today"] or got[0] in ("", "Today", "Yesterday"):
        raise Failure(f"the date separators say {got}")
    a.shot("reading-02-date-separators")


def check_jump_button(ctx):
    a = ctx.app
    scroll_to(a, "top")
    wait_for(lambda: a.els('[data-testid="to-newest"]'), "the jump button when scrolled up")
    ctx.bob.send(ctx.club, "A new one while alice reads back")
    button = lambda: a.el('[data-testid="to-newest"]')
    wait_for(lambda: button().get_attribute("data-count") == "1", "the button to count 1 new message")
    if button().get_attribute("textContent").strip() != "1 new message":
        raise Failure(f"the button says {button().get_attribute('textContent')!r}")
    if ctx.alice.read_seq(ctx.club) != ctx.club_last:
        raise Failure("the message that arrived while scrolled up was marked read")
    a.shot("reading-03-jump-button")
    button().click()
    wait_for(lambda: not a.els('[data-testid="to-newest"]'), "the button gone at the newest message")
    wait_for(lambda: ctx.alice.read_seq(ctx.club) == ctx.club_last + 1, "the new message read once jumped to", interval=0.3)


def check_scroll_per_conversation(ctx):
    a = ctx.app
    scroll_to(a, "top")
    wait_for(lambda: min(visible_seqs(a)) <= 2, "Reading club at its first messages")
    a.open_conversation("Team")
    a.open_conversation("Reading club")
    wait_for(lambda: visible_seqs(a) and min(visible_seqs(a)) <= 2, "Reading club back at its first messages")
    a.open_conversation("Bob Okafor")
    wait_for(lambda: a.els('[data-testid="message"]'), "Bob's messages")
    if a.els('[data-testid="to-newest"]'):
        raise Failure("Bob's conversation opened scrolled up: the place of another conversation leaked")
    a.open_conversation("Team")


def check_restart(ctx):
    a = ctx.app
    wait_for(lambda: composer_text(a) == DRAFT, "the draft in Team before the restart")
    a.d.set_window_size(900, 600)
    wait_for(lambda: a.d.get_window_size() == {"width": 900, "height": 600}, "the window at 900×600")
    ctx.desktop.click_menu("Quit Tidings")
    try:
        wait_for(lambda: window_count(a) == 0, "the app to quit")
    finally:
        a.quit()
    ctx.app = a = App(ctx.work, ctx.env, APP, SHOTS)
    wait_for(lambda: a.els('[data-testid="conversations"]'), "the window after the restart")
    size = a.d.get_window_size()
    if size != {"width": 900, "height": 600}:
        raise Failure(f"the window came back at {size['width']}×{size['height']}, not 900×600")
    wait_for(lambda: a.title() == "Team", "Team open again after the restart")
    wait_for(lambda: composer_text(a) == DRAFT, "the draft after the restart")
    a.open_conversation("Reading club")
    wait_for(lambda: visible_seqs(a) and min(visible_seqs(a)) <= 2, "Reading club where it was left, after the restart")
    a.open_conversation("Team")
    wait_for(lambda: composer_text(a) == DRAFT, "the draft once more")
    a.el('[data-testid="composer"]').send_keys(Keys.ENTER)
    wait_for(lambda: any(m["content"] == DRAFT for m in ctx.bob.history(ctx.team)), "the draft sent to Team")
    if any(m["content"] == DRAFT for m in ctx.bob.history(ctx.direct)):
        raise Failure("the draft went to Bob")
    a.open_conversation("Bob Okafor")
    if draft_marker(a, "Team"):
        raise Failure("Team still shows a draft after sending it")


CHECKS = [
    ("a draft typed in Team stays there: not in Bob's composer, marked in the list, never sent to Bob",
     check_draft_switching),
    ("hidden to the tray and shown: Team is open again with its draft", check_draft_hide_show),
    ("80 unread open at the first one under a 'New messages' line; only what is in view is marked read "
     "(the server's marker), the rest once scrolled to", check_unread_line),
    ("date separators: a weekday, Yesterday, Today", check_date_separators),
    ("scrolled up, a new message shows '1 new message' and is not marked read; the button jumps and reads it",
     check_jump_button),
    ("each conversation keeps its own scroll position across switching", check_scroll_per_conversation),
    ("after Quit and a new start: the window's size, the open conversation, its draft and another's scroll "
     "position come back; Enter sends the draft to Team only", check_restart),
]


def start(ctx):
    start_server(ctx)
    seed(ctx)
    ctx.env = app_env(ctx, ctx.base, TIDINGS_DEMO_USER="alice", TIDINGS_DEMO_PASSWORD=PASSWORD)


def main():
    return run_suite("reading", Ctx("tidings-e2e-reading-"), CHECKS, start)


if __name__ == "__main__":
    sys.exit(main())
