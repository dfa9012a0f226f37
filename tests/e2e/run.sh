#!/usr/bin/env bash
# End-to-end tests of the desktop app: the real app (debug build) in a virtual display
# (Xvfb) on a private D-Bus session, driven through WebDriver (tauri-driver +
# WebKitWebDriver), against the real server with demo data, with fake
# org.freedesktop.Notifications and org.kde.StatusNotifierWatcher services recording what
# the app does.
#
#   bash tests/e2e/run.sh APP_BINARY SERVER_BINARY CLI_BINARY
#
# Installs its Python packages into tests/e2e/.venv (tests/desktop/venv.sh). Screenshots go to
# tests/e2e/screenshots/. Ends with "N passed, M failed"; exit status 0 only if none failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 3 ] || { echo "usage: $0 APP_BINARY SERVER_BINARY CLI_BINARY" >&2; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
APP=$(abs "$1") SERVER=$(abs "$2") CLI=$(abs "$3")
for b in "$APP" "$SERVER" "$CLI"; do [ -x "$b" ] || { echo "e2e: $b is missing: run make build" >&2; exit 1; }; done
command -v tauri-driver >/dev/null || { echo "e2e: tauri-driver is missing: cargo install tauri-driver --locked --version '^2'" >&2; exit 1; }
command -v WebKitWebDriver >/dev/null || { echo "e2e: WebKitWebDriver is missing: apt-get install webkit2gtk-driver" >&2; exit 1; }

# shellcheck source=../desktop/venv.sh
source "$HERE/../desktop/venv.sh"
ensure_venv "e2e"
mkdir -p "$HERE/screenshots"
# A private display and a private session bus; both end with the run.
exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  timeout 900 "$PY" "$HERE/test_app.py" "$APP" "$SERVER" "$CLI" "$HERE/screenshots"
