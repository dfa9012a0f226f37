"""The server side of the app benchmark: tidings-server with demo data on 127.0.0.1, users
over REST with kept-alive connections, and seed data of realistic shape."""

import http.client
import json
import os
import random
import select
import socket
import subprocess

from fake_desktop import Failure

PASSWORD = "tidings-demo"
T = float(os.environ.get("BENCH_TIMEOUT_S", "30"))


class Server:
    """tidings-server with demo data, on 127.0.0.1. The bench config lifts the per-user send
    rate (100/min by default) and conversation rate (100/h) so seeding and the notification
    run are not refused."""

    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.data = os.path.join(work, "server-data")
        self.config = os.path.join(work, "server.toml")
        with open(self.config, "w") as f:
            f.write("[limits]\nsends_per_minute = 1000000\nconversations_per_hour = 100000\n"
                    "requests_per_minute = 1000000\nrequest_burst = 1000000\nmax_requests_in_flight_per_user = 1000000\n"
                    "[auth]\nlogin_attempts_per_minute = 1000\n"
                    "login_attempts_per_minute_per_address = 100000\n")
        self.proc = None
        self.port = 0

    def start(self):
        log = open(os.path.join(self.work, "server.log"), "a")
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", self.data, "--demo"],
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], T)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("tidings-server listening on "):
            raise Failure(f"the server did not start (first line {line!r}); see {self.work}/server.log")
        self.port = int(line.strip().rsplit(":", 1)[1])

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class User:
    """One user over REST with a kept-alive connection."""

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.conn = None
        self.token = None
        self.token = self.call("POST", "/api/auth/login", {"username": name, "password": PASSWORD})["accessToken"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = "Bearer " + self.token
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=T)
                    self.conn.connect()
                    # http.client writes the headers and the body in two sends: without
                    # TCP_NODELAY, Nagle holds the body back until the server's delayed ACK
                    # (about 40 ms), a delay of this client and not of what is measured.
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn = None  # the server closed an idle connection: open another once
                if attempt == 2:
                    raise
        if resp.status >= 300:
            raise Failure(f"{self.name}: {method} {path} answered {resp.status}: {text[:200]!r}")
        return json.loads(text) if text else None

    def group(self, title, others):
        return self.call("POST", "/api/conversations", {"kind": "group", "title": title, "participants": others})["id"]

    def send(self, cid, client_id, text):
        return self.call("POST", f"/api/conversations/{cid}/messages", {"clientId": client_id, "content": text})


WORDS = ("the release build deploy invoice review meeting notes draft budget customer ticket roadmap sprint "
         "design test staging server client cache search outbox tray window notification quarter report "
         "Monday Tuesday Friday tomorrow afternoon lunch coffee plan idea question answer fix bug patch").split()
OPENERS = ["Can you", "I think we should", "Quick question:", "FYI", "Reminder:", "Thanks for", "Looks good,",
           "Not sure about", "Let's", "Did anyone", "Update on", "I pushed", "Who owns"]
TITLES = ["Team Tidings", "Release 0.2", "Design review", "Ops on-call", "Customer: Acme", "Marketing",
          "Hiring", "Budget 2027", "Backend", "Desktop app", "Mobile", "Support escalations", "Lunch club",
          "Book club", "Infra", "Security", "Docs", "Offsite planning", "Random", "Announcements"]


def phrase(rng):
    """A message of realistic length: mostly a line, sometimes a paragraph or a link."""
    n = rng.choice([3, 5, 8, 12, 12, 20, 40])
    text = f"{rng.choice(OPENERS)} {' '.join(rng.choice(WORDS) for _ in range(n))}"
    if rng.random() < 0.05:
        text += f" https://docs.tidings.example/{rng.choice(WORDS)}/{rng.randrange(1000)}"
    return text + rng.choice([".", "?", "!", ""])


def seed(server, conversations, messages):
    """alice's group conversations with bob and carol, each with `messages` messages from the
    three of them; alice has read all but the last few of most."""
    rng = random.Random(7)
    users = {n: User(server, n) for n in ("alice", "bob", "carol")}
    cids = []
    for i in range(conversations):
        title = TITLES[i % len(TITLES)] + ("" if i < len(TITLES) else f" {i // len(TITLES) + 1}")
        cids.append(users["alice"].group(f"{title} (bench)", ["bob", "carol"]))
    for j in range(messages):
        for i, cid in enumerate(cids):
            sender = users[rng.choice(("alice", "bob", "bob", "carol"))]
            sender.send(cid, f"seed-{i}-{j}", phrase(rng))
    for i, cid in enumerate(cids):
        if i % 4:
            users["alice"].call("POST", f"/api/conversations/{cid}/read", {"upTo": max(1, messages - i % 7)})
    listed, path = [], "/api/conversations?limit=500"
    while True:  # every page of the list
        page = users["alice"].call("GET", path)
        listed += page["conversations"]
        if not page.get("hasMore"):
            break
        path = "/api/conversations?limit=500&cursor=" + page["nextCursor"]
    return users, len(listed), sum(c["lastSeq"] for c in listed)
