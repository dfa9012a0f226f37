#!/usr/bin/env bash
# Self-contained RabbitMQ (Debian's rabbitmq-server, 3.10) with Web-STOMP on
# ws://127.0.0.1:15674/ws, used as the reference broker for the interop tests.
#
#   rabbitmq.sh start DIR   # creates DIR/{mnesia,log}, config, starts, waits for 15674
#   rabbitmq.sh stop DIR    # shuts the node down and kills epmd
#
# Follows shared/TOOLING.md ("Third-party STOMP and Socket.IO peers"): everything
# (config, plugins file, mnesia, logs, Erlang cookie via HOME) lives under DIR;
# nothing in /etc is read or written. Every listener is bound to 127.0.0.1:
#   AMQP 5672, STOMP 61613, Web-STOMP 15674, Erlang distribution 25672, epmd 4369.
set -euo pipefail

RMQ_BIN=/usr/lib/rabbitmq/bin
NODE=peer@localhost
WS_PORT=15674
START_TIMEOUT=${RMQ_START_TIMEOUT:-60}

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
D=$(cd "$2" && pwd)

rmq_env() {
  export RABBITMQ_CONFIG_FILE=$D/rabbitmq.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins
  export RABBITMQ_MNESIA_BASE=$D/mnesia
  export RABBITMQ_LOG_BASE=$D/log
  export RABBITMQ_NODENAME=$NODE
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export ERL_EPMD_ADDRESS=127.0.0.1
  export HOME=$D
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  if [ ! -x "$RMQ_BIN/rabbitmq-server" ]; then
    echo "rabbitmq.sh: $RMQ_BIN/rabbitmq-server not found; install it with: apt-get install -y --no-install-recommends rabbitmq-server" >&2
    exit 1
  fi
  if port_open "$WS_PORT"; then
    echo "rabbitmq.sh: something already listens on 127.0.0.1:$WS_PORT; stop it first (rabbitmq.sh stop DIR)" >&2
    exit 1
  fi
  mkdir -p "$D/mnesia" "$D/log"
  printf '%s\n' \
    'listeners.tcp.default = 127.0.0.1:5672' \
    'stomp.listeners.tcp.1 = 127.0.0.1:61613' \
    "web_stomp.tcp.port = $WS_PORT" \
    'web_stomp.tcp.ip = 127.0.0.1' \
    > "$D/rabbitmq.conf"
  echo '[rabbitmq_stomp,rabbitmq_web_stomp].' > "$D/enabled_plugins"
  rmq_env
  # setsid: own process group, so that stop can fall back to killing the whole group.
  setsid "$RMQ_BIN/rabbitmq-server" > "$D/stdout.log" 2>&1 < /dev/null &
  echo $! > "$D/rabbitmq.pid"
  local deadline=$((SECONDS + START_TIMEOUT))
  while ! port_open "$WS_PORT"; do
    if ! kill -0 "$(cat "$D/rabbitmq.pid")" 2>/dev/null; then
      echo "rabbitmq.sh: rabbitmq-server exited before Web-STOMP came up; see $D/stdout.log and $D/log/:" >&2
      tail -n 20 "$D/stdout.log" >&2 || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "rabbitmq.sh: Web-STOMP did not accept connections on 127.0.0.1:$WS_PORT within ${START_TIMEOUT}s; see $D/stdout.log and $D/log/" >&2
      stop || true
      exit 1
    fi
    sleep 0.5
  done
  echo "rabbitmq.sh: RabbitMQ Web-STOMP ready at ws://127.0.0.1:$WS_PORT/ws (node $NODE, data in $D)"
}

stop() {
  rmq_env
  if [ -x "$RMQ_BIN/rabbitmqctl" ]; then
    timeout 30 "$RMQ_BIN/rabbitmqctl" -q -n "$NODE" shutdown > /dev/null 2>&1 || true
  fi
  if [ -f "$D/rabbitmq.pid" ]; then
    local pid
    pid=$(cat "$D/rabbitmq.pid")
    # rabbitmqctl shutdown normally ends it; if not, end our process group.
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      sleep 1
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$D/rabbitmq.pid"
  fi
  epmd -kill > /dev/null 2>&1 || true
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
