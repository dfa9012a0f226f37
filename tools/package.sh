#!/usr/bin/env bash
# `make package`: everything an installation or a release needs, in dist/:
#   - the desktop app as .deb and .rpm, built in ONE `tauri build` run (so the app knows
#     which bundle it was installed from, as the updater needs), each with its .sig;
#   - latest.json for the update server (version, notes, date, per-platform url+signature);
#   - the tidings-server .deb with its systemd unit.
#
# Signing: a release sets TAURI_SIGNING_PRIVATE_KEY (and _PASSWORD) and TIDINGS_UPDATE_PUBKEY
# (the public half, built into the app). Without them the TEST key in tests/update/keys is
# used and the build says so: such a package only accepts updates signed with the test key.
# TIDINGS_UPDATE_BASE_URL is where the artifacts will be served (latest.json points there);
# TIDINGS_RELEASE_NOTES the notes shown to users.
#
# TIDINGS_PACKAGE_PROFILE=debug builds the same packages from unoptimized binaries: CI's
# package check uses it (see .ci/run); never for a release.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DIST=$ROOT/dist
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
TAURI=$ROOT/tools/tauri/node_modules/.bin/tauri
if [ ! -x "$TAURI" ]; then
  echo "package: installing Tauri's CLI (npm) into tools/tauri"
  npm --prefix tools/tauri install --no-audit --no-fund --loglevel=error >/dev/null
fi

config=()
if [ -n "${TAURI_SIGNING_PRIVATE_KEY:-}" ]; then
  [ -n "${TIDINGS_UPDATE_PUBKEY:-}" ] || { echo "package: a release key needs its public half in TIDINGS_UPDATE_PUBKEY" >&2; exit 2; }
  config=(--config "{\"plugins\":{\"updater\":{\"pubkey\":\"$TIDINGS_UPDATE_PUBKEY\"}}}")
  echo "package: signing with the release key from the environment"
else
  export TAURI_SIGNING_PRIVATE_KEY; TAURI_SIGNING_PRIVATE_KEY=$(cat tests/update/keys/test-updater.key)
  export TAURI_SIGNING_PRIVATE_KEY_PASSWORD=""
  echo "package: NOTE: no release key given: signing with the TEST key (tests/update/keys); not for release" >&2
fi

case ${TIDINGS_PACKAGE_PROFILE:-release} in
  release) profile=release tauri_profile=() cargo_profile=(--release) ;;
  debug)
    profile=debug tauri_profile=(--debug) cargo_profile=()
    echo "package: NOTE: TIDINGS_PACKAGE_PROFILE=debug: unoptimized binaries, to check the packaging; not for release" >&2
    ;;
  *) echo "package: TIDINGS_PACKAGE_PROFILE is release or debug, not '$TIDINGS_PACKAGE_PROFILE'" >&2; exit 2 ;;
esac

rm -rf "$DIST" && mkdir -p "$DIST"
"$TAURI" build "${tauri_profile[@]}" --bundles deb,rpm "${config[@]}"
BUNDLE=$ROOT/target/$profile/bundle
DEB=$(ls "$BUNDLE"/deb/*_"$VERSION"_*.deb | head -n1)
RPM=$(ls "$BUNDLE"/rpm/*-"$VERSION"-*.rpm | head -n1)
for f in "$DEB" "$RPM"; do
  [ -s "$f.sig" ] || "$TAURI" signer sign -p "${TAURI_SIGNING_PRIVATE_KEY_PASSWORD:-}" "$f" >/dev/null
  cp "$f" "$f.sig" "$DIST/"
done

BASE=${TIDINGS_UPDATE_BASE_URL:-https://updates.tidings.example/linux-x86_64}
NOTES=${TIDINGS_RELEASE_NOTES:-Tidings $VERSION}
python3 - "$DIST/latest.json" "$VERSION" "$NOTES" "$BASE" "$DIST/$(basename "$DEB")" "$DIST/$(basename "$RPM")" <<'PY'
import json, os, sys, datetime
out, version, notes, base, deb, rpm = sys.argv[1:7]
def entry(path):
    return {"signature": open(path + ".sig").read().strip(), "url": f"{base.rstrip('/')}/{os.path.basename(path)}"}
doc = {
    "version": version,
    "notes": notes,
    "pub_date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "platforms": {"linux-x86_64": entry(deb), "linux-x86_64-deb": entry(deb), "linux-x86_64-rpm": entry(rpm)},
}
json.dump(doc, open(out, "w"), indent=2)
PY

cargo build "${cargo_profile[@]}" -p tidings-server
bash tools/package-server.sh "target/$profile/tidings-server" "$DIST" >/dev/null
echo "package: built"
ls -l "$DIST"
