#!/usr/bin/env bash
# Builds the tidings-server Debian package from the release binary, with dpkg-deb:
# /usr/bin/tidings-server, a systemd unit (its own user, /var/lib/tidings), a template unit
# for cluster nodes, and the configuration in /etc/tidings/ (conffiles: an upgrade keeps the administrator's edits).
#
#   tools/package-server.sh RELEASE_BINARY OUT_DIR
set -euo pipefail
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$HERE/Cargo.toml" | head -n1)
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -D -m 0755 "$BIN" "$STAGE/usr/bin/tidings-server"
strip "$STAGE/usr/bin/tidings-server" 2>/dev/null || true
install -D -m 0644 "$HERE/packaging/server/tidings-server.service" "$STAGE/lib/systemd/system/tidings-server.service"
install -D -m 0644 "$HERE/packaging/server/server.toml" "$STAGE/etc/tidings/server.toml"
install -D -m 0640 "$HERE/packaging/server/server.env" "$STAGE/etc/tidings/server.env"
install -D -m 0644 "$HERE/README.md" "$STAGE/usr/share/doc/tidings-server/README.md"
install -D -m 0644 "$HERE/docs/server.md" "$STAGE/usr/share/doc/tidings-server/server.md"
# The cluster (docs/cluster.md): the template unit for several nodes on one host (not
# enabled), and HAProxy's configuration and the env files as examples to copy.
install -D -m 0644 "$HERE/packaging/cluster/tidings-server@.service" "$STAGE/lib/systemd/system/tidings-server@.service"
install -D -m 0644 "$HERE/docs/cluster.md" "$STAGE/usr/share/doc/tidings-server/cluster.md"
for f in haproxy.cfg node.env.example server.env.example; do
  install -D -m 0644 "$HERE/packaging/cluster/$f" "$STAGE/usr/share/doc/tidings-server/cluster/$f"
done
mkdir -p "$STAGE/DEBIAN"
for f in postinst prerm postrm; do install -m 0755 "$HERE/packaging/server/$f" "$STAGE/DEBIAN/$f"; done
printf '/etc/tidings/server.toml\n/etc/tidings/server.env\n' > "$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<EOT
Package: tidings-server
Version: $VERSION
Architecture: $ARCH
Maintainer: Tidings <maintainers@tidings.example>
Installed-Size: $SIZE
Depends: libc6 (>= 2.31), adduser
Section: net
Priority: optional
Homepage: https://tidings.example
Description: Tidings server: chat and notifications over STOMP, REST and SSE
 One binary that speaks STOMP 1.2 over WebSocket with Spring's destination
 conventions, a REST API with an OpenAPI document and Server-Sent Events, and keeps
 its state in SQLite. Runs as the tidings user under systemd.
EOT
mkdir -p "$OUT"
dpkg-deb --root-owner-group --build "$STAGE" "$OUT/tidings-server_${VERSION}_${ARCH}.deb" >/dev/null
echo "$OUT/tidings-server_${VERSION}_${ARCH}.deb"
