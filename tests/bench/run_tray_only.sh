#!/usr/bin/env bash
# The app's memory in the tray without WebKit (issue 19, goal 6): `tidings-app --tray-only`
# beside `--hidden`, on a private display and session bus with the fake tray and notification
# services, against the real server (tests/bench/app_tray_only.py says what is measured).
#
#   bash tests/bench/run_tray_only.sh APP_BINARY SERVER_BINARY OUT.json [--smoke] [--handover]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 3 ] && [ $# -le 5 ] || { echo "usage: $0 APP_BINARY SERVER_BINARY OUT.json [--smoke]" >&2; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
APP=$(abs "$1") SERVER=$(abs "$2") OUT=$(abs "$3")
for b in "$APP" "$SERVER"; do [ -x "$b" ] || { echo "tray-only bench: $b is missing: build it first" >&2; exit 1; }; done
# shellcheck source=../desktop/venv.sh
source "$HERE/../desktop/venv.sh"
ensure_venv "tray-only bench"
exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  timeout 600 "$PY" "$HERE/app_tray_only.py" "$APP" "$SERVER" --out "$OUT" "${@:4}"
