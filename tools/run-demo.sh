#!/usr/bin/env bash
# `make run`: the server on its embedded default with demo data, and the desktop app signed
# in to it as alice. Quitting the app (tray → Quit) or Ctrl-C stops both.
#
#   tools/run-demo.sh SERVER_BINARY APP_BINARY RUN_DIR LISTEN
set -euo pipefail
SERVER=$1 APP=$2 RUN_DIR=$3 LISTEN=$4
mkdir -p "$RUN_DIR"
[ -s "$RUN_DIR/service-token" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN_DIR/service-token")
export TIDINGS_SERVICE_TOKEN; TIDINGS_SERVICE_TOKEN=$(cat "$RUN_DIR/service-token")

"$SERVER" --data-dir "$RUN_DIR" --listen "$LISTEN" --demo > "$RUN_DIR/server.out" 2> "$RUN_DIR/server.log" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^tidings-server listening on' "$RUN_DIR/server.out" 2>/dev/null && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$RUN_DIR/server.log" >&2; echo "run: the server did not start" >&2; exit 1; }
  sleep 0.1
done
cat <<EOT
Tidings server: http://$LISTEN (STOMP at ws://$LISTEN/ws, REST at /api, OpenAPI at /api/openapi.json)
  demo users alice (admin), bob, carol; password: tidings-demo
  service token (POST /api/notifications): $TIDINGS_SERVICE_TOKEN
  server log: $RUN_DIR/server.log
The desktop app opens signed in as alice. Try the other side from a terminal:
  target/debug/tidings --home $RUN_DIR/cli login --server http://$LISTEN --username bob
  target/debug/tidings --home $RUN_DIR/cli send <conversation-id> "Hi Alice"
Quit the app (tray menu → Quit Tidings) or press Ctrl-C to stop both.
EOT
export TIDINGS_SERVER="http://$LISTEN" TIDINGS_DEMO_USER=alice TIDINGS_DEMO_PASSWORD=tidings-demo
# The demo keeps its own app data (session, cache, settings) beside the server's.
export TIDINGS_APP_DIR="$RUN_DIR/app"
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display here: starting the app in a virtual one (Xvfb); it works, unseen." >&2
  exec xvfb-run -a -s "-screen 0 1280x800x24" "$APP"
fi
"$APP"
