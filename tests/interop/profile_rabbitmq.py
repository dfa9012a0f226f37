#!/usr/bin/env python3
"""A connection profile against RabbitMQ Web-STOMP, end to end.

The `tidings` CLI follows a RabbitMQ topic through a profile (STOMP login/passcode, vhost
"/", JSON messages with configurable title/body fields); a third party (stomp.py)
publishes an alert there; the alert must show on `tidings tail` and land in the cache
(`tidings notifications` afterwards, with no connection).

  profile_rabbitmq.py TIDINGS_BINARY WORK_DIR     (RabbitMQ on 127.0.0.1:15674, guest/guest)

Prints PASS/FAIL lines and "N passed, M failed"; exit status 0 only if nothing failed.
"""

import json
import os
import secrets
import subprocess
import sys
import threading
import time

import stomp

TIMEOUT = float(os.environ.get("INTEROP_TIMEOUT_S", "20"))


def main():
    cli, work = sys.argv[1], sys.argv[2]
    home = os.path.join(work, "cli-home")
    os.makedirs(home, exist_ok=True)
    topic = "/topic/tidings.alerts." + secrets.token_hex(4)
    profile = os.path.join(work, "rabbitmq-profile.toml")
    with open(profile, "w") as f:
        f.write(f"""
name = "RabbitMQ alerts"
url = "ws://127.0.0.1:15674/ws"
[auth]
type = "stomp"
login = "guest"
passcode_env = "RABBIT_PASSCODE"
[stomp]
host = "/"
heart_beat_ms = 5000
[[subscribe]]
destination = "{topic}"
format = "json"
id = "id"
title = "title"
body = "body"
""")
    env = dict(os.environ, TIDINGS_HOME=home, TIDINGS_CREDENTIALS="file", RABBIT_PASSCODE="guest")
    tail = subprocess.Popen([cli, "--profile", profile, "--json", "tail"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines, states = [], []
    got_line, got_live = threading.Event(), threading.Event()

    def read(stream, into, event, want):
        for line in stream:
            into.append(line.strip())
            if want(line):
                event.set()

    threading.Thread(target=read, args=(tail.stderr, states, got_live, lambda l: '"live"' in l), daemon=True).start()
    threading.Thread(target=read, args=(tail.stdout, lines, got_line, lambda l: "Disk almost full" in l), daemon=True).start()
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"PASS profile {name}")
        else:
            failed += 1
            print(f"FAIL profile {name}: {detail}")

    try:
        live = got_live.wait(TIMEOUT)
        check("tidings tail --profile goes live against RabbitMQ Web-STOMP", live, f"stderr: {states}")
        if live:
            conn = stomp.WSConnection([("127.0.0.1", 15674)], ws_path="/ws", vhost="/")
            conn.connect("guest", "guest", wait=True)
            alert = {"id": "a-1", "title": "Disk almost full", "body": "92% used on db-1", "severity": "warn"}
            conn.send(destination=topic, body=json.dumps(alert), headers={"content-type": "application/json"})
            conn.disconnect()
            seen = got_line.wait(TIMEOUT)
            check("what a third party publishes to the topic appears on tail", seen, f"stdout: {lines}")
            if seen:
                env_line = next(json.loads(l) for l in lines if "Disk almost full" in l)
                n = env_line["payload"]
                check("the title and body come from the configured fields",
                      n["title"] == "Disk almost full" and n["message"] == "92% used on db-1", n)
    finally:
        tail.terminate()
        try:
            code = tail.wait(10)
        except subprocess.TimeoutExpired:
            tail.kill()
            code = None
    check("tail ends cleanly on SIGTERM", code == 0, f"exit status {code}")
    out = subprocess.run([cli, "--profile", profile, "--json", "notifications"], capture_output=True, text=True,
                         env=env, timeout=30)
    cached = json.loads(out.stdout or "[]") if out.returncode == 0 else []
    check("the alert is in the cache afterwards, with its data",
          any(n["title"] == "Disk almost full" and n.get("data", {}).get("severity") == "warn" for n in cached),
          f"exit {out.returncode}: {out.stdout} {out.stderr}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
