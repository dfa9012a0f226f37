#!/usr/bin/env bash
# Third-party STOMP client interop run (@stomp/stompjs and stomp.py) against Tidings or,
# as a reference, RabbitMQ Web-STOMP; against Tidings also the tus client tuspy (uploads),
# and both STOMP clients again over plain TCP (the server's --stomp-listen).
#
#   bash tests/interop/run.sh tidings path/to/tidings-server
#   bash tests/interop/run.sh rabbitmq
#
# Installs its own dependencies when missing (npm ci here, a venv in .venv), starts the
# server on 127.0.0.1, runs both scripts, stops the server on exit, and ends with one line
# "N passed, M failed" over both scripts. Exit status 0 only if nothing failed.
# INTEROP_ONLY=regex runs only the matching checks (see README.md).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
START_TIMEOUT=${TIDINGS_START_TIMEOUT:-30}
SCRIPT_TIMEOUT=${INTEROP_SCRIPT_TIMEOUT:-600}

usage() {
  echo "usage: $0 tidings SERVER_BINARY | $0 rabbitmq [TIDINGS_CLI] | $0 deps" >&2
  exit 2
}

[ $# -ge 1 ] || usage
TARGET=$1
case $TARGET in
  tidings) [ $# -eq 2 ] || usage; SERVER_BINARY=$2 ;;
  rabbitmq) [ $# -le 2 ] || usage; CLI_BINARY=${2:-} ;;
  deps) [ $# -eq 1 ] || usage ;;
  *) usage ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tidings-interop.XXXXXX")
SERVER_PID=
RMQ_STARTED=
KEEP_WORK=

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ -n "$RMQ_STARTED" ]; then
    bash "$HERE/rabbitmq.sh" stop "$WORK/rabbitmq" || true
  fi
  if [ -n "$KEEP_WORK" ]; then
    # A CI log is all there is of a failed run elsewhere: the server's lines of every
    # session a FAIL line names ("server session N", stomp.py's checks), then its last
    # lines, go in it.
    if [ -s "$WORK/server.stderr" ]; then
      local plain=$WORK/server.plain sid
      sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.stderr" > "$plain"
      for sid in $(cat "$WORK"/*.out 2>/dev/null | grep '^FAIL' | grep -oE 'server session [0-9]+' | grep -oE '[0-9]+$' | sort -u); do
        echo "run.sh: the server's log of session $sid:" >&2
        grep -E "session=$sid[^0-9]" "$plain" | tail -n 100 >&2
      done
      echo "run.sh: the server's last 100 log lines:" >&2
      tail -n 100 "$plain" >&2
    fi
    echo "run.sh: server logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "run.sh: $*" >&2
  [ -z "$SERVER_PID$RMQ_STARTED" ] || KEEP_WORK=1
  exit 1
}

# ------------------------------------------------------------------ dependencies

ensure_node_deps() {
  command -v node > /dev/null || die "node is not installed (apt-get install nodejs npm)"
  local stamp=$HERE/node_modules/.package-lock.json
  if [ ! -d "$HERE/node_modules/@stomp/stompjs" ] || [ ! -d "$HERE/node_modules/ws" ] \
     || [ ! -d "$HERE/node_modules/@stomp/tcp-wrapper" ] \
     || [ ! -d "$HERE/node_modules/socket.io-client" ] \
     || [ "$HERE/package-lock.json" -nt "$stamp" ]; then
    echo "run.sh: installing npm dependencies (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error > "$WORK/npm.log" 2>&1) \
      || { cat "$WORK/npm.log" >&2; die "npm ci failed in $HERE"; }
  fi
}

PY=$HERE/.venv/bin/python
ensure_python_deps() {
  local stamp=$HERE/.venv/.requirements.sha256 want
  want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
  if [ -x "$PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  echo "run.sh: installing Python dependencies into $HERE/.venv"
  if [ ! -x "$PY" ]; then
    python3 -m venv "$HERE/.venv" > "$WORK/venv.log" 2>&1 \
      || { cat "$WORK/venv.log" >&2; die "python3 -m venv failed (on Debian: apt-get install python3-venv)"; }
  fi
  "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" > "$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip install -r requirements.txt failed"; }
  echo "$want" > "$stamp"
}

ensure_node_deps
ensure_python_deps
# `deps`: only install (tests/api/run.sh shares this venv for schemathesis).
[ "$TARGET" = deps ] && exit 0

# ------------------------------------------------------------------ server

EXTRA_PASSED=0
EXTRA_FAILED=0
JWT_SECRET=
SERVICE_TOKEN=

start_tidings() {
  [ -x "$SERVER_BINARY" ] || die "server binary $SERVER_BINARY does not exist or is not executable"
  JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  SERVICE_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$WORK/data"
  # The scripts run twice on this one server (WebSocket, then TCP), all from 127.0.0.1 as
  # the same users: the per-address sign-up and per-user SEND budgets are raised so that
  # the second run is not refused for the first one's use (no check is about them).
  cat > "$WORK/server.toml" <<'TOML'
[auth]
registrations_per_hour_per_address = 1000
[limits]
sends_per_minute = 100000
TOML
  # setsid: the server gets its own process group, so cleanup also ends anything it spawned.
  # Each STOMP session's frames and receipts are logged (trace), for a failed check's story.
  RUST_LOG=${INTEROP_SERVER_LOG:-info,tidings_server::session=trace} setsid "$SERVER_BINARY" --listen 127.0.0.1:0 --stomp-listen 127.0.0.1:0 --config "$WORK/server.toml" --jwt-secret "$JWT_SECRET" --service-token "$SERVICE_TOKEN" --data-dir "$WORK/data" \
    > "$WORK/server.stdout" 2> "$WORK/server.stderr" < /dev/null &
  SERVER_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT)) line stomp_line
  while :; do
    line=$(grep -m1 -E '^tidings-server listening on 127\.0\.0\.1:[0-9]+' "$WORK/server.stdout" 2>/dev/null || true)
    # The second line, printed with the first: STOMP over TCP (--stomp-listen).
    stomp_line=$(grep -m1 -E '^tidings-server STOMP over TCP listening on 127\.0\.0\.1:[0-9]+' "$WORK/server.stdout" 2>/dev/null || true)
    if [ -n "$line" ] && [ -n "$stomp_line" ]; then
      PORT=${line##*:}
      PORT=${PORT%%[!0-9]*}
      STOMP_PORT=${stomp_line##*:}
      STOMP_PORT=${STOMP_PORT%%[!0-9]*}
      break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 20 "$WORK/server.stderr" >&2
      die "$SERVER_BINARY exited before printing 'tidings-server listening on 127.0.0.1:PORT' and its STOMP over TCP line"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$WORK/server.stderr" >&2
      die "$SERVER_BINARY did not print 'tidings-server listening on 127.0.0.1:PORT' and 'tidings-server STOMP over TCP listening on 127.0.0.1:PORT' within ${START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  echo "run.sh: $SERVER_BINARY listening on 127.0.0.1:$PORT, STOMP over TCP on 127.0.0.1:$STOMP_PORT (pid $SERVER_PID, data in $WORK/data)"
}

# The CLI's `token` subcommand mints the same HS256 JWTs the scripts mint with PyJWT / node:crypto.
check_token_cli() {
  local name="run.sh tidings-server token --sub alice mints an HS256 JWT the server's secret verifies"
  local tok out status=0
  tok=$(timeout 30 "$SERVER_BINARY" token --sub alice --jwt-secret "$JWT_SECRET" --ttl 3600 2> "$WORK/token.stderr") || status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAIL $name: exit status $status: $(head -c 300 "$WORK/token.stderr")"
    EXTRA_FAILED=$((EXTRA_FAILED + 1))
    return
  fi
  if out=$(TOKEN="$tok" SECRET="$JWT_SECRET" "$PY" -c '
import os, jwt
c = jwt.decode(os.environ["TOKEN"].strip(), os.environ["SECRET"], algorithms=["HS256"])
assert c.get("sub") == "alice", "sub is %r, expected alice" % c.get("sub")
assert "exp" in c, "no exp claim"
' 2>&1); then
    echo "PASS $name"
    EXTRA_PASSED=$((EXTRA_PASSED + 1))
  else
    echo "FAIL $name: $(echo "$out" | tail -n 1) (token: ${tok:0:60}…)"
    EXTRA_FAILED=$((EXTRA_FAILED + 1))
  fi
}

started_at=$SECONDS
case $TARGET in
  tidings)
    start_tidings
    check_token_cli
    ;;
  rabbitmq)
    RMQ_STARTED=1
    bash "$HERE/rabbitmq.sh" start "$WORK/rabbitmq" || die "RabbitMQ did not start"
    PORT=15674
    ;;
esac

# ------------------------------------------------------------------ the scripts

export INTEROP_TARGET=$TARGET INTEROP_HOST=127.0.0.1 INTEROP_PORT=$PORT INTEROP_JWT_SECRET=$JWT_SECRET \
  INTEROP_SERVICE_TOKEN=${SERVICE_TOKEN:-} INTEROP_STOMP_PORT=${STOMP_PORT:-61613} \
  INTEROP_SERVER_BINARY=${SERVER_BINARY:+$(cd "$(dirname "$SERVER_BINARY")" && pwd)/$(basename "$SERVER_BINARY")}

TOTAL_PASSED=$EXTRA_PASSED
TOTAL_FAILED=$EXTRA_FAILED

# run_script NAME CMD...: runs one script, adds its "N passed, M failed" to the totals.
run_script() {
  local name=$1; shift
  local out=$WORK/$name.out summary
  echo "run.sh: --- $name"
  (cd "$HERE" && timeout "$SCRIPT_TIMEOUT" "$@") 2>&1 | tee "$out"
  local status=${PIPESTATUS[0]}
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  if [ -z "$summary" ]; then
    echo "FAIL $name: ended (exit status $status) without its 'N passed, M failed' line"
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return
  fi
  local p f
  p=${summary%% passed*}
  f=${summary#*, }; f=${f%% failed*}
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  if [ "$f" -eq 0 ] && [ "$status" -ne 0 ]; then
    echo "FAIL $name: exit status $status although it reported no failure"
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
  fi
}

run_script stompjs node stompjs_interop.mjs
run_script stomppy "$PY" stomppy_interop.py
# The same two clients over STOMP over TCP (Tidings' --stomp-listen).
if [ "$TARGET" = tidings ]; then
  run_script stompjs-tcp env INTEROP_TRANSPORT=tcp node stompjs_interop.mjs
  run_script stomppy-tcp env INTEROP_TRANSPORT=tcp "$PY" stomppy_interop.py
fi
# Attachments: a third-party tus client against the upload endpoint (Tidings only).
[ "$TARGET" = tidings ] && run_script tuspy "$PY" tuspy_interop.py
# Socket.IO: socket.io-client in the seeds' shapes, and across protocols (Tidings only).
[ "$TARGET" = tidings ] && run_script socketio node socketio_interop.mjs
# The desktop engine's connection profiles against RabbitMQ, through the tidings CLI.
if [ "$TARGET" = rabbitmq ] && [ -n "${CLI_BINARY:-}" ]; then
  [ -x "$CLI_BINARY" ] || die "the tidings CLI $CLI_BINARY does not exist or is not executable"
  run_script profile "$PY" profile_rabbitmq.py "$(cd "$(dirname "$CLI_BINARY")" && pwd)/$(basename "$CLI_BINARY")" "$WORK"
fi

if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL run.sh: the server process exited during the run; see $WORK/server.stderr"
  TOTAL_FAILED=$((TOTAL_FAILED + 1))
fi

echo "run.sh: $TARGET, $((SECONDS - started_at)) s"
[ "$TOTAL_FAILED" -eq 0 ] || KEEP_WORK=1
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
