#!/usr/bin/env python3
"""Interop checks for the attachments' upload endpoint with a third-party tus 1.0.0 client,
tuspy (see docs/protocol.md, "Attachments").

Target from the environment (run.sh sets these; Tidings only):
  INTEROP_HOST, INTEROP_PORT   the server
  INTEROP_ONLY                 optional regex: run only the checks whose name matches

Users are registered over REST; tuspy sends their access token as a client header. One line
per check (PASS / FAIL), then "N passed, M failed". Exit status 0 only if nothing failed.
"""

import io
import json
import os
import re
import secrets
import sys
import traceback
import urllib.request

import requests
from tusclient import client as tus

HOST = os.environ.get("INTEROP_HOST", "127.0.0.1")
PORT = int(os.environ.get("INTEROP_PORT", "8080"))
BASE = f"http://{HOST}:{PORT}"
ONLY = re.compile(os.environ["INTEROP_ONLY"]) if os.environ.get("INTEROP_ONLY") else None
T = 10


def call(path, body=None, token=None, method=None):
    req = urllib.request.Request(
        BASE + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"content-type": "application/json",
                 **({"authorization": "Bearer " + token} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=T) as r:
        return json.load(r)


def register(prefix):
    name = f"{prefix}{secrets.token_hex(4)}"
    return name, call("/api/auth/register", {"username": name, "password": name + "-password"})["accessToken"]


def download(token, aid):
    r = requests.get(f"{BASE}/api/attachments/{aid}", headers={"authorization": "Bearer " + token}, timeout=T)
    assert r.status_code == 200, f"download: {r.status_code} {r.text[:200]}"
    return r.content


def setup():
    alice, alice_tok = register("tusa")
    bob, bob_tok = register("tusb")
    cid = call("/api/conversations", {"kind": "direct", "participants": [bob]}, alice_tok)["id"]
    return alice_tok, bob_tok, cid


def uploader(token, data, cid, chunk, url=None, name="tuspy.bin"):
    c = tus.TusClient(BASE + "/api/uploads", headers={"Authorization": "Bearer " + token})
    return c.uploader(
        file_stream=io.BytesIO(data), url=url, chunk_size=chunk,
        metadata={"filename": name, "filetype": "application/octet-stream", "conversation": cid},
    )


def check_chunks():
    alice_tok, bob_tok, cid = setup()
    data = secrets.token_bytes(300_000)
    up = uploader(alice_tok, data, cid, 65_536)
    up.upload()
    aid = up.url.rstrip("/").rsplit("/", 1)[-1]
    m = call(f"/api/conversations/{cid}/messages",
             {"clientId": secrets.token_hex(8), "attachments": [aid]}, alice_tok)
    att = m["attachments"][0]
    assert att["size"] == len(data) and att["name"] == "tuspy.bin", att
    assert download(bob_tok, aid) == data, "the bytes differ"


def check_resume():
    alice_tok, _bob_tok, cid = setup()
    data = secrets.token_bytes(200_000)
    first = uploader(alice_tok, data, cid, 50_000)
    first.upload(stop_at=100_000)
    assert first.offset == 100_000, first.offset
    # A new uploader for the same URL asks the server (HEAD) where to go on from.
    again = uploader(alice_tok, data, cid, 50_000, url=first.url)
    assert again.offset == 100_000, f"resumed at {again.offset}"
    again.upload()
    aid = first.url.rstrip("/").rsplit("/", 1)[-1]
    assert download(alice_tok, aid) == data, "the bytes differ"


def check_options():
    r = requests.options(BASE + "/api/uploads", timeout=T)
    assert r.status_code == 204, r.status_code
    assert r.headers.get("tus-version") == "1.0.0", r.headers
    assert "creation" in r.headers.get("tus-extension", ""), r.headers
    assert int(r.headers.get("tus-max-size", "0")) > 0, r.headers


CHECKS = [
    ("tuspy uploads a file in 64 KiB chunks; the other participant downloads it byte-equal", check_chunks),
    ("tuspy resumes an interrupted upload from the offset the server reports (HEAD)", check_resume),
    ("OPTIONS /api/uploads tells a tus client the version, extensions and largest size", check_options),
]


def main():
    passed = failed = 0
    for name, fn in CHECKS:
        if ONLY and not ONLY.search(name):
            continue
        try:
            fn()
            print(f"PASS {name}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported as one line
            print(f"FAIL {name}: {e!r}")
            traceback.print_exc(file=sys.stderr)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
