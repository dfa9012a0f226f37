#!/usr/bin/env bash
# End-to-end tests of the desktop app: the real app (debug build) in a virtual display
# (Xvfb) on a private D-Bus session, driven through WebDriver (tauri-driver +
# WebKitWebDriver; test_tray.py drives its processes through the tray instead), against the real server, with fake org.freedesktop.Notifications and
# org.kde.StatusNotifierWatcher services recording what the app does. Nine scripts, each
# with its own servers and app: test_app.py (demo data: sign-in, notifications, tray, offline,
# updates), test_chat.py (a new account: conversations, groups, message actions, mentions,
# Markdown), test_reading.py (drafts, the New messages line, what is marked read, date
# separators, the jump button, scroll positions, the window's size), test_keyboard.py
# (keyboard only, shortcuts, text size, axe-core), test_notifications.py (the notification
# centre: badge, mark read, paging, summaries of bursts), test_accounts.py (two accounts
# on two servers at once: messages, notifications, settings apart, Ctrl+1/2, signing out of
# one) and test_attachments.py (a pasted image inline and byte-equal in bob's CLI download,
# the viewer, file cards, a 30 MB file refused, a file sent offline goes once, cancel, images
# from the download cache with the server stopped, the cache limit setting) and
# test_profiles.py (servers of another kind: a RabbitMQ Web-STOMP profile added through the
# form, Test connection, a third party's message as an OS notification with the configured
# title and body, a wrong password, the list after a restart with RabbitMQ stopped, a Socket.IO
# profile against tests/sio-backend through its restart; it runs tests/interop/rabbitmq.sh,
# whose ports are fixed) and test_tray.py (the tray process without WebKit: it notifies,
# Show starts the window's process and Hide ends it, a second launch, Quit, the windowed app
# handing over when hidden, a hidden start).
#
#   bash tests/e2e/run.sh APP_BINARY SERVER_BINARY CLI_BINARY [SCRIPT...]
#
# Installs its Python packages into tests/e2e/.venv (tests/desktop/venv.sh). Screenshots go to
# tests/e2e/screenshots/. Ends with "N passed, M failed" over all scripts; exit status 0
# only if none failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 3 ] || { echo "usage: $0 APP_BINARY SERVER_BINARY CLI_BINARY [SCRIPT...]" >&2; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
APP=$(abs "$1") SERVER=$(abs "$2") CLI=$(abs "$3")
shift 3
SCRIPTS=("$@")
[ ${#SCRIPTS[@]} -gt 0 ] || SCRIPTS=(test_app.py test_chat.py test_reading.py test_keyboard.py test_notifications.py test_accounts.py test_attachments.py test_profiles.py test_tray.py)
for b in "$APP" "$SERVER" "$CLI"; do [ -x "$b" ] || { echo "e2e: $b is missing: run make build" >&2; exit 1; }; done
command -v tauri-driver >/dev/null || { echo "e2e: tauri-driver is missing: cargo install tauri-driver --locked --version '^2'" >&2; exit 1; }
command -v WebKitWebDriver >/dev/null || { echo "e2e: WebKitWebDriver is missing: apt-get install webkit2gtk-driver" >&2; exit 1; }

# shellcheck source=../desktop/venv.sh
source "$HERE/../desktop/venv.sh"
ensure_venv "e2e"
mkdir -p "$HERE/screenshots"
# Under Xvfb, WebKit's compositor draws through Mesa's software rasteriser (llvmpipe). It
# crashed there once in a clean CI run (2026-12-03: a general protection fault in
# swrast_dri.so on the web process's ThreadedCompositor thread, in dmesg; WebDriver then
# answered "page crash or hang" to the four checks after it). The checks are about the app,
# not about Mesa: with compositing off the web process paints on the CPU, with no
# compositor or llvmpipe threads (checked in /proc). `make run` and the benchmarks keep
# WebKit's default.
export WEBKIT_DISABLE_COMPOSITING_MODE=${WEBKIT_DISABLE_COMPOSITING_MODE:-1}
passed=0 failed=0
# What failed, and what the failed scripts' logs said ("diag:" lines, harness.py), printed
# again at the end: a CI log shows its tail.
recap=$(mktemp)
for s in "${SCRIPTS[@]}"; do
  out=$(mktemp)
  # A private display and a private session bus per script; both end with it.
  xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
    timeout 900 "$PY" "$HERE/$s" "$APP" "$SERVER" "$CLI" "$HERE/screenshots" 2>&1 | tee "$out"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
  grep -E '^(FAIL |diag: )' "$out" | cut -c1-400 | sed "s|^|$s: |" >> "$recap"
  rm -f "$out"
  if [ -n "$line" ]; then
    passed=$((passed + ${line%% passed*}))
    f=${line#*, }; failed=$((failed + ${f%% failed}))
  else
    echo "e2e: $s ended without a count" >&2
    failed=$((failed + 1))
  fi
done
if [ -s "$recap" ]; then
  echo "e2e: the failures again, with what the logs said"
  cat "$recap"
fi
rm -f "$recap"
echo "e2e: all scripts"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
