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

.PHONY: run test deps lint unit interop differential api build clean

## Build and start the server on its embedded default (127.0.0.1:8080) with demo data
## (users alice, bob, carol; password tidings-demo), printing access tokens and a service
## token so that any STOMP or REST client can start right away.
run: deps build
	@mkdir -p $(RUN_DIR)
	@[ -s $(RUN_DIR)/service-token ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(RUN_DIR)/service-token)
	@echo "Demo users alice (admin), bob, carol; password: tidings-demo (POST /api/auth/login)."
	@echo "Access tokens (valid 24 h; the secret is kept in $(RUN_DIR)/jwt-secret):"
	@for u in alice bob carol; do printf '  %-6s %s\n' $$u "$$($(SERVER) --data-dir $(RUN_DIR) token --sub $$u --ttl 86400)"; done
	@echo "Service token (POST /api/notifications): $$(cat $(RUN_DIR)/service-token)"
	@echo "STOMP: ws://$(LISTEN)/ws with 'Authorization: Bearer <token>'. REST: http://$(LISTEN)/api (document: /api/openapi.json). Ctrl-C stops."
	TIDINGS_SERVICE_TOKEN="$$(cat $(RUN_DIR)/service-token)" exec $(SERVER) --data-dir $(RUN_DIR) --listen $(LISTEN) --demo

## Everything: formatting, lints, unit and integration tests, third-party clients against
## Tidings, the same clients against RabbitMQ Web-STOMP (differential), and schemathesis
## against the REST API's OpenAPI document.
test: deps lint unit interop differential api

build:
	$(CARGO) build -p tidings-server -p tidings-cli

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The client's end-to-end tests run the server binary: build the binaries first.
unit: build
	$(CARGO) test --workspace

interop: build
	bash tests/interop/run.sh tidings $(SERVER)

differential: build
	bash tests/interop/run.sh rabbitmq $(CLI)

api: build
	bash tests/api/run.sh $(SERVER)

## System packages the tests and tools need; each is installed only when missing.
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
	@missing=""; \
	  command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	  python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$$missing rabbitmq-server"; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi

clean:
	$(CARGO) clean
	rm -rf tests/interop/node_modules tests/interop/.venv
