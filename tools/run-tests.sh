#!/usr/bin/env bash
# Runs the workspace's integration tests named on the command line (test target names, e.g.
# `chat_api`) from the binaries `make build-tests` built, each in its package's folder as
# `cargo test` runs it. Why not `cargo test -p PKG --test NAME`: selecting one package makes
# cargo resolve the dependencies' features anew, which differ from the workspace's, and
# build most of the tree a second time (minutes in CI).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 TEST_NAME..." >&2; exit 2; }
cargo=${CARGO:-cargo}
# One line per wanted test: its executable and its package's folder.
mapfile -t found < <(
  "$cargo" test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
want = set(sys.argv[1:])
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target") or {}
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in t.get("kind", []) \
            and t.get("name") in want:
        print(m["executable"] + "\t" + os.path.dirname(m["manifest_path"]))
' "$@"
)
if [ "${#found[@]}" -ne $# ]; then
  echo "run-tests: found ${#found[@]} of the $# tests asked for ($*); is each a test target of the workspace?" >&2
  exit 1
fi
for entry in "${found[@]}"; do
  exe=${entry%%$'\t'*}
  dir=${entry#*$'\t'}
  echo "running $(basename "$exe") in ${dir#"$PWD"/}"
  (cd "$dir" && "$exe")
done
