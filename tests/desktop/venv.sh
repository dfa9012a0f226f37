# Sourced by tests/e2e/run.sh and tests/bench/run_app.sh: the Python packages the desktop
# tests use, in one git-ignored venv, (re)installed when requirements.txt changes.
#
#   ensure_venv LABEL  ->  sets PY to the venv's python, or exits 1 with a sentence
DESKTOP_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ensure_venv() {
  local venv=$DESKTOP_TESTS/e2e/.venv reqs=$DESKTOP_TESTS/e2e/requirements.txt want
  PY=$venv/bin/python
  want=$(sha256sum "$reqs" | cut -d' ' -f1)
  if [ ! -x "$PY" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "$1: installing Python packages into $venv"
    python3 -m venv "$venv" && "$PY" -m pip install -q --disable-pip-version-check -r "$reqs" \
      || { echo "$1: pip install failed" >&2; exit 1; }
    echo "$want" > "$venv/.requirements.sha256"
  fi
}
