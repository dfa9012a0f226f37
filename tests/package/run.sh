#!/usr/bin/env bash
# `make package-test`: installs the packages from dist/ on this machine, checks them, and
# removes them again. Needs root (apt-get). Ends with "N passed, M failed".
#
#   bash tests/package/run.sh DIST_DIR
set -uo pipefail
DIST=$(cd "${1:?usage: $0 DIST_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tidings-package.XXXXXX")
mkdir -p "$HERE/screenshots"
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  $SUDO apt-get remove -y -qq tidings >/dev/null 2>&1
  $SUDO apt-get purge -y -qq tidings-server >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

APP_DEB=$(ls "$DIST"/Tidings_*.deb 2>/dev/null | head -n1)
APP_RPM=$(ls "$DIST"/Tidings-*.rpm 2>/dev/null | head -n1)
SERVER_DEB=$(ls "$DIST"/tidings-server_*.deb 2>/dev/null | head -n1)
[ -n "$APP_DEB" ] && [ -n "$SERVER_DEB" ] || { echo "package-test: no packages in $DIST: run make package" >&2; exit 1; }

# ---------------------------------------------------------------- the desktop app

if out=$(DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$APP_DEB" 2>&1); then
  pass "the app's .deb installs with apt (its dependencies resolved)"
else
  fail "the app's .deb installs with apt" "$(echo "$out" | tail -n 3)"
fi
depends=$(dpkg-deb -f "$APP_DEB" Depends)
case $depends in
  *libwebkit2gtk-4.1-0*libgtk-3-0*|*libgtk-3-0*libwebkit2gtk-4.1-0*) ;;
esac
# fonts-noto-color-emoji: emoji show in colour on a fresh install (WebKitGTK draws them from
# the system's fonts).
if echo "$depends" | grep -q libwebkit2gtk-4.1-0 && echo "$depends" | grep -q libayatana-appindicator3-1 \
  && echo "$depends" | grep -q fonts-noto-color-emoji; then
  pass "the .deb declares its dependencies ($depends)"
else
  fail "the .deb declares its dependencies" "Depends: $depends"
fi
desktop=$(dpkg -L tidings 2>/dev/null | grep '\.desktop$' | head -n1)
icons=$(dpkg -L tidings 2>/dev/null | grep -c '/icons/hicolor/.*\.png$')
if [ -n "$desktop" ] && grep -q '^Exec=tidings-app' "$desktop" && [ "$icons" -ge 3 ]; then
  pass "it ships a .desktop entry ($desktop) and $icons icons"
else
  fail "it ships a .desktop entry and icons" "desktop=$desktop icons=$icons"
fi
# The tray process (docs/desktop-app.md, "The tray without WebKit") is in the package, beside
# the app where the app looks for it, and links no WebKit.
if [ -x /usr/bin/tidings-tray ] && ! ldd /usr/bin/tidings-tray | grep -q -E 'libwebkit2gtk|libjavascriptcoregtk'; then
  pass "it ships the tray process without WebKit (/usr/bin/tidings-tray)"
else
  fail "it ships the tray process without WebKit" "$(ls -l /usr/bin/tidings-tray 2>&1; ldd /usr/bin/tidings-tray 2>&1 | grep -E 'webkit|javascriptcore')"
fi
if [ -x /usr/bin/tidings-app ]; then
  (cd "$WORK" && TIDINGS_APP_DIR="$WORK/app" HOME="$WORK" timeout 60 xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- bash -c '
      /usr/bin/tidings-app > app.log 2>&1 &
      for _ in $(seq 1 200); do
        xwininfo -root -tree 2>/dev/null | grep -q "\"Tidings\"" && break
        sleep 0.1
      done
      # The window exists; wait (bounded) until the sign-in form is painted: its button is
      # the only large area of the accent colour on a first run.
      for _ in $(seq 1 150); do
        import -window root shot.png 2>/dev/null
        accent=$(convert shot.png -fuzz 4% -fill black +opaque "#1e6fd9" -fill white -opaque "#1e6fd9" \
          -format "%[fx:mean]" info: 2>/dev/null || echo 0)
        python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.002 else 1)" "$accent" && break
        sleep 0.1
      done
      echo "$accent" > painted
      kill %1' ) >/dev/null 2>&1
  painted=$(cat "$WORK/painted" 2>/dev/null || echo 0)
  if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.002 else 1)" "$painted"; then
    cp "$WORK/shot.png" "$HERE/screenshots/installed-app.png"
    pass "the installed app starts under Xvfb and paints its sign-in form (tests/package/screenshots/installed-app.png)"
  else
    fail "the installed app starts and paints" "no sign-in button on screen ($painted); log: $(tail -n 5 "$WORK/app.log" 2>/dev/null)"
  fi
else
  fail "the installed app starts" "/usr/bin/tidings-app is missing"
fi
$SUDO apt-get remove -y -qq tidings >/dev/null 2>&1 && [ ! -e /usr/bin/tidings-app ] && [ ! -e /usr/bin/tidings-tray ] \
  && pass "the app's package removes cleanly" || fail "the app's package removes cleanly" "/usr/bin/tidings-app or tidings-tray is still there"

if [ -n "$APP_RPM" ] && file "$APP_RPM" | grep -q "RPM v3"; then
  pass "the .rpm was built in the same run ($(basename "$APP_RPM"))"
else
  fail "the .rpm was built in the same run" "${APP_RPM:-none}"
fi
if python3 - "$DIST/latest.json" <<'PY'
import json, sys, base64
d = json.load(open(sys.argv[1]))
assert d["version"] and d["pub_date"] and d["notes"], d
for k in ("linux-x86_64", "linux-x86_64-deb", "linux-x86_64-rpm"):
    p = d["platforms"][k]
    assert base64.b64decode(p["signature"]).startswith(b"untrusted comment:"), k
    assert p["url"].endswith((".deb", ".rpm")), p["url"]
PY
then pass "latest.json names the version, notes, date and a signed artifact per platform"
else fail "latest.json is complete" "see $DIST/latest.json"; fi

# ---------------------------------------------------------------- the server

if out=$(DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$SERVER_DEB" 2>&1); then
  pass "the server's .deb installs with apt"
else
  fail "the server's .deb installs with apt" "$(echo "$out" | tail -n 3)"
fi
if getent passwd tidings >/dev/null && [ "$(stat -c %U /var/lib/tidings 2>/dev/null)" = tidings ] \
   && [ -f /etc/tidings/server.toml ] && [ "$(stat -c '%a %G' /etc/tidings/server.env)" = "640 tidings" ]; then
  pass "it creates its own user, /var/lib/tidings and /etc/tidings (server.env 0640)"
else
  fail "it creates its user, data directory and configuration" "$(ls -ld /var/lib/tidings /etc/tidings/* 2>&1 | tr '\n' ' ')"
fi
if out=$(systemd-analyze verify /lib/systemd/system/tidings-server.service 2>&1); then
  pass "systemd-analyze verify accepts the unit"
else
  fail "systemd-analyze verify accepts the unit" "$out"
fi
if out=$(systemd-analyze verify /lib/systemd/system/tidings-server@.service 2>&1) \
   && out=$(haproxy -c -f /usr/share/doc/tidings-server/cluster/haproxy.cfg 2>&1) \
   && [ -f /usr/share/doc/tidings-server/cluster.md ] && [ -f /usr/share/doc/tidings-server/cluster/node.env.example ]; then
  pass "it ships the cluster's template unit (verified), haproxy.cfg (haproxy -c) and docs"
else
  fail "it ships the cluster's template unit, haproxy.cfg and docs" "$out"
fi
if ss -ltn 2>/dev/null | grep -q '127.0.0.1:8080 '; then
  fail "the installed server serves /healthz with its packaged configuration" "port 8080 is taken on this machine"
else
  # setpriv execs the server as the tidings user (no parent in between to eat SIGTERM).
  $SUDO setpriv --reuid=tidings --regid=tidings --clear-groups -- \
    /usr/bin/tidings-server --config /etc/tidings/server.toml > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q 'listening on' "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
  health=$(curl -fsS http://127.0.0.1:8080/healthz 2>&1)
  if printf '%s' "$health" | python3 -c 'import json, sys; h = json.load(sys.stdin); sys.exit(0 if h["status"] == "ok" and h["store"]["kind"] == "sqlite" and h["store"]["ok"] else 1)' 2>/dev/null \
     && [ "$(stat -c %U /var/lib/tidings/tidings.db 2>/dev/null)" = tidings ]; then
    pass "the installed server serves /healthz with its packaged configuration, as the tidings user"
  else
    fail "the installed server serves /healthz" "answer: $health; $(tail -n 3 "$WORK/server.err")"
  fi
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; code=$?; SERVER_PID=
  [ "$code" = 0 ] && pass "it stops cleanly on SIGTERM" || fail "it stops cleanly on SIGTERM" "exit status $code"
fi
$SUDO apt-get purge -y -qq tidings-server >/dev/null 2>&1
if ! getent passwd tidings >/dev/null && [ ! -e /var/lib/tidings ] && [ ! -e /usr/bin/tidings-server ]; then
  pass "purging removes the binary, the user and the data"
else
  fail "purging removes everything" "$(ls -d /var/lib/tidings /usr/bin/tidings-server 2>&1 | tr '\n' ' ')"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
