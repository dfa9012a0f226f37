#!/usr/bin/env python3
"""The chat a new user lives in, end to end in the real app (run by run.sh inside Xvfb and
dbus-run-session, after test_app.py).

    test_chat.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server (no demo data): bob, carol and dave are registered over REST and act
over REST; alice creates her account in the app's sign-in form and does everything else from
the UI: starts a direct conversation and a group, manages the group, edits, deletes, replies,
reacts, mentions, writes Markdown, leaves. The fake notification service on the private bus
records the OS notifications. One line per check, then "N passed, M failed".
"""

import os
import sys

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Ctx, Failure, Person, app_env, rest, rest_status, run_suite, start_server, wait_for  # noqa: E402

PASSWORD = "correct horse battery"
PEOPLE = {"bob": "Bob Okafor", "carol": "Carol Diaz", "dave": "Dave Lindqvist"}


def person(base, user, name):
    return Person(base, user, name, PASSWORD)


# ---------------------------------------------------------------- helpers on the app


def text(el):
    """An element's text content (WebDriver's visible text can come back empty for clipped
    or just re-rendered elements in WebKit)."""
    return (el.get_attribute("textContent") or "").strip()



def ctrl(a, key):
    ActionChains(a.d).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()


def message_el(a, text):
    """The timeline entry whose text is `text` (exactly)."""
    return a.d.execute_script("""
        for (const m of document.querySelectorAll('[data-testid=message]')) {
          const t = m.querySelector('.text');
          if (t && t.textContent.trim() === arguments[0]) return m;
        }
        return null;""", text)


def wait_message(a, text, what=None):
    return wait_for(lambda: message_el(a, text), what or f"the message {text!r}")


def action(a, msg, name):
    """Focuses a message (its toolbar shows on focus) and presses one of its actions."""
    a.d.execute_script("arguments[0].focus()", msg)
    btn = wait_for(lambda: msg.find_elements(By.CSS_SELECTOR, f'[data-testid="action-{name}"]'), f"the {name} action")[0]
    btn.click()


def alice_conversations(ctx):
    return rest(ctx.base, "GET", "/api/conversations?limit=500", token=ctx.alice_token)["conversations"]


def set_level(a, level, shot=None):
    a.el('[data-testid="notify-menu"]').click()
    option = a.el(f'[data-testid="notify-{level}"]')
    if shot:
        a.shot(shot)
    option.click()
    wait_for(lambda: a.el('[data-testid="notify-menu"]').get_attribute("data-level") == level, f"the level {level}")


def pick_person(a, query, user):
    box = a.els('[data-testid="people-search"]')[-1]
    box.clear()
    box.send_keys(query)
    wait_for(lambda: a.els(f'[data-testid="person"][data-id="{user}"]'), f"{user} among the people found for {query!r}")[0].click()


# ---------------------------------------------------------------- the checks


def check_register_empty(ctx):
    a = ctx.app
    form = a.el('[data-testid="signin"]')
    form.find_element(By.CSS_SELECTOR, "button.link").click()
    server = form.find_element(By.NAME, "server")
    server.clear()
    server.send_keys(ctx.base)
    form.find_element(By.NAME, "username").send_keys("alice")
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "the banner to say Live")
    empty = text(a.el('[data-testid="conversations"] .empty'))
    if "No conversations yet" not in empty or "New conversation" not in empty:
        raise Failure(f"a new account's list does not say how to start: {empty!r}")
    ctx.alice_token = rest(ctx.base, "POST", "/api/auth/login", body={"username": "alice", "password": PASSWORD})["accessToken"]
    a.shot("chat-01-new-account")


def check_display_name(ctx):
    a = ctx.app
    a.el('[data-testid="open-settings"]').click()
    box = a.el('[data-testid="display-name"]')
    wait_for(lambda: box.get_attribute("value") == "alice", "the profile read into the settings")
    box.clear()
    box.send_keys("Alice Martin")
    a.el('[data-testid="save-display-name"]').click()
    wait_for(lambda: a.els('[data-testid="display-name-saved"]'), "the name saved")
    user = rest(ctx.base, "GET", "/api/users/alice", token=ctx.bob.token)
    if user["displayName"] != "Alice Martin":
        raise Failure(f"the server has the name {user['displayName']!r}")
    a.shot("chat-02-profile")
    # A build with the committed stand-in update address (no TIDINGS_UPDATE_URL here) asks
    # no one and says why.
    a.el('[data-testid="check-update"]').click()
    status = a.el('[data-testid="update-status"]')
    wait_for(lambda: "does not look for updates" in status.text, "the build without an update address to say so")
    a.el('[data-testid="open-chats"]').click()


def check_direct(ctx):
    a = ctx.app
    ctrl(a, "n")
    a.el('[data-testid="new-conversation"]')
    box = a.el('[data-testid="people-search"]')
    box.send_keys("bo")
    wait_for(lambda: a.els('[data-testid="person"][data-id="bob"]'), "bob found as alice types")
    a.shot("chat-03-new-conversation")
    a.el('[data-testid="person"][data-id="bob"]').click()
    wait_for(lambda: a.title() == "Bob Okafor", "the direct conversation open")
    a.type_and_send("Hi Bob, from my new account")
    direct = [c for c in alice_conversations(ctx) if c["kind"] == "direct"]
    if len(direct) != 1:
        raise Failure(f"alice has {len(direct)} direct conversations")
    ctx.direct = direct[0]["id"]
    wait_for(lambda: any(m["content"] == "Hi Bob, from my new account" for m in ctx.bob.history(ctx.direct)),
             "bob to get the message", interval=0.3)
    # Starting it again opens the same conversation.
    a.el('[data-testid="new-conversation-button"]').click()
    pick_person(a, "Okafor", "bob")
    wait_for(lambda: a.title() == "Bob Okafor", "the same conversation open")
    if len([c for c in alice_conversations(ctx) if c["kind"] == "direct"]) != 1:
        raise Failure("starting the direct conversation again made a second one")


def check_group(ctx):
    a = ctx.app
    ctrl(a, "n")
    a.el('[data-testid="kind-group"]').click()
    a.el('[data-testid="group-title"]').send_keys("Launch")
    pick_person(a, "bo", "bob")
    pick_person(a, "car", "carol")
    wait_for(lambda: len(a.els('[data-testid="picked"]')) == 2, "two people picked")
    a.shot("chat-04-new-group")
    a.el('[data-testid="create-group"]').click()
    wait_for(lambda: a.title() == "Launch", "the group open")
    group = [c for c in alice_conversations(ctx) if c.get("title") == "Launch"]
    if len(group) != 1 or sorted(p["id"] for p in group[0]["participants"]) != ["alice", "bob", "carol"]:
        raise Failure(f"the group on the server: {group}")
    ctx.group = group[0]["id"]
    a.type_and_send("Welcome to Launch")
    wait_message(a, "Welcome to Launch")


def check_add_remove(ctx):
    a = ctx.app
    a.el('[data-testid="open-group-settings"]').click()
    a.el('[data-testid="group-settings"]')
    pick_person(a, "dav", "dave")
    a.el('[data-testid="add-members"]').click()
    wait_for(lambda: any("added Dave Lindqvist" in text(e) for e in a.els('[data-testid="system-entry"]')),
             "the system entry for the added person")
    carol_before = rest_status(ctx.base, "GET", f"/api/conversations/{ctx.group}/messages", token=ctx.carol.token)[0]
    if carol_before != 200:
        raise Failure(f"carol cannot read the group before removal: {carol_before}")
    a.shot("chat-05-group-settings")
    row = wait_for(lambda: a.els('[data-testid="member"][data-id="carol"]'), "carol in the members")[0]
    row.find_element(By.CSS_SELECTOR, '[data-testid="remove-member"]').click()
    wait_for(lambda: any("removed Carol Diaz" in text(e) for e in a.els('[data-testid="system-entry"]')),
             "the system entry for the removal")
    wait_for(lambda: not a.els('[data-testid="member"][data-id="carol"]'), "carol gone from the members")
    # Carol stops receiving: she can no longer read the group, nor is it in her list, and a
    # message sent now does not reach her.
    status, body = rest_status(ctx.base, "GET", f"/api/conversations/{ctx.group}/messages", token=ctx.carol.token)
    if status != 403:
        raise Failure(f"carol still reads the group after removal: {status} {body}")
    ctx.bob.send(ctx.group, "after carol left")
    if any(c["id"] == ctx.group for c in ctx.carol.conversations()):
        raise Failure("the group is still in carol's list")
    a.el('[data-testid="close-group-settings"]').click()


def check_edit_delete(ctx):
    a = ctx.app
    a.type_and_send("teh plan is ready")
    msg = wait_message(a, "teh plan is ready")
    wait_for(lambda: msg.get_attribute("data-id") and not a.els('[data-testid="pending"]'), "the message stored")
    action(a, msg, "edit")
    box = a.el('[data-testid="edit-input"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("the plan is ready")
    a.shot("chat-06-editing")
    box.send_keys(Keys.ENTER)
    msg = wait_message(a, "the plan is ready", "the edited text")
    if not msg.find_elements(By.CSS_SELECTOR, '[data-testid="edited"]'):
        raise Failure("the edited message has no 'edited' marker")
    mid = msg.get_attribute("data-id")
    wait_for(lambda: any(m["id"] == mid and m["content"] == "the plan is ready" and m.get("editedAt")
                         for m in ctx.bob.history(ctx.group)), "bob to see the edit", interval=0.3)
    a.type_and_send("a secret I regret")
    msg = wait_message(a, "a secret I regret")
    wait_for(lambda: not a.els('[data-testid="pending"]'), "the message stored")
    gone = msg.get_attribute("data-id")
    action(a, msg, "delete")
    a.el('[data-testid="confirm-delete"]')
    a.shot("chat-07-confirm-delete")
    a.el('[data-testid="confirm-delete-yes"]').click()
    wait_for(lambda: a.els(f'[data-testid="message"][data-id="{gone}"] [data-testid="tombstone"]'), "the tombstone")
    if message_el(a, "a secret I regret"):
        raise Failure("the deleted text is still on screen")
    wait_for(lambda: any(m["id"] == gone and m.get("deleted") and m["content"] == "" for m in ctx.bob.history(ctx.group)),
             "bob to see the deletion", interval=0.3)
    a.shot("chat-08-edited-and-deleted")


def check_reply_and_jump(ctx):
    a = ctx.app
    original = ctx.bob.send(ctx.group, "What is the launch date?")
    for i in range(60):
        ctx.bob.send(ctx.group, f"filler {i}")
    ctx.bob.send(ctx.group, "Answering my own question", reply_to=original["id"])
    # Reopen: only the newest page is loaded, without the original.
    a.open_conversation("Bob Okafor")
    a.open_conversation("Launch")
    reply = wait_message(a, "Answering my own question")
    if a.els(f'[data-testid="message"][data-id="{original["id"]}"]'):
        raise Failure("the original was loaded already: the jump would not load history")
    quote = reply.find_element(By.CSS_SELECTOR, '[data-testid="quote"]')
    wait_for(lambda: "What is the launch date?" in text(quote), "the quote to show the original")
    quote.click()
    wait_for(lambda: a.els(f'[data-testid="message"][data-id="{original["id"]}"].highlight'),
             "the original loaded and highlighted")
    a.shot("chat-09-jumped-to-original")
    # Alice replies from the UI.
    msg = wait_message(a, "Answering my own question")
    action(a, msg, "reply")
    wait_for(lambda: "Replying to Bob Okafor" in text(a.el('[data-testid="replying"]')), "the reply bar")
    a.type_and_send("June 3rd")
    mine = wait_message(a, "June 3rd")
    wait_for(lambda: mine.find_elements(By.CSS_SELECTOR, '[data-testid="quote"]'), "the sent reply's quote")
    wait_for(lambda: any(m["content"] == "June 3rd" and (m.get("replyTo") or {}).get("messageId") == msg.get_attribute("data-id")
                         for m in ctx.bob.history(ctx.group)), "bob to see the reply reference", interval=0.3)
    a.shot("chat-10-reply")


def check_reactions(ctx):
    a = ctx.app
    target = ctx.bob.send(ctx.group, "Shipping it today")
    msg = wait_message(a, "Shipping it today")
    action(a, msg, "react")
    a.el('[data-testid="emoji-picker"]')
    a.el('[data-testid="emoji-search"]').send_keys("rocket")
    a.shot("chat-11-emoji-picker")
    wait_for(lambda: a.els('[data-testid="emoji-result"]'), "emoji found for 'rocket'")[0].click()
    chip = lambda e: a.els(f'[data-testid="message"][data-id="{target["id"]}"] [data-testid="reaction"][data-emoji="{e}"]')
    wait_for(lambda: chip("🚀") and chip("🚀")[0].get_attribute("aria-pressed") == "true", "alice's reaction, highlighted")
    ctx.bob.call("POST", f"/api/conversations/{ctx.group}/messages/{target['id']}/reactions", {"emoji": "🚀", "on": True})
    ctx.bob.call("POST", f"/api/conversations/{ctx.group}/messages/{target['id']}/reactions", {"emoji": "🎉", "on": True})
    wait_for(lambda: chip("🎉"), "bob's reaction arriving live")
    wait_for(lambda: text(chip("🚀")[0].find_element(By.CSS_SELECTOR, '[data-testid="reaction-count"]')) == "2", "two 🚀")
    title = chip("🚀")[0].get_attribute("title")
    if "Bob Okafor" not in title or "You" not in title:
        raise Failure(f"the chip does not say who reacted: {title!r}")
    a.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", msg)
    a.shot("chat-12-reactions")
    chip("🚀")[0].click()
    wait_for(lambda: text(chip("🚀")[0].find_element(By.CSS_SELECTOR, '[data-testid="reaction-count"]')) == "1", "alice's 🚀 off")
    server = next(m for m in ctx.bob.history(ctx.group) if m["id"] == target["id"])
    if sorted((r["emoji"], tuple(r["users"])) for r in server.get("reactions", [])) != [("🎉", ("bob",)), ("🚀", ("bob",))]:
        raise Failure(f"the server's reactions: {server.get('reactions')}")


def check_mention_completion(ctx):
    a = ctx.app
    box = a.el('[data-testid="composer"]')
    box.click()
    box.send_keys("thanks @bo")
    wait_for(lambda: a.els('[data-testid="mention-option"]'), "the completion list")
    a.shot("chat-13-mention-completion")
    box.send_keys(Keys.ENTER)
    wait_for(lambda: box.get_attribute("value") == "thanks @Bob Okafor ", "the name inserted")
    box.send_keys("for the rocket")
    box.send_keys(Keys.ENTER)
    msg = wait_message(a, "thanks @Bob Okafor for the rocket")
    wait_for(lambda: msg.find_elements(By.CSS_SELECTOR, '.mention[data-user="bob"]'), "the mention highlighted")
    wait_for(lambda: any(m["content"] == "thanks @Bob Okafor for the rocket" and m.get("mentions") == ["bob"]
                         for m in ctx.bob.history(ctx.group)), "the message sent with mentions [bob]", interval=0.3)


def check_keyboard(ctx):
    a = ctx.app
    msg = wait_message(a, "Shipping it today")
    a.d.execute_script("arguments[0].focus()", msg)
    ActionChains(a.d).send_keys("r").perform()
    wait_for(lambda: "Replying to Bob Okafor" in text(a.el('[data-testid="replying"]')), "R on a focused message: reply")
    box = a.el('[data-testid="composer"]')
    wait_for(lambda: a.d.switch_to.active_element == box, "the composer focused for the reply")
    box.send_keys(Keys.ESCAPE)
    wait_for(lambda: not a.els('[data-testid="replying"]'), "Escape cancels the reply")
    box.send_keys(Keys.ARROW_UP)
    editor = a.el('[data-testid="edit-input"]')
    if editor.get_attribute("value") != "thanks @Bob Okafor for the rocket":
        raise Failure(f"Up edits another message: {editor.get_attribute('value')!r}")
    editor.send_keys(Keys.ESCAPE)
    wait_for(lambda: not a.els('[data-testid="edit-input"]'), "Escape cancels the edit")
    a.d.execute_script("arguments[0].focus()", msg)
    ActionChains(a.d).send_keys("+").perform()
    a.el('[data-testid="emoji-search"]').send_keys(Keys.ESCAPE)
    wait_for(lambda: not a.els('[data-testid="emoji-picker"]'), "Escape closes the picker")


def notes_with(ctx, text):
    return [n for n in ctx.desktop.notes.snapshot() if text in n["body"] or text in n["summary"]]


def check_mentions_only(ctx):
    a = ctx.app
    a.open_conversation("Launch")
    set_level(a, "mentions", shot="chat-14-notify-level")
    # Another conversation on screen, so the group is not in view.
    a.open_conversation("Bob Okafor")
    ctx.bob.send(ctx.group, "plain words in launch")
    ctx.bob.send(ctx.group, "@Alice Martin can you check?", mentions=["alice"])
    # The barrier: a message in the direct conversation (level all) while the window is hidden.
    ctx.desktop.click_menu("Show/Hide")
    wait_for(lambda: len(ctx.app.d.window_handles) == 0, "the window hidden")
    ctx.bob.send(ctx.direct, "barrier in the direct conversation")
    wait_for(lambda: notes_with(ctx, "barrier in the direct conversation"), "the barrier's notification")
    mention = notes_with(ctx, "can you check?")
    if len(mention) != 1:
        raise Failure(f"the mention raised {len(mention)} notifications: {mention}")
    if notes_with(ctx, "plain words in launch"):
        raise Failure("a plain message in a mentions-only conversation raised a notification")
    ctx.desktop.click_menu("Show/Hide")
    wait_for(a.current_window, "the window back")
    wait_for(lambda: a.els('[data-testid="conversations"]'), "the window's content")


def check_markdown(ctx):
    a = ctx.app
    a.open_conversation("Launch")
    md = "**bold move** and ~~gone~~\n```\nlet x = 1;\n```\n> quoted\n<script>document.title='pwned'</script> [bad](javascript:alert(1))"
    ctx.bob.send(ctx.group, md, content_type="MARKDOWN")
    box = wait_for(lambda: a.d.execute_script("""
        for (const m of document.querySelectorAll('[data-testid=message] .markdown')) {
          if (m.textContent.includes('bold move')) return m;
        }
        return null;"""), "the Markdown message")
    if text(box.find_element(By.CSS_SELECTOR, "strong")) != "bold move":
        raise Failure("bold does not render")
    if "let x = 1;" not in text(box.find_element(By.CSS_SELECTOR, "pre code")):
        raise Failure("the code block does not render")
    family = a.d.execute_script("return getComputedStyle(arguments[0]).fontFamily", box.find_element(By.CSS_SELECTOR, "pre code"))
    if "mono" not in family.lower():
        raise Failure(f"the code block is not monospace: {family}")
    inside = a.d.execute_script("return document.querySelector('[data-testid=messages]').querySelectorAll('script,a[href^=javascript]').length")
    if inside or a.d.title != "Tidings":
        raise Failure(f"markup ran or became elements: {inside} element(s), title {a.d.title!r}")
    a.type_and_send("**strong** words")
    wait_for(lambda: any(m["content"] == "**strong** words" and m["contentType"] == "MARKDOWN" for m in ctx.bob.history(ctx.group)),
             "alice's Markdown sent as MARKDOWN", interval=0.3)
    wait_for(lambda: (row := a.conversation_row("Launch")) is not None and "You: strong words" in text(row),
             "the list's last line without the syntax")
    a.type_and_send("plain_snake_case words")
    wait_for(lambda: any(m["content"] == "plain_snake_case words" and m["contentType"] == "TEXT" for m in ctx.bob.history(ctx.group)),
             "plain text sent as TEXT", interval=0.3)
    a.shot("chat-15-markdown")


def check_left(ctx):
    a = ctx.app
    side = ctx.bob.call("POST", "/api/conversations", {"kind": "group", "title": "Side project", "participants": ["alice"]})
    ctx.bob.send(side["id"], "welcome to the side project")
    wait_for(lambda: a.conversation_row("Side project"), "the new group in alice's list")
    ctx.bob.call("DELETE", f"/api/conversations/{side['id']}/participants/alice")
    a.open_conversation("Side project")
    wait_for(lambda: text(a.el('[data-testid="left-badge"]')) == "You were removed by Bob Okafor", "the removed mark")
    wait_message(a, "welcome to the side project", "what alice had, still readable")
    a.el('[data-testid="composer-disabled"]')
    a.shot("chat-16-removed")
    a.open_conversation("Launch")
    a.el('[data-testid="open-group-settings"]').click()
    a.el('[data-testid="leave"]').click()
    a.el('[data-testid="confirm-leave"]').click()
    wait_for(lambda: text(a.el('[data-testid="left-badge"]')) == "You left", "the 'You left' mark")
    a.el('[data-testid="composer-disabled"]')
    if a.els('[data-testid="message-actions"]') and any(e.is_displayed() for e in a.els('[data-testid="message-actions"]')):
        raise Failure("message actions are offered in a conversation alice left")
    status, _ = rest_status(ctx.base, "GET", f"/api/conversations/{ctx.group}/messages", token=ctx.alice_token)
    if status != 403:
        raise Failure(f"the server still lets alice read the group she left: {status}")
    a.shot("chat-17-left")


def check_narrow(ctx):
    a = ctx.app
    size = a.d.get_window_size()
    try:
        a.d.set_window_size(480, 760)
        wait_for(lambda: a.el('[data-testid="back"]').is_displayed(), "the back button in a narrow window")
        if a.el('[data-testid="conversations"]').is_displayed():
            raise Failure("the list and the conversation are both shown in a narrow window")
        a.shot("chat-18-narrow-conversation")
        a.el('[data-testid="back"]').click()
        wait_for(lambda: a.el('[data-testid="conversations"]').is_displayed(), "the list after ←")
        a.shot("chat-19-narrow-list")
        # Nothing wider than the window: the list fits beside the accounts column.
        wide = a.d.execute_script(
            "return [...document.querySelectorAll('.shell, .shell *')]"
            ".filter((e) => !e.closest('.visually-hidden'))"
            ".filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')"
            ".map((e) => `${e.className || e.tagName} ${e.scrollWidth}>${e.clientWidth}`)"
            ".concat(document.documentElement.scrollWidth > window.innerWidth"
            " ? [`page ${document.documentElement.scrollWidth}>${window.innerWidth}`] : [])")
        if wide:
            raise Failure(f"in a narrow window these are wider than their box: {wide}")
    finally:
        a.d.set_window_size(size["width"], size["height"])


CHECKS = [
    ("a new account from the sign-in form: an empty list that says how to start", check_register_empty),
    ("the profile: alice changes her display name in Settings; the server has it; "
     "Check for updates says this build has no update address", check_display_name),
    ("Ctrl+N: the people picker searches as alice types; a direct conversation with bob starts, "
     "bob gets the message; starting it again opens the same one", check_direct),
    ("a group from the dialog: title and two people picked", check_group),
    ("group settings: the owner adds dave and removes carol (system entries); carol can no longer read it",
     check_add_remove),
    ("edit (inline, Enter saves; 'edited') and delete (confirmed; tombstone): bob sees both", check_edit_delete),
    ("a reply's quote jumps to an original that was not loaded; alice replies from the UI", check_reply_and_jump),
    ("reactions: alice reacts through the picker, bob's reactions arrive live, the chip says who; a click toggles",
     check_reactions),
    ("mentions: @ completes names, the message carries mentions [bob], the mention is highlighted",
     check_mention_completion),
    ("keyboard: R replies to a focused message, + reacts, Up edits your last one, Escape cancels each",
     check_keyboard),
    ("'mentions only': a mention of alice raises exactly one notification, a plain message none", check_mentions_only),
    ("Markdown: bold, strikethrough, a code block in monospace; <script> and javascript: do nothing; "
     "the composer sends MARKDOWN only when the text uses it", check_markdown),
    ("removed from one group and leaving another: both stay readable, marked, with the composer closed", check_left),
    ("a narrow window shows the list or the conversation, with a way back", check_narrow),
]


def seed(ctx):
    start_server(ctx)
    ctx.bob, ctx.carol, ctx.dave = (person(ctx.base, u, n) for u, n in PEOPLE.items())
    ctx.env = app_env(ctx, ctx.base)


def main():
    return run_suite("chat", Ctx("tidings-e2e-chat-"), CHECKS, seed)


if __name__ == "__main__":
    sys.exit(main())
