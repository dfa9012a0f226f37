"""Fake desktop services on the private session bus, for the app's end-to-end tests
(tests/e2e) and its benchmark (tests/bench).

org.freedesktop.Notifications records every Notify call with the monotonic time it arrived
(time.monotonic() in this process, the same clock the benchmark reads before each send) and
the connection that sent it, and never closes a notification by itself (as GNOME Shell keeps
them in its list). A click sends ActionInvoked to that connection alone, as some real
services do: an app that listens for clicks on another connection never hears it.
org.kde.StatusNotifierWatcher accepts the app's tray item so its dbusmenu can be clicked
(Show/Hide, Quit) and its label (the tray line: unread count and connection state) read.
Both run in dbus-run-session.
"""

import asyncio
import threading
import time

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal


class Failure(Exception):
    """A scenario did not work; the message is a sentence for the user."""


def wait_for(cond, what, timeout, interval=0.1):
    """Polls cond() until it returns something truthy; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    # Each different error cond() raised on the way (a process that went away between two
    # reads, a busy file), with how often: the last alone can hide the one that mattered.
    errors = {}
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:
            key = f"{type(e).__name__}: {e}"
            errors[key] = errors.get(key, 0) + 1
        if time.monotonic() >= deadline:
            seen = "; ".join(f"{k} (x{n})" for k, n in list(errors.items())[-5:])
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (errors on the way: {seen})" if seen else ""))
        time.sleep(interval)


class Notifications(ServiceInterface):
    """Records Notify calls: dicts with t (monotonic s), id, replaces, app, summary, body,
    actions, sender (the unique bus name of the connection that sent it)."""

    def __init__(self):
        super().__init__("org.freedesktop.Notifications")
        self.calls = []
        self.cond = threading.Condition()
        self.next_id = 1
        # The sender of the call being handled (set by Desktop's message handler, which
        # dbus-fast runs just before the method), and of each notification id's last call.
        self.caller = None
        self.senders = {}

    @method()
    def GetCapabilities(self) -> "as":
        return ["actions", "body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["tidings-bench", "tidings", "1.0", "1.2"]

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", timeout: "i") -> "u":
        t = time.monotonic()
        with self.cond:
            nid = replaces_id or self.next_id
            if not replaces_id:
                self.next_id += 1
            self.calls.append({"t": t, "id": nid, "replaces": replaces_id, "app": app_name, "summary": summary,
                               "body": body, "actions": list(actions), "sender": self.caller})
            self.senders[nid] = self.caller
            self.cond.notify_all()
        return nid

    @method()
    def CloseNotification(self, nid: "u"):
        self.NotificationClosed(nid, 3)

    @signal()
    def ActionInvoked(self, nid: "u", key: "s") -> "us":
        return [nid, key]

    @signal()
    def NotificationClosed(self, nid: "u", reason: "u") -> "uu":
        return [nid, reason]

    def snapshot(self):
        with self.cond:
            return list(self.calls)

    def with_text(self, text):
        with self.cond:
            return [c for c in self.calls if text in c["body"] or text in c["summary"]]

    def wait_text(self, text, timeout):
        """The first Notify carrying `text`; woken by each call, bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for c in self.calls:
                    if text in c["body"] or text in c["summary"]:
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"no desktop notification carrying {text!r} within {timeout:.0f} s")
                self.cond.wait(left)


class Watcher(ServiceInterface):
    """org.kde.StatusNotifierWatcher: the tray host the app registers its item with."""

    def __init__(self):
        super().__init__("org.kde.StatusNotifierWatcher")
        self.items = []  # (bus name, object path), in registration order

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):
        pass  # recorded with its sender by the message handler in Desktop

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":
        return [f"{s}{p}" for s, p in self.items]

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, service: "s") -> "s":
        return service


class Desktop:
    """The fake services, on their own asyncio loop in a thread."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.notes = Notifications()
        self.watcher = Watcher()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        if not self.ready.wait(timeout):
            raise Failure("the fake desktop services did not start on the session bus")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._setup())
        self.ready.set()
        self.loop.run_forever()

    async def _setup(self):
        self.bus = await MessageBus(bus_type=BusType.SESSION).connect()
        self.bus.export("/org/freedesktop/Notifications", self.notes)
        self.bus.export("/StatusNotifierWatcher", self.watcher)

        def record(msg):
            if msg.message_type == MessageType.METHOD_CALL and msg.member == "Notify":
                self.notes.caller = msg.sender
            if msg.message_type == MessageType.METHOD_CALL and msg.member == "RegisterStatusNotifierItem":
                arg = msg.body[0]
                path = arg if arg.startswith("/") else "/StatusNotifierItem"
                service = msg.sender if arg.startswith("/") else arg
                self.watcher.items.append((service, path))
            return None

        self.bus.add_message_handler(record)
        await self.bus.request_name("org.freedesktop.Notifications")
        await self.bus.request_name("org.kde.StatusNotifierWatcher")

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout)

    async def _item_props(self, index):
        service, path = self.watcher.items[index]
        reply = await self.bus.call(Message(destination=service, path=path, interface="org.freedesktop.DBus.Properties",
                                            member="GetAll", signature="s", body=["org.kde.StatusNotifierItem"]))
        if reply.message_type == MessageType.ERROR:
            raise Failure(f"GetAll on the tray item failed: {reply.body}")
        return service, {k: v.value for k, v in reply.body[0].items()}

    def tray(self, index=-1):
        """The bus name and properties of a registered tray item (the newest by default)."""
        return self.call(self._item_props(index))

    def label(self):
        """The newest tray item's label: "Tidings — N unread — live" (its XAyatanaLabel, or
        its Title for the tray process's item, which has no label)."""
        props = self.tray()[1]
        return props.get("XAyatanaLabel") or props.get("Title", "")

    async def _menu(self, service, menu_path):
        reply = await self.bus.call(Message(destination=service, path=menu_path, interface="com.canonical.dbusmenu",
                                            member="GetLayout", signature="iias", body=[0, -1, []]))
        if reply.message_type == MessageType.ERROR:
            raise Failure(f"GetLayout on the tray menu failed: {reply.body}")
        _rev, (_id, _props, children) = reply.body
        items = []
        for child in children:
            cid, props, _ = child.value
            items.append((cid, props.get("label", Variant("s", "")).value, props.get("type", Variant("s", "")).value))
        return items

    async def _click(self, service, menu_path, item_id):
        await self.bus.call(Message(destination=service, path=menu_path, interface="com.canonical.dbusmenu",
                                    member="Event", signature="isvu",
                                    body=[item_id, "clicked", Variant("s", ""), int(time.time())]))

    def menu(self):
        """The newest tray item's bus name, menu path and entries (id, label, type)."""
        service, props = self.tray()
        return service, props["Menu"], self.call(self._menu(service, props["Menu"]))

    def click_menu(self, label):
        """Clicks the newest tray item's menu entry `label` (as a user does in the panel)."""
        service, path, items = self.menu()
        for cid, lab, _ in items:
            if lab.replace("_", "") == label:
                return self.call(self._click(service, path, cid))
        raise Failure(f"no tray menu item {label!r} in {items}")

    def click_notification(self, nid):
        """A click on a notification's body (its "default" action): ActionInvoked sent to the
        connection that sent the notification, and to no other."""
        with self.notes.cond:
            sender = self.notes.senders.get(nid)
        if sender is None:
            raise Failure(f"a click on notification {nid}, which was never shown")
        signal = Message(message_type=MessageType.SIGNAL, destination=sender,
                         path="/org/freedesktop/Notifications", interface="org.freedesktop.Notifications",
                         member="ActionInvoked", signature="us", body=[nid, "default"])
        self.loop.call_soon_threadsafe(self.bus.send, signal)
