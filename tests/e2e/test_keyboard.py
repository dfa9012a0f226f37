#!/usr/bin/env python3
"""The app with the keyboard alone, its text size, and an accessibility check (run by run.sh
inside Xvfb and dbus-run-session).

    test_keyboard.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server: alice, bob, carol and dave are registered over REST, and bob, carol
and dave each start a direct conversation with alice. In the app, alice signs in and sends a
message in her third conversation using key presses only (WebDriver key actions, never a
click); then the shortcuts (Alt+arrows, Ctrl+F, Ctrl+,, Ctrl+K, Ctrl+/, Escape), the length
limit, the composer's emoji picker, the text size across a restart, and axe-core over the
main screens (no serious or critical violation). One line per check, then "N passed, M failed".
"""

import json
import os
import sys
import time
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (App, Ctx, Failure, app_env, axe, free_port, no_violations, rest, run_suite,  # noqa: E402
                     start_server, stop_server, wait_for, wait_port)

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
PASSWORD = "correct horse battery"
PEOPLE = {"alice": "Alice Martin", "bob": "Bob Okafor", "carol": "Carol Diaz", "dave": "Dave Lindqvist"}


# ---------------------------------------------------------------- keys, and what has focus


def press(a, *keys, mods=()):
    """Key presses on whatever has focus, through WebDriver's key actions (no clicks)."""
    chain = ActionChains(a.d)
    for m in mods:
        chain.key_down(m)
    for k in keys:
        chain.send_keys(k)
    for m in reversed(mods):
        chain.key_up(m)
    chain.perform()


def focused(a, attr="data-testid"):
    return a.d.execute_script("const e = document.activeElement; return e ? e.getAttribute(arguments[0]) : null", attr)


def focus_is(a, testid, what):
    wait_for(lambda: focused(a) == testid, f"{what} (focus on {focused(a)!r})")


def title(a):
    els = a.els('[data-testid="conversation-title"]')
    return els[0].get_attribute("textContent").strip() if els else None


def rows(a):
    """The conversation list as shown: [(id, name)]."""
    return a.d.execute_script("""
        return [...document.querySelectorAll('[data-testid=conversation]')]
          .map((r) => [r.dataset.id, r.querySelector('.name').textContent.trim()]);""")


def settings_file(ctx):
    with open(os.path.join(ctx.env["TIDINGS_APP_DIR"], "config", "settings.json")) as f:
        return json.load(f)


def history(ctx, cid, who="alice"):
    return rest(ctx.base, "GET", f"/api/conversations/{cid}/messages?limit=200", token=ctx.tokens[who])["messages"]


# ---------------------------------------------------------------- the checks


def check_signin_words(ctx):
    a = ctx.app
    wait_for(lambda: focused(a, "name") == "username", "the cursor in the username field")
    press(a, Keys.TAB, mods=(Keys.SHIFT,))
    wait_for(lambda: focused(a, "name") == "server", "Shift+Tab to the server field")
    closed = free_port()
    press(a, "a", mods=(Keys.CONTROL,))
    press(a, f"http://127.0.0.1:{closed}", Keys.TAB, "alice", Keys.TAB, PASSWORD, Keys.ENTER)
    said = wait_for(lambda: (a.els('[data-testid="signin-error"]') or [None])[0], "the sign-in error").text
    want = f"Can't reach 127.0.0.1:{closed}: the connection was refused. Check the address, or try again."
    if said != want:
        raise Failure(f"the sign-in error is not in words for people: {said!r}")
    a.shot("keys-00-signin-error")
    ctx.violations += axe(a, "sign-in")


def check_keyboard_only(ctx):
    a = ctx.app
    # Back to the server field, the right address, Enter: signed in.
    press(a, Keys.TAB, mods=(Keys.SHIFT,))
    press(a, Keys.TAB, mods=(Keys.SHIFT,))
    wait_for(lambda: focused(a, "name") == "server", "Shift+Tab back to the server field")
    press(a, "a", mods=(Keys.CONTROL,))
    press(a, ctx.base, Keys.ENTER)
    wait_for(lambda: len(rows(a)) == 3, "the three conversations")
    # Tab to the list: it is one stop.
    for _ in range(12):
        if focused(a) == "conversation":
            break
        press(a, Keys.TAB)
    if focused(a) != "conversation":
        raise Failure("Tab never reached the conversation list")
    listed = rows(a)
    first = focused(a, "data-id")
    if first != listed[0][0]:
        raise Failure(f"the list's Tab stop is not its first conversation: {first} of {listed}")
    press(a, Keys.TAB)
    if focused(a) == "conversation":
        raise Failure("the second conversation is a Tab stop of its own")
    press(a, Keys.TAB, mods=(Keys.SHIFT,))
    wait_for(lambda: focused(a, "data-id") == first, "Shift+Tab back into the list, on the same conversation")
    # Arrows inside, Enter opens the third; the composer has the focus.
    press(a, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    third_id, third_name = listed[2]
    wait_for(lambda: focused(a, "data-id") == third_id, "↓↓ on the third conversation")
    selected = a.d.execute_script("return document.activeElement.getAttribute('aria-selected')")
    if selected != "false":
        raise Failure(f"moving in the list opened a conversation (aria-selected {selected})")
    press(a, Keys.ENTER)
    wait_for(lambda: title(a) == third_name, f"{third_name} open")
    focus_is(a, "composer", "opening a conversation puts the focus in its composer")
    if a.els(f'[data-testid="conversation"][data-id="{third_id}"][aria-selected="true"]') == []:
        raise Failure("the open conversation is not marked aria-selected")
    text = f"typed without a mouse {uuid.uuid4().hex[:6]}"
    press(a, text, Keys.ENTER)
    wait_for(lambda: any(m["content"] == text for m in history(ctx, third_id)), "the message on the server", interval=0.3)
    ctx.listed = rows(a)
    ctx.third = third_id


def check_shortcuts(ctx):
    a = ctx.app
    listed = rows(a)
    at = [r[0] for r in listed].index(ctx.third)
    above = listed[(at - 1) % len(listed)]
    press(a, Keys.ARROW_UP, mods=(Keys.ALT,))
    wait_for(lambda: title(a) == above[1], "Alt+↑ opens the conversation above")
    focus_is(a, "composer", "the composer focused after Alt+↑")
    if a.els('[data-testid="edit-input"]'):
        raise Failure("Alt+↑ in the empty composer also started editing the last message")
    press(a, Keys.ARROW_DOWN, mods=(Keys.ALT,))
    wait_for(lambda: title(a) == dict(listed)[ctx.third], "Alt+↓ goes back")
    # Something unread elsewhere: Alt+Shift+↓ goes there.
    wait_for(lambda: all(c["unreadCount"] == 0 for c in rest(ctx.base, "GET", "/api/conversations?limit=50", token=ctx.tokens["alice"])["conversations"]
                         if c["id"] == ctx.third), "the open conversation read")
    unread_cid = ctx.direct["carol"]
    rest(ctx.base, "POST", f"/api/conversations/{unread_cid}/messages", token=ctx.tokens["carol"],
         body={"clientId": str(uuid.uuid4()), "content": "are you there?", "contentType": "TEXT"})
    wait_for(lambda: a.els(f'[data-testid="conversation"][data-id="{unread_cid}"] [data-testid="unread"]'), "carol's unread message")
    # The next one down (wrapping) that shows an unread count.
    now = rows(a)
    unread = {r[0] for r in now if a.els(f'[data-testid="conversation"][data-id="{r[0]}"] [data-testid="unread"]')}
    here = [r[1] for r in now].index(title(a))
    want = next(r for r in now[here + 1:] + now[:here] if r[0] in unread)
    press(a, Keys.ARROW_DOWN, mods=(Keys.ALT, Keys.SHIFT))
    wait_for(lambda: title(a) == want[1], f"Alt+Shift+↓ opens the next conversation with unread messages ({want[1]})")
    focus_is(a, "composer", "the composer focused after Alt+Shift+↓")
    # Ctrl+F: search, focus in its field; Escape: back to the composer.
    press(a, "f", mods=(Keys.CONTROL,))
    focus_is(a, "search-input", "Ctrl+F: the search field focused")
    press(a, Keys.ESCAPE)
    focus_is(a, "composer", "Escape from search: back to the composer")
    # Ctrl+,: settings.
    press(a, ",", mods=(Keys.CONTROL,))
    wait_for(lambda: a.els('[data-testid="text-size"]'), "Ctrl+, opens the settings")
    ctx.violations += axe(a, "settings")
    press(a, Keys.ESCAPE)
    focus_is(a, "composer", "Escape from settings: back to the composer")
    # Ctrl+K, a name, Enter: the composer has the focus; Escape also gives it back.
    press(a, "k", mods=(Keys.CONTROL,))
    focus_is(a, "switcher", "Ctrl+K: the switcher's field focused")
    press(a, "bob", Keys.ENTER)
    wait_for(lambda: title(a) == "Bob Okafor", "the switcher opens Bob")
    focus_is(a, "composer", "after the switcher, the composer")
    press(a, "k", mods=(Keys.CONTROL,))
    focus_is(a, "switcher", "Ctrl+K again")
    press(a, Keys.TAB)
    focus_is(a, "switcher", "Tab stays in the switcher")
    press(a, Keys.ESCAPE)
    focus_is(a, "composer", "Escape closes the switcher, focus to the composer")
    # Ctrl+/: the sheet; Tab stays inside; Escape closes it and gives the focus back.
    press(a, "/", mods=(Keys.CONTROL,))
    sheet = a.el('[data-testid="shortcut-sheet"]')
    listed_keys = sheet.get_attribute("textContent")
    for k in ("Alt+↑", "Alt+Shift+↑", "Ctrl+K", "Ctrl+N", "Ctrl+F", "Ctrl+,", "Ctrl+/", "Ctrl+=", "Escape", "Delete"):
        if k not in listed_keys:
            raise Failure(f"the shortcut sheet does not list {k}")
    a.shot("keys-01-shortcut-sheet")
    ctx.violations += axe(a, "shortcut sheet")
    for _ in range(3):
        press(a, Keys.TAB)
        inside = a.d.execute_script("return !!document.activeElement.closest('[data-testid=shortcut-sheet]')")
        if not inside:
            raise Failure("Tab left the shortcut sheet")
    press(a, Keys.ESCAPE)
    wait_for(lambda: not a.els('[data-testid="shortcut-sheet"]'), "Escape closes the sheet")
    focus_is(a, "composer", "the focus back where it was")
    # Ctrl+N: the new-conversation dialog traps and gives back too.
    press(a, "n", mods=(Keys.CONTROL,))
    wait_for(lambda: a.d.execute_script("return !!document.activeElement.closest('[role=dialog]')"), "Ctrl+N: focus in the dialog")
    press(a, "bo")
    wait_for(lambda: a.els('[data-testid="person"][data-id="bob"]'), "bob found")
    ctx.violations += axe(a, "new conversation")
    press(a, Keys.ESCAPE)
    focus_is(a, "composer", "Escape closes it, focus back in the composer")


def check_length(ctx):
    a = ctx.app
    cid = [r[0] for r in rows(a) if r[1] == title(a)][0]
    before = len(history(ctx, cid))
    box = a.el('[data-testid="composer"]')
    # A paste of 4,010 characters (inserted as the user's input: a maxlength would cut it).
    a.d.execute_script("arguments[0].focus(); document.execCommand('insertText', false, 'x'.repeat(4010))", box)
    wait_for(lambda: len(box.get_attribute("value")) == 4010, "all 4,010 characters kept (nothing cut)")
    note = a.el('[data-testid="length-note"]').text
    if "10 characters too long" not in note:
        raise Failure(f"past the limit the composer does not say so: {note!r}")
    if a.el('[data-testid="send"]').is_enabled():
        raise Failure("Send is offered for a message over the limit")
    press(a, Keys.ENTER)
    if len(box.get_attribute("value")) != 4010:
        raise Failure("Enter on a message over the limit changed the text")
    a.shot("keys-03-too-long")
    press(a, *([Keys.BACKSPACE] * 60))
    wait_for(lambda: a.el('[data-testid="length-note"]').text == "3,950 / 4,000", "the counter near the limit")
    box.send_keys(Keys.ENTER)
    wait_for(lambda: any(len(m["content"]) == 3950 for m in history(ctx, cid)), "3,950 characters sent", interval=0.3)
    if len(history(ctx, cid)) != before + 1:
        raise Failure("the refused message was sent anyway")


def check_composer_emoji(ctx):
    a = ctx.app
    focus_is(a, "composer", "the composer")
    press(a, "launch ")
    press(a, Keys.TAB)
    focus_is(a, "composer-emoji", "Tab to the emoji button")
    press(a, Keys.ENTER)
    focus_is(a, "emoji-search", "the picker's search field")
    press(a, "rocket", Keys.ENTER)
    focus_is(a, "composer", "the focus back in the composer")
    value = a.el('[data-testid="composer"]').get_attribute("value")
    if value != "launch 🚀":
        raise Failure(f"the emoji was not inserted at the caret: {value!r}")
    press(a, "a", mods=(Keys.CONTROL,))
    press(a, Keys.BACKSPACE)


def zoom_state(a):
    return a.d.execute_script("return window.innerWidth")


def check_zoom(ctx):
    a = ctx.app
    press(a, "k", mods=(Keys.CONTROL,))
    press(a, "carol", Keys.ENTER)
    wait_for(lambda: title(a) == "Carol Diaz", "Carol open")
    w100 = zoom_state(a)
    press(a, "=", mods=(Keys.CONTROL,))
    press(a, "=", mods=(Keys.CONTROL,))
    wait_for(lambda: settings_file(ctx).get("zoomPercent") == 125, "Ctrl+= twice: 125 % in the settings")
    wait_for(lambda: abs(zoom_state(a) * 1.25 - w100) <= 3, f"the page zoomed to 125 % (width {zoom_state(a)} of {w100})")
    a.shot("keys-02-zoomed")
    ctx.violations += axe(a, "conversation (zoomed)")
    # Restart: the text size comes back.
    a.quit()
    ctx.app = a = App(ctx.work, ctx.env, APP, SHOTS)
    wait_for(lambda: a.els('[data-testid="conversations"]'), "the window after the restart")
    zoomed = zoom_state(a)
    press(a, "0", mods=(Keys.CONTROL,))
    wait_for(lambda: settings_file(ctx).get("zoomPercent") == 100, "Ctrl+0: back to 100 %")
    wait_for(lambda: abs(zoomed * 1.25 - zoom_state(a)) <= 3, f"the restarted window was at 125 % (width {zoomed}, now {zoom_state(a)})")
    press(a, "-", mods=(Keys.CONTROL,))
    wait_for(lambda: settings_file(ctx).get("zoomPercent") == 90, "Ctrl+-: 90 %")
    press(a, "0", mods=(Keys.CONTROL,))
    wait_for(lambda: settings_file(ctx).get("zoomPercent") == 100, "Ctrl+0")


def announcements(a, after=0):
    """What the live region said after announcement number `after`: [(number, text)]."""
    return [(n, t) for n, t in a.d.execute_script(
        "return [...document.querySelectorAll('[data-testid=announcements] p')].map((p) => [Number(p.dataset.n), p.textContent])")
        if n > after]


def waiting_long(a):
    """The seconds left of a reconnect countdown of at least 5 s, else None."""
    t = a.el('[data-testid="banner"]').text
    if t.startswith("Reconnecting in "):
        n = int(t.split()[2])
        return n if n >= 5 else None
    return None


def reconnect_before_backoff(ctx, how, act):
    """Server down until the countdown has 5 s or more left, server back, then `act`: live must
    come before the countdown would have run out (without it, the engine waits)."""
    a = ctx.app
    port = int(ctx.base.rsplit(":", 1)[1])
    before = max([n for n, _ in announcements(a)], default=0)
    stop_server(ctx)
    secs = wait_for(lambda: waiting_long(a), "a reconnect countdown of 5 s or more", timeout=120, interval=0.2)
    pressed_by = time.monotonic() + secs - 1
    said = [t for _, t in announcements(a, before) if "reconnecting" in t.lower()]
    if len(said) != 1:
        raise Failure(f"the connection loss was announced {len(said)} times: {announcements(a, before)}")
    start_server(ctx, port)
    wait_port(port)
    if time.monotonic() >= pressed_by:
        return False  # (the machine was too slow to tell: try again)
    act()
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", f"live again after {how}", timeout=60)
    if time.monotonic() >= pressed_by:
        raise Failure(f"{how} did not reconnect before the backoff ran out")
    wait_for(lambda: [t for _, t in announcements(a, before)].count("Connected") == 1, "the reconnection announced once")
    return True


def check_reconnect_now(ctx):
    a = ctx.app
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "live")

    def press_button():
        btn = a.el('[data-testid="reconnect-now"]')
        a.d.execute_script("arguments[0].focus()", btn)
        press(a, Keys.ENTER)

    for how, act in (("Reconnect now", press_button),
                     ("the OS saying the network is back", lambda: a.d.execute_script("window.dispatchEvent(new Event('online'))"))):
        for _ in range(3):
            if reconnect_before_backoff(ctx, how, act):
                break
        else:
            raise Failure(f"could not set up a long enough countdown to test {how}")


def check_axe(ctx):
    a = ctx.app
    press(a, "k", mods=(Keys.CONTROL,))
    press(a, "bob", Keys.ENTER)
    wait_for(lambda: title(a) == "Bob Okafor", "Bob open")
    wait_for(lambda: a.els('[data-testid="message"]'), "messages on screen")
    ctx.violations += axe(a, "conversation")
    for panel in ("notifications", "search"):
        a.el(f'[data-testid="open-{panel}"]').click()
        ctx.violations += axe(a, panel)
    press(a, Keys.ESCAPE)
    no_violations(ctx.violations)


CHECKS = [
    ("sign-in: an unreachable server is said in words for people (no socket error)", check_signin_words),
    ("keyboard only: sign in, Tab to the list (one Tab stop), ↓↓ Enter opens the third conversation, "
     "the composer has the focus, Enter sends", check_keyboard_only),
    ("shortcuts: Alt+↑/↓, Alt+Shift+↓ to unread, Ctrl+F, Ctrl+,, Ctrl+K, Ctrl+/ and Ctrl+N dialogs trap focus; "
     "Escape closes and the composer has the focus", check_shortcuts),
    ("the length limit: nothing is cut, a counter near it, a refusal past it", check_length),
    ("the composer's emoji picker inserts at the caret, by keyboard", check_composer_emoji),
    ("text size: Ctrl+= / Ctrl+- / Ctrl+0 zoom the window, and it is kept across a restart", check_zoom),
    ("Reconnect now, and the OS's 'online', reconnect before the backoff runs out; the loss and the return "
     "are each announced once", check_reconnect_now),
    ("axe-core: no serious or critical violation on the sign-in, conversation, settings, search, notifications, "
     "dialog and sheet screens", check_axe),
]


def seed(ctx):
    start_server(ctx)
    ctx.tokens = {u: rest(ctx.base, "POST", "/api/auth/register",
                          body={"username": u, "password": PASSWORD, "displayName": n})["accessToken"]
                  for u, n in PEOPLE.items()}
    ctx.direct = {}
    for u in ("bob", "carol", "dave"):
        c = rest(ctx.base, "POST", "/api/conversations", token=ctx.tokens[u],
                 body={"kind": "direct", "participants": ["alice"]})
        ctx.direct[u] = c["id"]
        rest(ctx.base, "POST", f"/api/conversations/{c['id']}/messages", token=ctx.tokens[u],
             body={"clientId": str(uuid.uuid4()), "content": f"hello from {u}", "contentType": "TEXT"})
    ctx.env = app_env(ctx, ctx.base)


def main():
    ctx = Ctx("tidings-e2e-keys-")
    ctx.violations = []
    return run_suite("keyboard", ctx, CHECKS, seed)


if __name__ == "__main__":
    sys.exit(main())
