#!/usr/bin/env bash
# The desktop app's benchmarks (issue 7, scenarios 6 and 7): first paint from the cache, the
# memory of the whole process tree with the window open and hidden in the tray, and the
# latency from another user's send to the app's Notify call on D-Bus. The real app in a
# virtual display (Xvfb) on a private D-Bus session, with fake notification and tray services,
# against the real server.
#
#   bash tests/bench/run_app.sh APP_BINARY SERVER_BINARY OUT.json [--smoke]
#
# APP_BINARY: target/release/tidings-app for the figures (build the UI first:
# `npm --prefix ui run build`, then `cargo build --release -p tidings-app`); the smoke run in
# `make test` passes the debug build. Installs its Python packages into tests/e2e/.venv (tests/desktop/venv.sh).
# Exit status 0 only if every scenario worked; the figures go to OUT.json.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $0 APP_BINARY SERVER_BINARY OUT.json [--smoke]" >&2; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
APP=$(abs "$1") SERVER=$(abs "$2")
[ -d "$(dirname "$3")" ] || { echo "app bench: the folder of $3 does not exist" >&2; exit 2; }
OUT=$(abs "$3")
SMOKE=()
case "${4:-}" in
  "") ;;
  --smoke) SMOKE=(--smoke) ;;
  *) echo "usage: $0 APP_BINARY SERVER_BINARY OUT.json [--smoke]" >&2; exit 2 ;;
esac
for b in "$APP" "$SERVER"; do [ -x "$b" ] || { echo "app bench: $b is missing: build it first" >&2; exit 1; }; done
for t in xvfb-run dbus-run-session; do
  command -v $t >/dev/null || { echo "app bench: $t is missing: apt-get install xvfb xauth dbus" >&2; exit 1; }
done

# shellcheck source=../desktop/venv.sh
source "$HERE/../desktop/venv.sh"
ensure_venv "app bench"
# A private display and a private session bus; both end with the run.
exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  timeout 600 "$PY" "$HERE/app_bench.py" "$APP" "$SERVER" --out "$OUT" "${SMOKE[@]}"
