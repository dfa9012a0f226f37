#!/usr/bin/env python3
"""Attachments in the real app, end to end (run by run.sh inside Xvfb and dbus-run-session).

    test_attachments.py APP SERVER CLI SCREENSHOT_DIR

A fresh tidings-server (no demo data, the default 25 MiB limit): alice uses the app; bob uses
the `tidings` CLI (his other device) to send files and to download what alice sent; carol is
there so that alice has a second conversation to switch to. Files reach the composer the
three ways a user has: pasted (a ClipboardEvent whose DataTransfer holds a PNG built in the
page from bytes), and by path through the same store function the OS's file dialog and a drop
on the window feed (`window.tidingsAttachPaths`: WebDriver can neither drive a native file
dialog nor drop files on a window). One line per check, then "N passed, M failed".
"""

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Ctx, Failure, Person, app_env, axe, no_violations, run_suite, start_server, stop_server, wait_for  # noqa: E402,E501

APP, SERVER, CLI, SHOTS = sys.argv[1:5]
PASSWORD = "correct horse battery"


# ---------------------------------------------------------------- files


def png(width, height, seed):
    """A PNG with no metadata chunks (IHDR, IDAT, IEND only), so the server stores it byte for
    byte (it strips metadata, and there is none): a colour gradient that depends on `seed`."""
    rows = b"".join(b"\x00" + b"".join(bytes(((x * 255 // width + seed) % 256, (y * 255 // height) % 256, (seed * 7) % 256))
                                         for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def write(ctx, name, data):
    path = os.path.join(ctx.work, "files", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- bob's CLI and the server


def bob_cli(ctx, args, input=""):
    r = subprocess.run([CLI] + args, input=input, capture_output=True, text=True, env=ctx.cli_env, timeout=120)
    if r.returncode != 0:
        raise Failure(f"bob's `tidings {' '.join(args)}` failed ({r.returncode}): {r.stderr}")
    return r.stdout


def bob_history(ctx):
    return ctx.bob.history(ctx.direct)


# ---------------------------------------------------------------- the app


def text(el):
    return (el.get_attribute("textContent") or "").strip()


def active_testid(a):
    return a.d.execute_script("return document.activeElement && document.activeElement.dataset.testid")


def shot(a, name):
    """A screenshot once the page has drawn two more frames (WebKit's can show an older frame)."""
    a.d.execute_async_script("const done = arguments[arguments.length - 1];"
                             "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
    a.shot(name)


def attach_paths(a, paths):
    """Files by path through the store function the file dialog's result and a drop feed."""
    a.d.execute_script("return window.tidingsAttachPaths(arguments[0])", paths)


def chips(a):
    return [c.get_attribute("data-name") for c in a.els('[data-testid="attach-chip"]')]


def inline_images(a):
    return a.els('[data-testid="inline-image"]')


def loaded_image(a, attachment_id):
    return wait_for(lambda: next((e for e in inline_images(a) if e.get_attribute("data-id") == attachment_id
                                  and e.get_attribute("data-loaded") == "true"), None),
                    f"the image {attachment_id} shown inline", timeout=30)


def open_direct(ctx):
    ctx.app.open_conversation("Bob Okafor")


def reopen_direct(ctx):
    """Away to carol's conversation and back: the timeline (and its images) is drawn anew."""
    a = ctx.app
    a.open_conversation("Carol Diaz")
    a.open_conversation("Bob Okafor")


# ---------------------------------------------------------------- the checks


def check_sign_in(ctx):
    a = ctx.app
    form = a.el('[data-testid="signin"]')
    server = form.find_element("name", "server")
    server.clear()
    server.send_keys(ctx.base)
    form.find_element("name", "username").send_keys("alice")
    form.find_element("name", "password").send_keys(PASSWORD)
    form.find_element("css selector", "button[type=submit]").click()
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "the banner to say Live")
    open_direct(ctx)


def check_paste_image(ctx):
    a = ctx.app
    ctx.pasted = png(480, 300, 40)
    box = a.el('[data-testid="composer"]')
    box.click()
    files = a.d.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
        const e = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
        arguments[1].dispatchEvent(e);
        return e.clipboardData ? e.clipboardData.files.length : -1;""", base64.b64encode(ctx.pasted).decode(), box)
    if files != 1:
        raise Failure(f"the page could not build a paste event holding the PNG ({files})")
    chip = wait_for(lambda: chips(a), "the pasted image as a chip above the composer")[0]
    if not chip.startswith("Pasted image ") or not chip.endswith(".png") or ":" in chip:
        raise Failure(f"the pasted image is named {chip!r}")
    size = text(a.el('[data-testid="attach-chip"] .size'))
    if not size.endswith("KB"):
        raise Failure(f"the chip shows the size {size!r}")
    shot(a, "attach-01-chips")
    box.send_keys("The view from here")
    box.send_keys(Keys.ENTER)
    wait_for(lambda: not chips(a), "the chips gone once sent")
    msg = wait_for(lambda: next((m for m in bob_history(ctx) if m["content"] == "The view from here"), None),
                   "the message with the image on the server", timeout=30)
    if len(msg.get("attachments", [])) != 1:
        raise Failure(f"the message carries {msg.get('attachments')}")
    att = msg["attachments"][0]
    if (att["width"], att["height"], att["contentType"], att["name"]) != (480, 300, "image/png", chip):
        raise Failure(f"the server has {att}")
    ctx.pasted_id = att["id"]
    img = loaded_image(a, ctx.pasted_id)
    box_w, box_h = img.size["width"], img.size["height"]
    if abs(box_w - 320) > 2 or abs(box_h - 200) > 2:
        raise Failure(f"the image takes {box_w}×{box_h} px, not its 320×200 thumbnail box")
    shot(a, "attach-02-image-inline")
    out = os.path.join(ctx.work, "bob-got.png")
    bob_cli(ctx, ["download", ctx.pasted_id, "--out", out])
    with open(out, "rb") as f:
        got = f.read()
    if got != ctx.pasted:
        raise Failure(f"bob's download is not what was pasted ({len(got)} bytes, sha {sha(got)[:12]}; "
                      f"pasted {len(ctx.pasted)} bytes, sha {sha(ctx.pasted)[:12]})")


def check_viewer_keyboard(ctx):
    a = ctx.app
    img = loaded_image(a, ctx.pasted_id)
    a.d.execute_script("arguments[0].focus()", img)
    if active_testid(a) != "inline-image":
        raise Failure("the image in the timeline cannot take the focus")
    ActionChains(a.d).send_keys(Keys.ENTER).perform()
    viewer = a.el('[data-testid="image-viewer"]')
    wait_for(lambda: a.els('[data-testid="viewer-image"]') and
             a.d.execute_script("return document.querySelector('[data-testid=viewer-image]').naturalWidth") == 480,
             "the full image in the viewer")
    level = lambda: text(a.el('[data-testid="viewer-zoom-level"]'))  # noqa: E731
    fitted = level()
    ActionChains(a.d).send_keys("+").perform()
    wait_for(lambda: level() != fitted, "+ to zoom in")
    zoomed = level()
    if int(zoomed.rstrip("%")) <= int(fitted.rstrip("%")):
        raise Failure(f"+ went from {fitted} to {zoomed}")
    ActionChains(a.d).send_keys("+").perform()
    wait_for(lambda: int(level().rstrip("%")) > int(zoomed.rstrip("%")), "+ again")
    shot(a, "attach-03-viewer-zoomed")
    ActionChains(a.d).send_keys("-").perform()
    wait_for(lambda: level() == zoomed, "- to zoom out a step")
    ActionChains(a.d).send_keys("0").perform()
    wait_for(lambda: level() == fitted, "0 to fit again")
    shot(a, "attach-04-viewer")
    # Tab stays inside the viewer.
    for _ in range(12):
        ActionChains(a.d).send_keys(Keys.TAB).perform()
        inside = a.d.execute_script("return !!document.activeElement.closest('[data-testid=image-viewer]')")
        if not inside:
            raise Failure("Tab left the viewer")
    no_violations(axe(a, "image viewer"))
    ActionChains(a.d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not a.els('[data-testid="image-viewer"]'), "Escape to close the viewer")
    if viewer and active_testid(a) != "inline-image":
        raise Failure(f"the focus went to {active_testid(a)!r}, not back to the image")


def check_file_card(ctx):
    a = ctx.app
    data = b"%PDF-1.4\n" + os.urandom(150_000) + b"\n%%EOF\n"
    path = write(ctx, "Quarterly report.pdf", data)
    bob_cli(ctx, ["send", ctx.direct, "The report", "--file", path])
    card = wait_for(lambda: next((c for c in a.els('[data-testid="file-card"]')
                                  if "Quarterly report.pdf" in text(c)), None), "the file's card", timeout=30)
    words = text(card)
    for want in ("Quarterly report.pdf", "147 KB", "PDF document", "Open", "Save"):
        if want not in words:
            raise Failure(f"the file card says {words!r}, without {want!r}")
    shot(a, "attach-05-file-card")


def check_too_large(ctx):
    a = ctx.app
    before = len(bob_history(ctx))
    big = write(ctx, "photo.raw", b"")
    with open(big, "wb") as f:
        f.truncate(30 * 1024 * 1024)
    attach_paths(a, [big])
    error = wait_for(lambda: text(a.el('[data-testid="attach-error"]')), "the refusal in words")
    for want in ("photo.raw is 30 MB", "the largest file this server takes is 25 MB"):
        if want not in error:
            raise Failure(f"the refusal says {error!r}, without {want!r}")
    if chips(a):
        raise Failure(f"the refused file became a chip: {chips(a)}")
    shot(a, "attach-06-too-large")
    a.el('[data-testid="attach-error"] button').click()
    wait_for(lambda: not a.els('[data-testid="attach-error"]'), "the refusal dismissed")
    if len(bob_history(ctx)) != before:
        raise Failure("something was sent")


def check_offline_pending_then_once(ctx):
    a = ctx.app
    data = os.urandom(6 * 1024 * 1024)
    path = write(ctx, "field-notes.bin", data)
    stop_server(ctx)
    wait_for(lambda: a.el('[data-testid="banner"]').text.startswith("Reconnecting"), "the banner to say the server is gone")
    attach_paths(a, [path])
    wait_for(lambda: chips(a) == ["field-notes.bin"], "the file as a chip")
    box = a.el('[data-testid="composer"]')
    box.click()
    box.send_keys("Notes while the server is down")
    box.send_keys(Keys.ENTER)
    pending = wait_for(lambda: next((p for p in a.els('[data-testid="pending"]')
                                     if "Notes while the server is down" in text(p)), None), "the message pending")
    if not pending.find_elements("css selector", '[data-testid="pending-progress"]'):
        raise Failure("the pending message shows no progress bar for its file")
    status = text(pending.find_element("css selector", '[data-testid="status"]'))
    if "Pending" not in status:
        raise Failure(f"the pending message says {status!r}")
    if not pending.find_elements("css selector", '[data-testid="pending-cancel"]'):
        raise Failure("the pending message has no Cancel")
    shot(a, "attach-07-pending-offline")
    # The original may go: the outbox has its own copy.
    os.remove(path)
    start_server(ctx, ctx.port)
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "live again", timeout=60)
    wait_for(lambda: not a.els('[data-testid="pending"]'), "the message sent", timeout=60)
    stored = [m for m in bob_history(ctx) if m["content"] == "Notes while the server is down"]
    if len(stored) != 1 or len(stored[0].get("attachments", [])) != 1:
        raise Failure(f"the server has {len(stored)} such messages: {json.dumps(stored)[:300]}")
    att = stored[0]["attachments"][0]
    out = os.path.join(ctx.work, "bob-notes.bin")
    bob_cli(ctx, ["download", att["id"], "--out", out])
    with open(out, "rb") as f:
        if sha(f.read()) != sha(data):
            raise Failure("the file bob downloads is not the one alice sent")
    wait_for(lambda: any(c.get_attribute("data-id") == att["id"] for c in a.els('[data-testid="file-card"]')),
             "the sent file as a card in alice's timeline")


def check_cancel(ctx):
    a = ctx.app
    path = write(ctx, "draft-plan.txt", b"not this one\n" * 1000)
    stop_server(ctx)
    wait_for(lambda: a.el('[data-testid="banner"]').text.startswith("Reconnecting"), "the server gone")
    attach_paths(a, [path])
    wait_for(lambda: chips(a) == ["draft-plan.txt"], "the file as a chip")
    a.el('[data-testid="send"]').click()
    pending = wait_for(lambda: (a.els('[data-testid="pending"]') or [None])[0], "the files-only message pending")
    pending.find_element("css selector", '[data-testid="pending-cancel"]').click()
    wait_for(lambda: not a.els('[data-testid="pending"]'), "the message cancelled")
    start_server(ctx, ctx.port)
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "live again", timeout=60)
    # Something sent after it arrives; the cancelled one never does.
    a.type_and_send("After the cancelled one")
    wait_for(lambda: any(m["content"] == "After the cancelled one" for m in bob_history(ctx)), "the next message stored")
    names = [f["name"] for m in bob_history(ctx) for f in m.get("attachments", [])]
    if "draft-plan.txt" in names:
        raise Failure("the cancelled file was sent")


def check_received_image_offline(ctx):
    a = ctx.app
    photo = png(900, 600, 120)
    path = write(ctx, "harbour.png", photo)
    bob_cli(ctx, ["send", ctx.direct, "The harbour", "--file", path])
    msg = wait_for(lambda: next((m for m in bob_history(ctx) if m["content"] == "The harbour"), None), "bob's image stored")
    ctx.received_id = msg["attachments"][0]["id"]
    img = loaded_image(a, ctx.received_id)
    # Its full size too, in the viewer (then the cache has both).
    img.click()
    wait_for(lambda: a.d.execute_script(
        "const i = document.querySelector('[data-testid=viewer-image]'); return i && i.naturalWidth") == 900,
        "bob's image at full size")
    ActionChains(a.d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not a.els('[data-testid="image-viewer"]'), "the viewer closed")
    stop_server(ctx)
    wait_for(lambda: a.el('[data-testid="banner"]').text.startswith("Reconnecting"), "the server gone")
    reopen_direct(ctx)
    loaded_image(a, ctx.received_id)
    loaded_image(a, ctx.pasted_id)
    loaded_image(a, ctx.received_id).click()
    wait_for(lambda: a.d.execute_script(
        "const i = document.querySelector('[data-testid=viewer-image]'); return i && i.naturalWidth") == 900,
        "the full image from the cache with the server stopped")
    shot(a, "attach-08-offline-from-cache")
    ActionChains(a.d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not a.els('[data-testid="image-viewer"]'), "the viewer closed")
    start_server(ctx, ctx.port)
    wait_for(lambda: a.el('[data-testid="banner"]').text == "Live", "live again", timeout=60)


def check_keyboard_and_narrow(ctx):
    a = ctx.app
    box = a.el('[data-testid="composer"]')
    box.click()
    ActionChains(a.d).send_keys(Keys.TAB).perform()
    if active_testid(a) != "composer-emoji":
        raise Failure(f"Tab from the composer reaches {active_testid(a)!r}, not the emoji button")
    ActionChains(a.d).send_keys(Keys.TAB).perform()
    if active_testid(a) != "composer-attach":
        raise Failure(f"Tab from the emoji button reaches {active_testid(a)!r}, not the attach button")
    label = a.d.execute_script("return document.activeElement.getAttribute('aria-label')")
    if label != "Attach files":
        raise Failure(f"the attach button is labelled {label!r}")
    no_violations(axe(a, "conversation with attachments"))
    size = a.d.get_window_size()
    try:
        a.d.set_window_size(480, 760)
        wait_for(lambda: a.el('[data-testid="back"]').is_displayed(), "the narrow layout")
        card = a.els('[data-testid="file-card"]')[-1]
        a.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
        wide = a.d.execute_script(
            "return [...document.querySelectorAll('[data-testid=messages] *')]"
            ".filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".map((e) => `${e.className || e.tagName} ${Math.round(e.getBoundingClientRect().right)}`)")
        if wide:
            raise Failure(f"in a narrow window these go past its right edge: {wide[:5]}")
        shot(a, "attach-09-narrow")
    finally:
        a.d.set_window_size(size["width"], size["height"])


def check_download_limit_setting(ctx):
    a = ctx.app
    a.el('[data-testid="open-settings"]').click()
    field = a.el('[data-testid="download-limit"]')
    wait_for(lambda: field.get_attribute("value") == "500", "the default limit, 500 MB")
    field.clear()
    field.send_keys("200")
    a.el('[data-testid="save-download-limit"]').click()
    saved = wait_for(lambda: text(a.el('[data-testid="download-limit-saved"]')), "the limit saved")
    if "200 MB" not in saved:
        raise Failure(f"the settings say {saved!r}")
    shot(a, "attach-10-download-setting")
    a.el('[data-testid="open-chats"]').click()
    a.el('[data-testid="open-settings"]').click()
    wait_for(lambda: a.el('[data-testid="download-limit"]').get_attribute("value") == "200", "the limit kept")
    a.el('[data-testid="open-chats"]').click()


CHECKS = [
    ("alice signs in and opens her conversation with bob", check_sign_in),
    ("a pasted image becomes a chip ('Pasted image … .png', its size), is sent with text, shows inline in its "
     "thumbnail box, and bob's CLI downloads exactly the pasted bytes", check_paste_image),
    ("keyboard: Enter on a focused image opens the viewer; +, -, 0 zoom; Tab stays inside; Escape closes "
     "and the focus is back on the image", check_viewer_keyboard),
    ("a file bob sends shows as a card: name, size, type, Open and Save", check_file_card),
    ("a 30 MB file is refused with the limit in words, no chip, nothing sent", check_too_large),
    ("a file sent while the server is stopped shows pending with a progress bar and Cancel, then goes once",
     check_offline_pending_then_once),
    ("Cancel on a pending file: it never reaches the server", check_cancel),
    ("a received image shows from the download cache with the server stopped (thumbnail and full size)",
     check_received_image_offline),
    ("keyboard: Tab reaches the attach button (after the emoji button); axe-core; a narrow window keeps cards and images inside",
     check_keyboard_and_narrow),
    ("the download cache limit in Settings is saved and kept", check_download_limit_setting),
]


def seed(ctx):
    start_server(ctx)
    ctx.bob = Person(ctx.base, "bob", "Bob Okafor", PASSWORD)
    ctx.carol = Person(ctx.base, "carol", "Carol Diaz", PASSWORD)
    Person(ctx.base, "alice", "Alice Martin", PASSWORD)
    ctx.direct = ctx.bob.call("POST", "/api/conversations", {"kind": "direct", "participants": ["alice"]})["id"]
    ctx.bob.send(ctx.direct, "Send me the photos when you can")
    carol = ctx.carol.call("POST", "/api/conversations", {"kind": "direct", "participants": ["alice"]})["id"]
    ctx.carol.send(carol, "Hi Alice")
    ctx.cli_env = dict(os.environ, TIDINGS_HOME=os.path.join(ctx.work, "bob-cli"), TIDINGS_CREDENTIALS="file")
    bob_cli(ctx, ["login", "--server", ctx.base, "--username", "bob", "--password-stdin"], input=PASSWORD + "\n")
    ctx.env = app_env(ctx, ctx.base)


def main():
    return run_suite("attachments", Ctx("tidings-e2e-attach-"), CHECKS, seed)


if __name__ == "__main__":
    sys.exit(main())
