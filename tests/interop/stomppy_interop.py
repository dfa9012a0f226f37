#!/usr/bin/env python3
"""Interop checks for a STOMP 1.2 server over WebSocket or plain TCP, driven by stomp.py 9.

stomp.py connects with ``stomp.WSConnection([(host, port)], ws_path='/ws', vhost='/')``.
It sends the ``STOMP`` command (not ``CONNECT``), a ``host`` header, and no WebSocket
subprotocol: a server must cope with all three. With INTEROP_TRANSPORT=tcp the same checks
run over ``stomp.Connection12([(host, stomp_port)])`` (STOMP over TCP, tidings-server's
``--stomp-listen``); the WebSocket-only ones (``?token=``, ``/ws/websocket``) are skipped.

Target server from the environment (run.sh sets these):
  INTEROP_TARGET      tidings | rabbitmq
  INTEROP_HOST        default 127.0.0.1
  INTEROP_PORT        default 15674 (the HTTP/WebSocket port; REST calls go there)
  INTEROP_TRANSPORT   ws (default) | tcp
  INTEROP_STOMP_PORT  the STOMP-over-TCP port (default 61613), for INTEROP_TRANSPORT=tcp
  INTEROP_JWT_SECRET  (tidings) HS256 secret the server was started with; tokens are minted
                      here with PyJWT: {"sub": user, "exp": now + 3600}
  INTEROP_ONLY        optional regex: run only the checks whose name matches
  INTEROP_TIMEOUT_S   optional: how long each wait may take (default 5)
  INTEROP_DEBUG=1     optional: stomp.py debug logging on stderr

One line per check (PASS / FAIL / skip), then a line "N passed, M failed".
Exit status 0 only if nothing failed.

Every wait is bounded by a deadline. "Nothing arrives" is asserted only after a barrier:
a sentinel message on the same destination (delivered in order after whatever would have
been wrongly delivered) and/or a receipt round trip.
"""

import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback

import warnings

import jwt  # PyJWT
import stomp
import stomp.protocol
import websocket  # websocket-client, a dependency of stomp.py

TARGET = os.environ.get("INTEROP_TARGET", "rabbitmq")
HOST = os.environ.get("INTEROP_HOST", "127.0.0.1")
PORT = int(os.environ.get("INTEROP_PORT", "15674"))
SECRET = os.environ.get("INTEROP_JWT_SECRET", "")
ONLY = re.compile(os.environ["INTEROP_ONLY"]) if os.environ.get("INTEROP_ONLY") else None
T = float(os.environ.get("INTEROP_TIMEOUT_S", "5"))
IS_TIDINGS = TARGET == "tidings"
TRANSPORT = os.environ.get("INTEROP_TRANSPORT", "ws")
STOMP_PORT = int(os.environ.get("INTEROP_STOMP_PORT", "61613"))
IS_TCP = TRANSPORT == "tcp"
TAG = " (tcp)" if IS_TCP else ""
if TRANSPORT not in ("ws", "tcp"):
    sys.exit(f"INTEROP_TRANSPORT must be ws or tcp, not {TRANSPORT}")

if TARGET not in ("tidings", "rabbitmq"):
    sys.exit(f"INTEROP_TARGET must be tidings or rabbitmq, not {TARGET}")
if IS_TIDINGS and not SECRET:
    sys.exit("INTEROP_JWT_SECRET is required for INTEROP_TARGET=tidings")

# Short secrets are the server's business; the checks only mint what it expects.
warnings.filterwarnings("ignore", message=".*HMAC key.*")

class Recent(logging.Handler):
    """stomp.py's debug lines (the frames it sent and received) since the running check
    began: printed under the check's FAIL line, so that a CI log shows which side lost a
    frame. Tokens and passcodes are masked."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            line = f"{record.relativeCreated / 1000:9.3f} {record.threadName}: {record.getMessage()}"
        except Exception:
            return
        self.lines.append(SECRETS.sub("***", line)[:300])

    def take(self):
        lines, self.lines = self.lines, []
        return lines


# A JWT anywhere, and whatever follows passcode: (up to the line's end or a quote).
SECRETS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*|(?<=passcode:)[^\\'\"]+")
RECENT = Recent()
if os.environ.get("INTEROP_DEBUG"):
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
else:
    # Nothing on stderr: stomp.py logs connection failures as warnings, and the checks
    # report them themselves. Its lines are kept for a failed check (see Recent).
    logging.getLogger("stomp.py").propagate = False
logging.getLogger("stomp.py").setLevel(logging.DEBUG)
logging.getLogger("stomp.py").addHandler(RECENT)


# ------------------------------------------------------------------ helpers


class CheckFailure(Exception):
    pass


def check_that(cond, msg):
    if not cond:
        raise CheckFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailure(f"{what}: expected {expected!r}, got {actual!r}")


def rand():
    return secrets.token_hex(5)


def mint_jwt(sub, secret=None, exp_in=3600):
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + exp_in}, secret or SECRET, algorithm="HS256")


class Box:
    """Things received from another thread, with bounded waits on a condition over them."""

    def __init__(self, name):
        self.name = name
        self.cond = threading.Condition()

    def notify(self, update):
        with self.cond:
            update()
            self.cond.notify_all()

    def wait(self, fn, what, timeout=None):
        """Waits until fn() (evaluated under the lock) is truthy; returns its value."""
        deadline = time.monotonic() + (T if timeout is None else timeout)
        with self.cond:
            while True:
                value = fn()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckFailure(f"timed out after {T if timeout is None else timeout:g} s waiting for {what}")
                self.cond.wait(left)


# ------------------------------------------------------------------ stomp.py connections


class Conn(stomp.ConnectionListener):
    """One stomp.py WSConnection, recording everything it receives."""

    def __init__(self, ctx, label):
        ctx.append(self)
        self.label = label
        self.box = Box(label)
        self.connected_frame = None
        self.messages = []  # MESSAGE frames, in arrival order
        self.receipts = set()
        self.errors = []
        self.heartbeats = 0
        self.heartbeat_timeouts = 0
        self.disconnected = False
        self.conn = None

    # -- listener callbacks (stomp.py's receiver thread)
    def on_connected(self, frame):
        def update():
            self.connected_frame = frame
            # Tidings' session id, in every failure message: the server's log names it.
            if frame.headers.get("session"):
                self.label = f"{self.label} (server session {frame.headers['session']})"
        self.box.notify(update)

    def on_message(self, frame):
        self.box.notify(lambda: self.messages.append(frame))

    def on_receipt(self, frame):
        self.box.notify(lambda: self.receipts.add(frame.headers.get("receipt-id")))

    def on_error(self, frame):
        self.box.notify(lambda: self.errors.append(frame))

    def on_heartbeat(self):
        def bump():
            self.heartbeats += 1
        self.box.notify(bump)

    def on_heartbeat_timeout(self):
        def bump():
            self.heartbeat_timeouts += 1
        self.box.notify(bump)

    def on_disconnected(self):
        self.box.notify(lambda: setattr(self, "disconnected", True))

    # -- actions
    def open(self, user="alice", auth="passcode", token=None, path="/ws", heartbeats=(0, 0)):
        """Connects; returns the CONNECTED frame or raises CheckFailure (ERROR, close, timeout).

        auth (tidings): 'passcode' (passcode=<jwt>), 'bearer' (Authorization header),
        'query' (?token= on the URL), 'none'. On RabbitMQ: login guest / passcode guest.
        """
        login = passcode = None
        headers = {}
        query = ""
        if not IS_TIDINGS:
            login, passcode = "guest", "guest"
        else:
            token = token if token is not None else mint_jwt(user)
            if auth == "passcode":
                passcode = token
            elif auth == "bearer":
                headers["Authorization"] = f"Bearer {token}"
            elif auth == "query":
                query = f"?token={token}"
            elif auth != "none":
                raise ValueError(auth)
        if IS_TCP:
            if query or path != "/ws":
                raise ValueError("?token= and paths are WebSocket-only")
            self.conn = stomp.Connection12(
                [(HOST, STOMP_PORT)], vhost="/", heartbeats=heartbeats,
                reconnect_attempts_max=1, timeout=T,
            )
        else:
            self.conn = stomp.WSConnection(
                [(HOST, PORT)], ws_path=path + query, vhost="/", heartbeats=heartbeats,
                reconnect_attempts_max=1, timeout=T,
            )
        self.conn.set_listener("interop", self)
        try:
            self.conn.connect(username=login, passcode=passcode, headers=headers, wait=False)
        except stomp.exception.ConnectFailedException:
            raise CheckFailure(f"{self.label}: connection to {endpoint(path)} failed")
        self.box.wait(lambda: self.connected_frame or self.errors or self.disconnected,
                      f"{self.label}: CONNECTED")
        if self.errors:
            e = self.errors[0]
            raise CheckFailure(f"{self.label}: ERROR on connect: message={e.headers.get('message')!r} body={e.body!r}")
        if not self.connected_frame:
            raise CheckFailure(f"{self.label}: connection closed before CONNECTED")
        return self.connected_frame

    def wait(self, fn, what):
        """Waits for fn(); fails at once, with the server's explanation, on ERROR or close."""
        self.box.wait(lambda: fn() or self.errors or self.disconnected, f"{self.label}: {what}")
        with self.box.cond:
            value = fn()
        if not value:
            if self.errors:
                e = self.errors[0]
                raise CheckFailure(f"{self.label}: ERROR frame while waiting for {what}: "
                                   f"message={e.headers.get('message')!r} body={e.body[:200]!r}")
            raise CheckFailure(f"{self.label}: connection closed while waiting for {what}")
        return value

    def wait_receipt(self, rid, what):
        self.wait(lambda: rid in self.receipts, f"RECEIPT {rid} for {what}")

    def subscribe(self, destination, ack="auto", **headers):
        """SUBSCRIBE with a receipt; returns the subscription id once it is active."""
        sub_id = f"sub-{rand()}"
        rid = f"r-{sub_id}"
        self.conn.subscribe(destination, id=sub_id, ack=ack, receipt=rid, **headers)
        self.wait_receipt(rid, f"SUBSCRIBE {destination}")
        return sub_id

    def inbox(self, sub_id):
        return [m for m in self.messages if m.headers.get("subscription") == sub_id]

    def bodies(self, sub_id):
        return [m.body for m in self.inbox(sub_id)]

    def wait_message(self, sub_id, pred, what):
        return self.wait(lambda: next((m for m in self.inbox(sub_id) if pred(m)), None), what)

    def wait_count(self, sub_id, n, what):
        self.wait(lambda: len(self.inbox(sub_id)) >= n, f"{what} (have {len(self.inbox(sub_id))} of {n})")
        return self.inbox(sub_id)[:n]

    def send(self, destination, body, **headers):
        self.conn.send(destination, body, headers=headers)

    def send_receipted(self, destination, body, **headers):
        rid = f"send-{rand()}"
        self.conn.send(destination, body, headers=dict(headers, receipt=rid))
        self.wait_receipt(rid, f"SEND to {destination}")

    def barrier(self):
        """Receipt round trip: the server has processed everything sent before it."""
        self.send_receipted(f"/topic/interop.barrier.{rand()}", "barrier")

    def disconnect(self, receipt=None):
        """DISCONNECT with a receipt, without stomp.py's unbounded wait; returns when closed.

        RabbitMQ 3.10 Web-STOMP closes at once without the RECEIPT (observed), so only the
        close is awaited here.
        """
        rid = receipt or f"bye-{rand()}"
        stomp.protocol.Protocol12.disconnect(self.conn, receipt=rid)
        self.box.wait(lambda: self.disconnected or rid in self.receipts, f"{self.label}: DISCONNECT RECEIPT or close")
        # stomp.py closes the socket itself when the DISCONNECT receipt arrives.
        self.box.wait(lambda: self.disconnected, f"{self.label}: close after DISCONNECT")
        return rid

    def destroy(self):
        if self.conn is not None:
            try:
                self.conn.transport.disconnect_socket()
            except Exception:
                pass


# ------------------------------------------------------------------ raw WebSocket peer


def parse_frames(text):
    frames = []
    rest = text
    while True:
        rest = rest.lstrip("\r\n")
        nul = rest.find("\0")
        if nul < 0:
            return frames
        raw, rest = rest[:nul], rest[nul + 1:]
        blank = re.search(r"\r?\n\r?\n", raw)
        head, body = (raw[:blank.start()], raw[blank.end():]) if blank else (raw, "")
        lines = re.split(r"\r?\n", head)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k, v)
        frames.append({"command": lines[0], "headers": headers, "body": body})


def endpoint(path="/ws"):
    return f"tcp://{HOST}:{STOMP_PORT}" if IS_TCP else f"ws://{HOST}:{PORT}{path}"


class RawPeer:
    """A WebSocket (websocket-client) or, over TCP, a socket, speaking STOMP by hand, for
    frames no client would send."""

    def __init__(self, ctx, label):
        ctx.append(self)
        self.label = label
        self.box = Box(label)
        self.frames = []
        self.closed = False
        self.ws = None

    def open(self, path="/ws"):
        if IS_TCP:
            try:
                self.sock = socket.create_connection((HOST, STOMP_PORT), timeout=T)
            except OSError as e:
                raise CheckFailure(f"{self.label}: TCP connection to {endpoint()} failed: {e}")
            self.sock.settimeout(None)
            threading.Thread(target=self._read_tcp, daemon=True).start()
            return
        url = f"ws://{HOST}:{PORT}{path}"
        try:
            self.ws = websocket.create_connection(url, subprotocols=["v12.stomp", "v11.stomp", "v10.stomp"], timeout=T)
        except Exception as e:
            raise CheckFailure(f"{self.label}: WebSocket upgrade to {url} failed: {e}")
        self.ws.settimeout(None)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    frames = parse_frames(data.decode("utf-8", "replace"))
                    self.box.notify(lambda: self.frames.extend(frames))
        except Exception:
            pass
        self.box.notify(lambda: setattr(self, "closed", True))

    def _read_tcp(self):
        """Frames from the byte stream: complete ones (up to the last NUL) are parsed."""
        pending = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                pending += data
                cut = pending.rfind(b"\0")
                if cut >= 0:
                    frames = parse_frames(pending[:cut + 1].decode("utf-8", "replace"))
                    pending = pending[cut + 1:]
                    self.box.notify(lambda: self.frames.extend(frames))
        except OSError:
            pass
        self.box.notify(lambda: setattr(self, "closed", True))

    def frame(self, command, headers=None, body=""):
        head = "".join(f"{k}:{v}\n" for k, v in (headers or {}).items())
        text = f"{command}\n{head}\n{body}\0"
        if IS_TCP:
            self.sock.sendall(text.encode("utf-8"))
        else:
            self.ws.send(text)

    def wait_frame(self, command, what=None):
        """Waits for a frame; an unexpected ERROR frame fails at once, with its message."""
        f = self.box.wait(lambda: next((f for f in self.frames if f["command"] in (command, "ERROR")), None),
                          f"{self.label}: {what or command}")
        if f["command"] != command:
            raise CheckFailure(f"{self.label}: ERROR frame while waiting for {what or command}: "
                               f"message={f['headers'].get('message')!r} body={f['body'][:200]!r}")
        return f

    def wait_closed(self, what="the server to close the WebSocket"):
        self.box.wait(lambda: self.closed, f"{self.label}: {what}")

    def destroy(self):
        if getattr(self, "sock", None) is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.ws is not None:
            try:
                self.ws.abort()
                self.ws.close(timeout=0.2)
            except Exception:
                pass


def raw_connect_headers(user="alice"):
    h = {"accept-version": "1.2", "host": "/"}
    if IS_TIDINGS:
        h["passcode"] = mint_jwt(user)
    else:
        h.update(login="guest", passcode="guest")
    return h


# ------------------------------------------------------------------ checks

CHECKS = []


def check(name, tidings_only=None, skip_on_rabbit=None, ws_only=None, timeout=20):
    """Registers fn(ctx) as a check; ctx is a list whose connections are closed afterwards."""
    def register(fn):
        CHECKS.append(dict(name=name, fn=fn, skip=tidings_only or skip_on_rabbit, ws_only=ws_only,
                           timeout=timeout))
        return fn
    return register


def connected(ctx, label, **kw):
    c = Conn(ctx, label)
    c.open(**kw)
    return c


@check("connect: CONNECTED with version 1.2 and a heart-beat header")
def _(ctx):
    c = connected(ctx, "client")
    h = c.connected_frame.headers
    check_eq(h.get("version"), "1.2", "CONNECTED version header")
    check_that(re.fullmatch(r"\d+,\d+", h.get("heart-beat", "")),
               f"CONNECTED heart-beat header missing or malformed: {h.get('heart-beat')!r}")


@check("topic fan-out: one SEND reaches both subscribers, headers and body intact")
def _(ctx):
    dest = f"/topic/interop.{rand()}"
    a = connected(ctx, "sub-a")
    b = connected(ctx, "sub-b")
    s = connected(ctx, "sender", user="bob")
    sa = a.subscribe(dest)
    sb = b.subscribe(dest)
    tag = f"v-{rand()}"
    s.conn.send(dest, f"fan-out {tag}", content_type="text/plain", headers={"x-interop": tag})
    for c, sid in ((a, sa), (b, sb)):
        m = c.wait_message(sid, lambda m: m.body == f"fan-out {tag}", "the fanned-out MESSAGE")
        check_eq(m.headers.get("x-interop"), tag, f"{c.label}: custom header x-interop")
        check_eq(m.headers.get("content-type"), "text/plain", f"{c.label}: content-type")
        check_eq(m.headers.get("destination"), dest, f"{c.label}: destination header")
        check_that(m.headers.get("message-id"), f"{c.label}: MESSAGE without message-id")


@check("topic fan-out: UTF-8 body intact")
def _(ctx):
    dest = f"/topic/interop.{rand()}"
    a = connected(ctx, "sub-a")
    b = connected(ctx, "sub-b")
    sa = a.subscribe(dest)
    sb = b.subscribe(dest)
    body = "héllo ✓ — 日本語 🎉"
    a.conn.send(dest, body, content_type="text/plain;charset=utf-8")
    for c, sid in ((a, sa), (b, sb)):
        m = c.wait_message(sid, lambda m: True, "the UTF-8 MESSAGE")
        check_eq(m.body, body, f"{c.label}: body")
        check_eq(m.headers.get("content-type"), "text/plain;charset=utf-8", f"{c.label}: content-type")


@check("queue point-to-point: 4 messages, each to exactly one of two subscribers")
def _(ctx):
    # RabbitMQ (observed): round-robin over the two consumers, 2 + 2 with auto ack.
    dest = f"/queue/interop.{rand()}"
    a = connected(ctx, "sub-a")
    b = connected(ctx, "sub-b")
    sa = a.subscribe(dest)
    sb = b.subscribe(dest)
    sent = [f"q-{i}" for i in range(1, 5)]
    for body in sent:
        a.send(dest, body)
    deadline = time.monotonic() + T
    while len(a.inbox(sa)) + len(b.inbox(sb)) < 4:
        check_that(time.monotonic() < deadline,
                   f"timed out after {T:g} s: {len(a.inbox(sa)) + len(b.inbox(sb))} of 4 messages across both subscribers")
        time.sleep(0.02)
    a.barrier()
    b.barrier()
    check_eq(sorted(a.bodies(sa) + b.bodies(sb)), sent, "bodies received across both subscribers (each exactly once)")
    check_that(a.inbox(sa) and b.inbox(sb),
               f"expected both subscribers to get at least one message, got {len(a.inbox(sa))} and {len(b.inbox(sb))}")


@check("queue retention: a message sent before anyone subscribes is delivered on SUBSCRIBE")
def _(ctx):
    dest = f"/queue/interop.{rand()}"
    s = connected(ctx, "sender")
    s.send_receipted(dest, "kept for later")
    s.disconnect()
    r = connected(ctx, "late-subscriber")
    sid = r.subscribe(dest)
    r.wait_message(sid, lambda m: m.body == "kept for later", "the retained MESSAGE")


@check("receipts: SEND with receipt gets a RECEIPT with the same receipt-id")
def _(ctx):
    c = connected(ctx, "client")
    c.send_receipted(f"/topic/interop.{rand()}", "x")  # waits for exactly that receipt-id


@check("receipts: SUBSCRIBE with receipt gets a RECEIPT")
def _(ctx):
    c = connected(ctx, "client")
    c.subscribe(f"/topic/interop.{rand()}")  # waits for the receipt


# DISCONNECT with a receipt: RabbitMQ 3.10 Web-STOMP (observed) closes the WebSocket at once
# without the RECEIPT; the graceful close is checked on both, the RECEIPT on Tidings only.
@check("receipts: DISCONNECT with receipt closes the connection")
def _(ctx):
    c = connected(ctx, "client")
    c.disconnect()


@check("receipts: DISCONNECT with receipt gets its RECEIPT before the close",
       skip_on_rabbit="RabbitMQ 3.10 Web-STOMP closes on DISCONNECT without sending its RECEIPT (observed)")
def _(ctx):
    c = connected(ctx, "client")
    rid = c.disconnect()
    check_that(rid in c.receipts, f"the connection closed without the RECEIPT {rid} for DISCONNECT")


@check("ack client-individual: the unacked message is redelivered to the next subscriber, the acked one is not")
def _(ctx):
    dest = f"/queue/interop.{rand()}"
    c1 = connected(ctx, "consumer-1")
    s1 = c1.subscribe(dest, ack="client-individual")
    c1.send(dest, "m1")
    c1.send(dest, "m2")
    _m1, m2 = c1.wait_count(s1, 2, "two MESSAGEs")
    check_eq(c1.bodies(s1), ["m1", "m2"], "first delivery order")
    c1.conn.ack(m2.headers["ack"])
    c1.barrier()
    c1.disconnect()

    c2 = connected(ctx, "consumer-2")
    s2 = c2.subscribe(dest, ack="client-individual")
    c2.send(dest, "sentinel")  # queued after m1: once it arrives, m1 (if redelivered) has too
    c2.wait_message(s2, lambda m: m.body == "m1", "m1 redelivered")
    c2.wait_message(s2, lambda m: m.body == "sentinel", "the sentinel")
    c2.barrier()
    check_eq(sorted(c2.bodies(s2)), ["m1", "sentinel"], "messages on the second connection (m2 was acked)")
    for m in c2.inbox(s2):
        c2.conn.ack(m.headers["ack"])
    c2.barrier()


@check("ack client (cumulative): ACK of the 3rd message acks all 3, nothing is redelivered")
def _(ctx):
    dest = f"/queue/interop.{rand()}"
    c1 = connected(ctx, "consumer-1")
    s1 = c1.subscribe(dest, ack="client")
    for b in ("c1", "c2", "c3"):
        c1.send(dest, b)
    msgs = c1.wait_count(s1, 3, "three MESSAGEs")
    check_eq(c1.bodies(s1), ["c1", "c2", "c3"], "delivery order")
    c1.conn.ack(msgs[2].headers["ack"])
    c1.barrier()
    c1.disconnect()

    c2 = connected(ctx, "consumer-2")
    s2 = c2.subscribe(dest)
    c2.send(dest, "sentinel")
    c2.wait_message(s2, lambda m: m.body == "sentinel", "the sentinel")
    c2.barrier()
    check_eq(c2.bodies(s2), ["sentinel"], "messages after reconnecting (all three were acked)")


@check("NACK (client-individual): the nacked message is delivered again")
def _(ctx):
    dest = f"/queue/interop.{rand()}"
    c = connected(ctx, "consumer")
    sid = c.subscribe(dest, ack="client-individual")
    c.send(dest, "please retry")
    first = c.wait_message(sid, lambda m: m.body == "please retry", "the first delivery")
    c.conn.nack(first.headers["ack"])
    again = c.wait_message(sid, lambda m: m.body == "please retry" and m is not first, "the redelivery after NACK")
    # RabbitMQ (observed) marks it with redelivered:true; not required by STOMP, so not asserted.
    c.conn.ack(again.headers["ack"])
    c.barrier()


@check("transactions: SENDs in a transaction are delivered at COMMIT, in order")
def _(ctx):
    dest = f"/topic/interop.{rand()}"
    c = connected(ctx, "client")
    sid = c.subscribe(dest)
    tx = f"tx-{rand()}"
    c.conn.begin(transaction=tx)
    c.send(dest, "tx-1", transaction=tx)
    c.send(dest, "tx-2", transaction=tx)
    # Barrier: a non-transactional message on the same destination, delivered in order.
    c.send_receipted(dest, "outside-tx")
    c.wait_message(sid, lambda m: m.body == "outside-tx", "the non-transactional message")
    check_eq(c.bodies(sid), ["outside-tx"], "delivered before COMMIT")
    c.conn.commit(transaction=tx)
    c.wait_count(sid, 3, "the committed messages")
    check_eq(c.bodies(sid), ["outside-tx", "tx-1", "tx-2"], "delivered after COMMIT")


@check("transactions: SENDs in an aborted transaction are never delivered")
def _(ctx):
    dest = f"/topic/interop.{rand()}"
    c = connected(ctx, "client")
    sid = c.subscribe(dest)
    tx = f"tx-{rand()}"
    c.conn.begin(transaction=tx)
    c.send(dest, "aborted-1", transaction=tx)
    c.send(dest, "aborted-2", transaction=tx)
    c.conn.abort(transaction=tx)
    c.send_receipted(dest, "after-abort")
    c.wait_message(sid, lambda m: m.body == "after-abort", "the message sent after ABORT")
    c.barrier()
    check_eq(c.bodies(sid), ["after-abort"], "delivered after ABORT")


@check("heart-beats: 1000,1000 negotiated, idle connection stays up and server heart-beats arrive", timeout=35)
def _(ctx):
    c = connected(ctx, "client", heartbeats=(1000, 1000))
    hb = c.connected_frame.headers.get("heart-beat", "0,0")
    sx, sy = (int(x) for x in hb.split(","))
    check_that(sx > 0, f"server offers no heart-beats (CONNECTED heart-beat:{hb}) although the client asked for 1000 ms")
    check_that(sy > 0, f"server does not want client heart-beats (CONNECTED heart-beat:{hb})")
    every = max(sx, 1000)  # STOMP 1.2: the server sends every max(sx, cy) ms
    idle = min(max(3.5, 2 * every / 1000 + 0.5), 25)
    time.sleep(idle)  # idle on purpose: the point is to stay idle
    check_that(c.heartbeat_timeouts == 0,
               f"stomp.py saw no server heart-beat within its grace period (heart-beats received: {c.heartbeats})")
    check_that(not c.disconnected, "connection closed while idle")
    check_that(c.heartbeats >= 2, f"expected at least 2 server heart-beats in {idle:g} s (every {every} ms), got {c.heartbeats}")
    c.barrier()  # and it still works


@check("bad frame: an unknown command gets an ERROR frame")
def _(ctx):
    p = RawPeer(ctx, "raw")
    p.open()
    p.frame("CONNECT", raw_connect_headers())
    p.wait_frame("CONNECTED")
    p.frame("FROBNICATE", {"destination": "/topic/x"}, "what is this")
    e = p.wait_frame("ERROR", "ERROR for the unknown command")
    check_that(e["headers"].get("message"), "ERROR frame without a message header")


@check("bad frame: the server closes the connection after the ERROR",
       skip_on_rabbit="RabbitMQ 3.10 sends ERROR \"Bad command\" for an unknown command but keeps the connection open (observed; STOMP 1.2 says the server closes after ERROR)")
def _(ctx):
    p = RawPeer(ctx, "raw")
    p.open()
    p.frame("CONNECT", raw_connect_headers())
    p.wait_frame("CONNECTED")
    p.frame("FROBNICATE")
    p.wait_frame("ERROR", "ERROR for the unknown command")
    p.wait_closed("the server to close the WebSocket after the ERROR")


# ---- Tidings-only

TIDINGS_AUTH = "Tidings authentication (RabbitMQ uses login/passcode)"


def expect_auth_error(ctx, label, message_re=None, **open_kw):
    c = Conn(ctx, label)
    try:
        c.open(**open_kw)
    except CheckFailure:
        pass
    check_that(not c.connected_frame, f"{label}: got CONNECTED, expected ERROR")
    check_that(c.errors, f"{label}: connection closed without an ERROR frame")
    msg = c.errors[0].headers.get("message", "")
    check_that(msg, f"{label}: ERROR frame without a message header")
    if message_re:
        check_that(re.search(message_re, msg, re.I), f"{label}: ERROR message {msg!r} does not match /{message_re}/i")
    c.box.wait(lambda: c.disconnected, f"{label}: the server to close the connection after the auth ERROR")


@check("auth: CONNECT without a token gets ERROR (token missing), then close", tidings_only=TIDINGS_AUTH)
def _(ctx):
    expect_auth_error(ctx, "no-token", r"token", auth="none")


@check("auth: token with a wrong signature gets ERROR, then close", tidings_only=TIDINGS_AUTH)
def _(ctx):
    expect_auth_error(ctx, "bad-signature", token=mint_jwt("alice", secret="not-" + SECRET))


@check("auth: expired token gets ERROR, then close", tidings_only=TIDINGS_AUTH)
def _(ctx):
    expect_auth_error(ctx, "expired", r"expir", token=mint_jwt("alice", exp_in=-120))


for _auth, _how in (("passcode", "passcode header (passcode=token)"),
                    ("bearer", "Authorization: Bearer header"),
                    ("query", "?token= on the URL, no header")):
    def _make(auth):
        def run(ctx):
            c = connected(ctx, f"alice-{auth}", user="alice", auth=auth)
            check_eq(c.connected_frame.headers.get("user-name"), "alice", "CONNECTED user-name")
            c.barrier()
        return run
    check(f"auth: token via {_how} is accepted", tidings_only=TIDINGS_AUTH,
          ws_only="a URL query is WebSocket-only" if _auth == "query" else None)(_make(_auth))


@check("CONNECTED carries user-name = JWT sub and a server header starting with \"tidings\"",
       tidings_only="RabbitMQ sends no user-name and server:RabbitMQ/3.10.8")
def _(ctx):
    user = f"carol-{rand()}"
    register_account(user)
    c = connected(ctx, "client", user=user)
    h = c.connected_frame.headers
    check_eq(h.get("user-name"), user, "CONNECTED user-name")
    check_that(re.match(r"tidings", h.get("server", ""), re.I), f"CONNECTED server header {h.get('server')!r} does not start with \"tidings\"")
    check_that(h.get("session"), "CONNECTED without a session header")


@check("user destinations: /user/alice/queue/inbox reaches both of alice's sessions, not bob",
       tidings_only="RabbitMQ has no /user destinations")
def _(ctx):
    a1 = connected(ctx, "alice-1", user="alice")
    a2 = connected(ctx, "alice-2", user="alice")
    bob = connected(ctx, "bob", user="bob")
    s1 = a1.subscribe("/user/queue/inbox")
    s2 = a2.subscribe("/user/queue/inbox")
    sb = bob.subscribe("/user/queue/inbox")
    body = f"for alice {rand()}"
    bob.send_receipted("/user/alice/queue/inbox", body)
    a1.wait_message(s1, lambda m: m.body == body, "the message in alice session 1")
    a2.wait_message(s2, lambda m: m.body == body, "the message in alice session 2")
    # Barrier for bob: a message to himself arrives after anything sent to him before it.
    bob.send_receipted("/user/bob/queue/inbox", "sentinel for bob")
    bob.wait_message(sb, lambda m: m.body == "sentinel for bob", "bob's own sentinel")
    check_eq(bob.bodies(sb), ["sentinel for bob"], "messages bob received")


@check("forbidden: SEND to /topic/announcements is refused (ERROR or /user/queue/errors)",
       tidings_only="RabbitMQ lets anyone send to any /topic")
def _(ctx):
    watcher = connected(ctx, "watcher", user="bob")
    sw = watcher.subscribe("/topic/announcements")
    c = connected(ctx, "alice")
    se = c.subscribe("/user/queue/errors")
    body = f"fake announcement {rand()}"
    c.send("/topic/announcements", body, receipt=f"forbidden-{rand()}")
    c.box.wait(lambda: c.errors or c.inbox(se), "alice: an ERROR frame or a message on /user/queue/errors")
    watcher.barrier()
    check_that(body not in watcher.bodies(sw), "the forbidden SEND was delivered to /topic/announcements subscribers")


@check("path /ws/websocket works too", tidings_only="RabbitMQ Web-STOMP serves /ws only",
       ws_only="a WebSocket path")
def _(ctx):
    c = connected(ctx, "client", path="/ws/websocket")
    dest = f"/topic/interop.{rand()}"
    sid = c.subscribe(dest)
    c.send(dest, "via /ws/websocket")
    c.wait_message(sid, lambda m: m.body == "via /ws/websocket", "the round-tripped MESSAGE")


# ------------------------------------------------------------------ runner


def run_check(c):
    """Runs one check in a worker thread, bounded by its timeout; closes its connections."""
    ctx = []
    result = {}

    def body():
        try:
            c["fn"](ctx)
            result["ok"] = True
        except CheckFailure as e:
            result["error"] = str(e)
        except Exception:
            result["error"] = traceback.format_exc().strip()

    started = time.monotonic()
    RECENT.take()
    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    worker.join(c["timeout"])
    if worker.is_alive():
        result["error"] = f"the whole check took longer than {c['timeout']} s"
    for x in ctx:
        x.destroy()
    return result, int((time.monotonic() - started) * 1000)


# The users the checks connect as. Tidings accepts a token only for an account it has.
USERS = ("alice", "bob")


def register_account(user):
    """Creates the account `user` over REST (409, created before on this server, is fine)."""
    import json
    import urllib.error
    import urllib.request
    body = json.dumps({"username": user, "password": f"{user}-interop-password"}).encode()
    req = urllib.request.Request(f"http://{HOST}:{PORT}/api/auth/register", data=body,
                                 headers={"content-type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=T * 4).close()
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise CheckFailure(f"cannot create the account {user}: {e.code} {e.read()[:200]!r}")


def ensure_accounts():
    for user in USERS:
        register_account(user)


def main():
    passed = failed = skipped = 0
    print(f"stomp.py interop against {TARGET} at {endpoint()}", flush=True)
    if IS_TIDINGS:
        ensure_accounts()
    for c in CHECKS:
        if ONLY and not ONLY.search(c["name"]):
            continue
        if not IS_TIDINGS and c["skip"]:
            print(f"skip (rabbitmq): stomp.py {c['name']} — {c['skip']}", flush=True)
            skipped += 1
            continue
        if IS_TCP and c["ws_only"]:
            print(f"skip (tcp): stomp.py {c['name']} — {c['ws_only']}", flush=True)
            skipped += 1
            continue
        result, ms = run_check(c)
        if result.get("ok"):
            passed += 1
            print(f"PASS stomp.py{TAG} {c['name']} ({ms} ms)", flush=True)
        else:
            failed += 1
            print(f"FAIL stomp.py{TAG} {c['name']} ({ms} ms): {result['error']}", flush=True)
            lines = RECENT.take()
            print(f"  stomp.py's log during the check ({len(lines)} lines, the last 60):", flush=True)
            for line in lines[-60:]:
                print(f"    {line}", flush=True)
    print(f"stomp.py: {skipped} skipped")
    print(f"{passed} passed, {failed} failed", flush=True)
    # os._exit: stomp.py receiver threads of a timed-out check must not keep us alive.
    sys.stdout.flush()
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
