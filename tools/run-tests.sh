#!/usr/bin/env bash
# Runs integration tests of one workspace package, named on the command line (test target
# names, e.g. `chat_api`), from the binaries `make build-tests` built, each in its package's
# folder as `cargo test` runs it:
#
#   bash tools/run-tests.sh -p PACKAGE TEST_NAME...
# Why not `cargo test -p PKG --test NAME`: selecting one package makes
# cargo resolve the dependencies' features anew, which differ from the workspace's, and
# build most of the tree a second time (minutes in CI).
set -euo pipefail
[ "${1:-}" = -p ] && [ $# -gt 2 ] || { echo "usage: $0 -p PACKAGE TEST_NAME..." >&2; exit 2; }
package=$2
shift 2
cargo=${CARGO:-cargo}
# One line per wanted test: its executable and its package's folder.
mapfile -t found < <(
  "$cargo" test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
package, want = sys.argv[1], set(sys.argv[2:])
def name_of(pid):
    # "path+file:///…/crates/server#tidings-server@0.1.0", "path+file:///…/x#0.1.0" (the
    # folder and the package have one name), or the older "tidings-server 0.1.0 (…)".
    if "#" not in pid:
        return pid.split(" ")[0]
    url, tail = pid.rsplit("#", 1)
    return tail.split("@")[0] if "@" in tail else url.rstrip("/").rsplit("/", 1)[-1]
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target") or {}
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in t.get("kind", []) \
            and t.get("name") in want and name_of(m.get("package_id", "")) == package:
        print(m["executable"] + "\t" + os.path.dirname(m["manifest_path"]))
' "$package" "$@"
)
if [ "${#found[@]}" -ne $# ]; then
  echo "run-tests: found ${#found[@]} of the $# tests asked for in $package ($*); is each a test target of it?" >&2
  exit 1
fi
for entry in "${found[@]}"; do
  exe=${entry%%$'\t'*}
  dir=${entry#*$'\t'}
  echo "running $(basename "$exe") in ${dir#"$PWD"/}"
  (cd "$dir" && "$exe")
done
