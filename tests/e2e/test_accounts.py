#!/usr/bin/env python3
"""Several accounts in one app, end to end (run by run.sh inside Xvfb and dbus-run-session).

    test_accounts.py APP SERVER CLI SCREENSHOT_DIR

Two tidings-server processes: "work" (alice, bob: a direct conversation) and "community"
(carol, dave: a group "Board games"). The app signs alice in to work from the environment;
carol is added from the account switcher's "Add account" without signing alice out. Checks:
both accounts side by side, each with its own conversations; each gets its own messages and
desktop notifications, which name the account; the tray adds their unread up; axe-core finds
no serious or critical violation in the switcher or the Add account form; Ctrl+1 and
Ctrl+2 switch; do-not-disturb on one does not silence the other; after a restart both come
back, on the one shown last, with their settings; signing out of one leaves the other
working. One line per check, then "N passed, M failed".
"""

import json
import os
import sys

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import App, Ctx, Failure, Person, Server, app_env, axe, no_violations, run_suite, wait_for  # noqa: E402

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
PASSWORD = "correct horse battery"


def person(base, user, name):
    return Person(base, user, name, PASSWORD)


def seed(ctx):
    ctx.work_server = Server(ctx, "work")
    ctx.community = Server(ctx, "community")
    ctx.alice = person(ctx.work_server.base, "alice", "Alice Martin")
    ctx.bob = person(ctx.work_server.base, "bob", "Bob Okafor")
    ctx.direct = ctx.bob.call("POST", "/api/conversations", {"kind": "direct", "participants": ["alice"]})["id"]
    ctx.bob.send(ctx.direct, "Hi Alice, from work")
    ctx.carol = person(ctx.community.base, "carol", "Carol Diaz")
    ctx.dave = person(ctx.community.base, "dave", "Dave Lee")
    ctx.games = ctx.dave.call("POST", "/api/conversations",
                              {"kind": "group", "title": "Board games", "participants": ["carol"]})["id"]
    ctx.dave.send(ctx.games, "Game night on Friday?")
    ctx.alice_id = f"alice@127.0.0.1:{ctx.work_server.port}"
    ctx.carol_id = f"carol@127.0.0.1:{ctx.community.port}"
    ctx.env = app_env(ctx, ctx.work_server.base, TIDINGS_DEMO_USER="alice", TIDINGS_DEMO_PASSWORD=PASSWORD)
    ctx.app_dir = ctx.env["TIDINGS_APP_DIR"]


def stop_servers(ctx):
    for s in ("work_server", "community"):
        if hasattr(ctx, s):
            getattr(ctx, s).stop()


# ---------------------------------------------------------------- helpers on the app


def account_ids(a):
    return [e.get_attribute("data-id") for e in a.els('[data-testid="account"]')]


def active_account(a):
    for e in a.els('[data-testid="account"]'):
        if e.get_attribute("aria-current") == "true":
            return e.get_attribute("data-id")
    return None


def account_unread(a, account):
    for e in a.els('[data-testid="account"]'):
        if e.get_attribute("data-id") == account:
            # (the badge is beside the account's button, in its slot)
            found = e.find_element(By.XPATH, "..").find_elements(By.CSS_SELECTOR, '[data-testid="account-unread"]')
            return found[0].get_attribute("textContent").strip() if found else ""
    return None


def list_names(a):
    return [e.get_attribute("textContent").strip() for e in a.els('[data-testid="conversation"] .name')]


def shows(a, account, conversation):
    """The window shows `account`, its list holding `conversation` (and its alone)."""
    return active_account(a) == account and conversation in list_names(a)


def notes_with(ctx, text):
    return [n for n in ctx.desktop.notes.snapshot() if text in n["body"] or text in n["summary"]]


def press(a, key):
    """Ctrl+`key` wherever the focus is, as the keyboard gives it."""
    ActionChains(a.d).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()


# ---------------------------------------------------------------- the checks


def check_add_account(ctx):
    a = ctx.app
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "alice's banner to say Live")
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor"), "alice's list")
    a.el('[data-testid="add-account"]').click()
    form = a.el('[data-testid="signin"]')
    server = form.find_element(By.NAME, "server")
    server.clear()
    server.send_keys(ctx.community.base)
    form.find_element(By.NAME, "username").send_keys("carol")
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    a.shot("accounts-00-add-account")
    form.find_element(By.NAME, "password").send_keys(Keys.ENTER)
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "carol's list after adding her account")
    if account_ids(a) != [ctx.alice_id, ctx.carol_id]:
        raise Failure(f"the switcher shows {account_ids(a)}")
    if "Bob Okafor" in list_names(a):
        raise Failure("carol's list shows alice's conversation")
    # Alice is still signed in: her badge counts her unread message.
    wait_for(lambda: account_unread(a, ctx.alice_id) == "1", "alice's unread count in the switcher")
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "carol's banner to say Live")


def check_own_messages_and_notifications(ctx):
    a = ctx.app
    ctx.bob.send(ctx.direct, "work news for alice")
    n = wait_for(lambda: notes_with(ctx, "work news for alice"), "alice's desktop notification")[-1]
    if ctx.alice_id not in n["summary"] + n["body"]:
        raise Failure(f"the notification does not say whose account: {n}")
    ctx.dave.send(ctx.games, "community news for carol")
    n = wait_for(lambda: notes_with(ctx, "community news for carol"), "carol's desktop notification")[-1]
    if ctx.carol_id not in n["summary"] + n["body"]:
        raise Failure(f"the notification does not say whose account: {n}")
    if notes_with(ctx, "community news for carol")[-1]["summary"].find(ctx.alice_id) >= 0:
        raise Failure("carol's notification names alice's account")
    wait_for(lambda: account_unread(a, ctx.alice_id) == "2", "alice's unread count to be 2")
    # The open account's own list has carol's news; the tray adds both accounts up.
    wait_for(lambda: "community news for carol" in a.d.execute_script(
        "return arguments[0].textContent", a.conversation_row("Board games")), "carol's list")
    wait_for(lambda: ctx.desktop.label() == "Tidings — 4 unread — live", "the tray to add both accounts up")
    wait_for(lambda: a.el('[data-testid="account"][aria-current="true"]'), "the active account")
    a.shot("accounts-01-switcher")


def check_axe(ctx):
    a = ctx.app
    # Two accounts signed in: the switcher with alice's unread badge, carol's account shown.
    wait_for(lambda: account_unread(a, ctx.alice_id) == "2" and active_account(a) == ctx.carol_id,
             "the switcher with alice's badge, carol's account shown")
    violations = axe(a, "two accounts (the switcher with unread badges)")
    # The Add account form over the others, then cancelled: carol's account again.
    a.el('[data-testid="add-account"]').click()
    a.el('[data-testid="cancel-add-account"]')
    violations += axe(a, "add account")
    a.el('[data-testid="cancel-add-account"]').click()
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "carol's account after cancelling the form")
    no_violations(violations)


def check_ctrl_switches(ctx):
    a = ctx.app
    press(a, "1")
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor"), "Ctrl+1 to show alice's account")
    if "Board games" in list_names(a):
        raise Failure("alice's list shows carol's conversation")
    a.open_conversation("Bob Okafor")
    wait_for(lambda: "work news for alice" in a.message_texts(), "alice's conversation with Bob")
    press(a, "2")
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "Ctrl+2 to show carol's account")
    press(a, "1")
    # Alice's account comes back with the conversation it had open.
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor") and a.title() == "Bob Okafor",
             "alice's account with Bob's conversation open again")
    a.shot("accounts-03-switched-back")
    press(a, "2")
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "Ctrl+2 again")


def check_settings_apart(ctx):
    a = ctx.app
    # Carol's do-not-disturb, from her account's settings.
    a.el('[data-testid="open-settings"]').click()
    a.el('[data-testid="dnd"]').click()
    wait_for(lambda: a.el('[data-testid="dnd"]').is_selected(), "carol's do-not-disturb on")
    a.shot("accounts-02-settings")
    a.el('[data-testid="open-chats"]').click()
    ctx.dave.send(ctx.games, "said during carol's quiet")
    wait_for(lambda: "said during carol's quiet" in a.d.execute_script(
        "return arguments[0].textContent", a.conversation_row("Board games")), "carol's list to have it")
    # Alice's account is not silenced: hers still pops up (and is the barrier for carol's).
    ctx.bob.send(ctx.direct, "alice still hears")
    wait_for(lambda: notes_with(ctx, "alice still hears"), "alice's notification while carol has DND")
    if notes_with(ctx, "said during carol's quiet"):
        raise Failure("carol's do-not-disturb let a notification through")
    # And alice's settings still say do-not-disturb is off.
    press(a, "1")
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor"), "alice's account")
    a.el('[data-testid="open-settings"]').click()
    if a.el('[data-testid="dnd"]').is_selected():
        raise Failure("alice's settings show carol's do-not-disturb")
    a.el('[data-testid="open-chats"]').click()


def check_restart(ctx):
    a = ctx.app
    press(a, "2")
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "carol's account before the restart")
    ctx.desktop.click_menu("Quit Tidings")
    try:
        wait_for(lambda: not window_open(a), "the app to quit")
    finally:
        a.quit()
    ctx.app = a = App(ctx.work, ctx.env, APP, SHOTS)
    # Both accounts come back, on the one shown last, each with its own settings.
    wait_for(lambda: account_ids(a) == [ctx.alice_id, ctx.carol_id], "both accounts after the restart")
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "carol's account shown again")
    a.el('[data-testid="open-settings"]').click()
    wait_for(lambda: a.el('[data-testid="dnd"]').is_selected(), "carol's do-not-disturb after the restart")
    press(a, "1")
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor"), "alice's account after the restart")
    a.el('[data-testid="open-settings"]').click()
    if a.el('[data-testid="dnd"]').is_selected():
        raise Failure("alice's do-not-disturb is on after the restart")
    a.el('[data-testid="open-chats"]').click()


def window_open(a):
    try:
        return len(a.d.window_handles) > 0
    except Exception:  # the session's window is gone
        return False


def check_sign_out_one(ctx):
    a = ctx.app
    press(a, "2")
    wait_for(lambda: shows(a, ctx.carol_id, "Board games"), "carol's account")
    a.el('[data-testid="open-settings"]').click()
    a.el('[data-testid="sign-out"]').click()
    wait_for(lambda: account_ids(a) == [ctx.alice_id], "only alice's account left")
    wait_for(lambda: shows(a, ctx.alice_id, "Bob Okafor"), "alice's list after carol signed out")
    ctx.bob.send(ctx.direct, "after carol left")
    wait_for(lambda: notes_with(ctx, "after carol left"), "alice's notification after carol signed out")
    wait_for(lambda: "after carol left" in a.message_texts() or "after carol left" in a.d.execute_script(
        "return arguments[0].textContent", a.conversation_row("Bob Okafor")), "alice's list or timeline")
    # One account now: notifications do not name it.
    n = notes_with(ctx, "after carol left")[-1]
    if ctx.alice_id in n["summary"]:
        raise Failure(f"with one account the notification still names it: {n}")
    saved = json.load(open(os.path.join(ctx.app_dir, "data", "desktop-accounts.json")))
    if [x["user"] for x in saved] != ["alice"]:
        raise Failure(f"the saved accounts are {saved}")


CHECKS = [
    ("add an account beside the first: both signed in, each with its own list", check_add_account),
    ("each account gets its own messages and notifications, which name it; the tray adds them up",
     check_own_messages_and_notifications),
    ("axe-core: no serious or critical violation with two accounts signed in (the switcher with unread badges) "
     "or on the Add account form over them", check_axe),
    ("Ctrl+1 and Ctrl+2 switch accounts; each keeps its open conversation", check_ctrl_switches),
    ("settings apart: do-not-disturb on carol's account does not silence alice's", check_settings_apart),
    ("after a restart both accounts come back, on the one shown last, with their settings", check_restart),
    ("signing out of one account leaves the other working", check_sign_out_one),
]


def main():
    return run_suite("accounts", Ctx("tidings-e2e-accounts-"), CHECKS, seed, stop=stop_servers)


if __name__ == "__main__":
    sys.exit(main())
