# Tidings: the two commands a newcomer needs are `make run` and `make test`.
# Both install what is missing first (Debian packages via apt-get, npm and PyPI packages
# into git-ignored folders), so they work on a fresh Debian 12 machine with Rust.

SHELL := /bin/bash
CARGO ?= cargo
SERVER := target/debug/tidings-server
CLI := target/debug/tidings
RUN_DIR ?= .data
LISTEN ?= 127.0.0.1:8080
# apt-get needs root; use sudo when not root and sudo exists.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

APP := target/debug/tidings-app

.PHONY: run test deps ui sio-backend lint unit unit-postgres interop sio-conformance differential api e2e stress cluster bench-smoke build build-release build-tests format-check ui-check clippy-probe bench bindings package package-test clean

## The server on its embedded default (127.0.0.1:8080) with demo data (users alice, bob,
## carol; password tidings-demo) and the desktop app signed in to it as alice.
run: deps build
	bash tools/run-demo.sh $(SERVER) $(APP) $(RUN_DIR) $(LISTEN)

## Everything: formatting and lints (Rust and the UI), unit and integration tests (Rust and
## Vitest), third-party clients against Tidings and RabbitMQ Web-STOMP, schemathesis against
## the OpenAPI document, and the desktop app end to end under Xvfb.
test: deps format-check ui-check clippy-probe unit unit-postgres interop sio-conformance differential api e2e bench-smoke

# `make test` runs clippy (every lint denied, as `lint` does) while it builds: clippy's own
# driver compiles the workspace's crates, as `cargo clippy` has it do
# (`RUSTC_WORKSPACE_WRAPPER`; `CLIPPY_ARGS` is how cargo-clippy hands it `-D warnings`), so
# the dependencies are not checked a second time in a pass of their own (12 minutes of a
# clean CI run). Every cargo command of the run sees the same two variables, or it would
# build the workspace's crates again. `clippy-probe` fails the run if this driver ever stops
# denying a lint this way.
CLIPPY_DRIVER = $(shell rustc --print sysroot)/bin/clippy-driver
test: export RUSTC_WORKSPACE_WRAPPER = $(CLIPPY_DRIVER)
test: export CLIPPY_ARGS = -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

## The UI's packages and its built files (the app embeds them).
ui: ui/node_modules/.package-lock.json
	npm --prefix ui run build --silent

ui/node_modules/.package-lock.json: ui/package-lock.json
	npm --prefix ui ci --no-audit --no-fund --loglevel=error

## The seed-style Socket.IO backend the client's tests run (tests/sio-backend).
sio-backend: tests/sio-backend/node_modules/.package-lock.json

tests/sio-backend/node_modules/.package-lock.json: tests/sio-backend/package-lock.json
	npm --prefix tests/sio-backend ci --no-audit --no-fund --loglevel=error

build: ui
	$(CARGO) build -p tidings-server -p tidings-cli -p tidings-app -p tidings-bench

build-release: ui
	$(CARGO) build --release -p tidings-server -p tidings-app -p tidings-bench

## What the tests run, built once: every binary and every test target with the features the
## tests need (a dev-dependency turns on tokio's test-util, so building the binaries alone
## first, as `build` does for `run`, compiled everything above tokio twice). `cargo test
## --workspace` then finds it all built.
build-tests: ui
	$(CARGO) build --workspace --all-targets

lint: format-check ui-check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

format-check:
	$(CARGO) fmt --all -- --check

ui-check: ui
	npm --prefix ui run check --silent

## Checks that clippy's driver compiles clean code and denies a lint handed over in
## CLIPPY_ARGS (see `test`).
PROBE = CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__ $(CLIPPY_DRIVER) rustc --edition 2021 \
  --crate-type lib --emit metadata -o target/clippy-probe.rmeta
clippy-probe:
	@mkdir -p target
	@printf 'pub fn probe(v: &[u8]) -> usize {\n    v.len()\n}\n' > target/clippy-probe.rs
	@$(PROBE) target/clippy-probe.rs || { echo "clippy-probe: clippy's driver ($(CLIPPY_DRIVER)) does not compile clean code: is clippy installed (rustup component add clippy)?" >&2; exit 1; }
	@printf 'pub fn probe(v: &Vec<u8>) -> usize {\n    v.len()\n}\n' > target/clippy-probe.rs
	@if $(PROBE) target/clippy-probe.rs 2>/dev/null; then \
	  echo "clippy-probe: clippy's driver no longer denies lints given in CLIPPY_ARGS, so make test would not lint; run 'make lint' and fix the Makefile" >&2; exit 1; \
	fi

# The client's end-to-end tests run the server binary: build the binaries first. The
# Socket.IO profile tests run a Node.js socket.io backend (tests/sio-backend).
unit: build-tests sio-backend
	$(CARGO) test --workspace
	npm --prefix ui test --silent

## The server's chat tests again with every in-process server a node on PostgreSQL with the
## Redis bus (private instances the tests start; the store suites run on both stores in
## `unit` already).
## They run from the binaries `build-tests` made (`cargo test -p` would resolve the features
## anew and build again).
unit-postgres: build-tests
	TIDINGS_TEST_STORE=postgres TIDINGS_TEST_BUS=redis bash tools/run-tests.sh -p tidings-server chat_api chat_stomp \
	  chat_actions membership notifications directory

interop: build-tests
	bash tests/interop/run.sh tidings $(SERVER)

## The Socket.IO project's conformance suites (../shared/peers/) against /socket.io/ in its
## test-only conformance mode (docs/socketio.md).
sio-conformance: build-tests
	bash tests/interop/sio_conformance.sh $(SERVER)

differential: build-tests
	bash tests/interop/run.sh rabbitmq $(CLI)

api: build-tests
	bash tests/api/run.sh $(SERVER)

e2e: build-tests sio-backend
	bash tests/e2e/run.sh $(APP) $(SERVER) $(CLI)

## The cluster tests alone (`make unit` runs them too): HAProxy with the shipped
## packaging/cluster/haproxy.cfg, three nodes on private PostgreSQL and Redis with everything
## crossing them, and the engine's chaos run through HAProxy with a node killed and with Redis
## restarted. Each test starts and stops its own instances.
cluster: build
	$(CARGO) test -p tidings-server --test load_balancer --test cluster
	$(CARGO) test -p tidings-client --test chaos_cluster

## The attacks of issue 12 alone (each is bounded and stops by itself; `make unit` runs them
## too): floods against password hashing, transactions, pings, sockets, queues and groups,
## with the server's resident memory read from /proc.
stress:
	$(CARGO) test -p tidings-server --test hostile_auth --test hostile_broker --test hostile_chat

## Every benchmark at full size (release builds; about 20 minutes): the server beside
## RabbitMQ Web-STOMP and a bare WebSocket broadcaster, the desktop cache, the app's start,
## memory and notification latency. Prints the table; JSON and SVG charts in target/bench/.
bench: deps build-release
	ulimit -n "$$(ulimit -Hn)"; target/release/tidings-bench run --out target/bench
	bash tests/bench/run_app.sh target/release/tidings-app target/release/tidings-server target/bench/app.json
	target/release/tidings-bench report target/bench

## A tiny run of every benchmark scenario (debug builds), so that they never rot.
bench-smoke: build-tests
	target/debug/tidings-bench run --smoke --server-bin target/debug/tidings-server --out target/bench-smoke --work target/bench-smoke-work
	bash tests/bench/run_app.sh target/debug/tidings-app target/debug/tidings-server target/bench-smoke/app.json --smoke
	target/debug/tidings-bench report target/bench-smoke

## The desktop app's .deb and .rpm with signed update artifacts and latest.json, and the
## server's .deb with its systemd unit, in dist/ (see tools/package.sh for release keys).
package: deps ui
	bash tools/package.sh

## Installs the packages on this machine, checks them, and removes them again (slow: a
## release build; CI runs it after `make test`).
package-test: package
	bash tests/package/run.sh dist

## Rewrites ui/src/ipc/bindings.ts from the Rust types.
bindings:
	TIDINGS_WRITE_BINDINGS=1 $(CARGO) test -p tidings-app --lib bindings

## System packages the build and the tests need; each is installed only when missing.
DEBS := python3-venv rabbitmq-server postgresql redis-server haproxy \
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev \
  pkg-config build-essential file xvfb xauth webkit2gtk-driver dbus imagemagick librsvg2-bin \
  gnome-keyring libsecret-tools fonts-noto-color-emoji libssl-dev
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
	@missing=""; for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	  command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi
	@command -v tauri-driver >/dev/null || { echo "Installing tauri-driver (cargo install, once)"; $(CARGO) install tauri-driver --locked --version '^2' --quiet; }

clean:
	$(CARGO) clean
	rm -rf tests/interop/node_modules tests/sio-backend/node_modules tests/interop/.venv tests/e2e/.venv ui/node_modules ui/dist tools/tauri/node_modules dist
