# The Socket.IO end-to-end suite (tests/socketio/README.md). The main
# Makefile may include this file; it also works on its own:
#   make -f tests/socketio/socketio.mk test-socketio-reference
#
#   test-socketio            for each FRONT in $(SIO_FRONTS) (default: c python
#                            node): the Node tests, the Python tests and the
#                            browser test against `examples/run FRONT`
#   test-socketio-reference  the same suite against the reference server
#                            (official socket.io 4.8, reference_server.mjs)
#   test-socketio-rust       the same suite against core/examples/sio_contract.rs
#   socketio-deps            what the suite needs: npm ci in tests/socketio and
#                            examples/demo (from the lockfiles, when they
#                            changed), the Python venv .cache/sio-venv, and
#                            Debian's chromium (apt) when /usr/bin/chromium is
#                            missing
#
# One front's run starts its server twice (normal and short heartbeat),
# runs the parts, stops both with SIGTERM (each must exit 0); see run.mjs.
SIO_MK_DIR := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
SIO_DIR    := $(abspath $(SIO_MK_DIR))
SIO_ROOT   := $(abspath $(SIO_MK_DIR)../..)
SIO_DEMO   := $(SIO_ROOT)/examples/demo
SIO_FRONTS ?= c python node
SIO_NPM    := npm --no-audit --no-fund --loglevel=error
SIO_SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: test-socketio test-socketio-reference test-socketio-rust socketio-deps socketio-chromium socketio-venv

# npm ci again only when a lockfile is newer than the install it made.
$(SIO_DIR)/node_modules/.package-lock.json: $(SIO_DIR)/package-lock.json $(SIO_DIR)/package.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (Node >= 18)" >&2; exit 1; }
	cd $(SIO_DIR) && $(SIO_NPM) ci
	@touch $@

$(SIO_DEMO)/node_modules/.package-lock.json: $(SIO_DEMO)/package-lock.json $(SIO_DEMO)/package.json
	cd $(SIO_DEMO) && $(SIO_NPM) ci
	@touch $@

socketio-venv:
	@$(SIO_DIR)/venv.sh

# The browser test needs a real Chromium; it fails (never skips) without one.
socketio-chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser test" >&2; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SIO_SUDO) apt-get update -qq && $(SIO_SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

socketio-deps: $(SIO_DIR)/node_modules/.package-lock.json $(SIO_DEMO)/node_modules/.package-lock.json socketio-venv socketio-chromium

test-socketio-reference: socketio-deps
	node $(SIO_DIR)/run.mjs reference

# The contract on the core's Rust API (core/examples/sio_contract.rs).
test-socketio-rust: socketio-deps
	node $(SIO_DIR)/run.mjs rust

test-socketio: socketio-deps
	@set -e; for front in $(SIO_FRONTS); do \
		echo "== Socket.IO suite against $$front =="; \
		node $(SIO_DIR)/run.mjs $$front; \
	done
