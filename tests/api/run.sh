#!/usr/bin/env bash
# Schemathesis against the server's own OpenAPI document: generated requests (valid and
# invalid) to every operation, checking that no answer is a 5xx and every answer matches
# the document (status codes, content types, bodies).
#
#   bash tests/api/run.sh path/to/tidings-server
#
# Starts the server with --demo on 127.0.0.1:0 in a temporary data directory, signs in as
# the demo user bob (the operations on one message use one of his own), runs the user-facing operations with bob's token and the service
# operations (POST /api/notifications, POST /api/announcements) with the service token.
# The SSE stream is left out: it never ends by design, so it is tested in
# crates/server/tests/chat_api.rs instead. Exit status 0 only if schemathesis found nothing.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVER_BINARY=${1:?usage: $0 SERVER_BINARY}
PY_VENV=$HERE/../interop/.venv
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-40}

bash "$HERE/../interop/run.sh" deps || exit 1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tidings-api.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SERVICE_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Schemathesis sends thousands of requests with bob's token in a few minutes: lift the
# per-user request rate and the per-address refresh rate (their 429s are tested in
# crates/server/tests/hostile_reads.rs), so that every request reaches its handler.
printf '[limits]\nrequests_per_minute = 100000000\nrequest_burst = 100000000\nmax_requests_in_flight_per_user = 1000000\n[auth]\nrefreshes_per_minute_per_address = 100000000\n' \
  > "$WORK/server.toml"
"$SERVER_BINARY" --config "$WORK/server.toml" --listen 127.0.0.1:0 --data-dir "$WORK/data" --demo --service-token "$SERVICE_TOKEN" \
  > "$WORK/server.stdout" 2> "$WORK/server.stderr" < /dev/null &
SERVER_PID=$!
PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's/^tidings-server listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.stdout")
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.stderr" >&2; echo "api/run.sh: the server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "api/run.sh: the server did not start within 30 s" >&2; exit 1; }
BASE=http://127.0.0.1:$PORT

read -r TOKEN CID MID < <("$PY_VENV/bin/python" - "$BASE" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def call(path, body=None, token=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **({"authorization": "Bearer " + token} if token else {})})
    return json.load(urllib.request.urlopen(req, timeout=10))
tok = call("/api/auth/login", {"username": "bob", "password": "tidings-demo"})["accessToken"]
cid = call("/api/conversations", token=tok)["conversations"][0]["id"]
# One of bob's own messages there, so edits, deletions and reactions reach their success paths.
mid = [m["id"] for m in call(f"/api/conversations/{cid}/messages", token=tok)["messages"]
       if m["senderId"] == "bob" and not m.get("system")][-1]
print(tok, cid, mid)
PY
)
[ -n "${CID:-}" ] || { echo "api/run.sh: could not sign in as the demo user bob" >&2; exit 1; }
# uid: someone bob (not the group's owner) may not remove, so the run never takes him out.
printf '[parameters]\n"path.cid" = "%s"\n"path.mid" = "%s"\n"path.uid" = "carol"\n"path.id" = "bob"\n' \
  "$CID" "$MID" > "$WORK/schemathesis.toml"

# One worker: with two, Python 3.11's ast.parse (hypothesis describing a filter lambda) can fail
# in a thread race with "SystemError: AST constructor recursion depth mismatch" (CPython
# gh-106905, fixed in 3.12), which schemathesis reports as a runtime error of the run.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# hooks.py: how to send the bodies of tus's application/offset+octet-stream (uploads).
run() {
  (cd "$WORK" && PYTHONPATH="$HERE" SCHEMATHESIS_HOOKS=hooks "$PY_VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$BASE/api/openapi.json" \
     --checks "$CHECKS" --phases examples,coverage,fuzzing --max-examples "$MAX_EXAMPLES" -w 1 \
     --exclude-path-regex '/stream' "$@")
}
status=0
echo "api/run.sh: as the demo user bob"
run -H "Authorization: Bearer $TOKEN" || status=1
echo "api/run.sh: as a backend service (the service token)"
run -H "Authorization: Bearer $SERVICE_TOKEN" --include-name 'POST /api/notifications' --include-name 'POST /api/announcements' || status=1
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "api/run.sh: the server died during the run" >&2
  tail -n 30 "$WORK/server.stderr" >&2
  status=1
fi
[ "$status" -eq 0 ] && echo "api/run.sh: schemathesis found no 5xx and no answer that breaks the document"
exit $status
