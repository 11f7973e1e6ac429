# Node addon targets; included from the main Makefile.
#
#   make node-addon          build the addon (cargo) into bindings-node/wsrt.node and
#                            link the package into examples/node and tests/node
#   make test-node           node-lint, then the `node --test` suites (ws, eventsource,
#                            the core's options, permessage-deflate, publish/subscribe,
#                            socket.io-client against server.io/engineio, TLS (wss,
#                            https, SNI, client certificates, reload), headless
#                            Chromium (over http and https), TypeScript typings,
#                            the example contract)
#   make test-node-autobahn  Autobahn (all but 12/13) against examples/node/echo_server.mjs
#   make node-lint           rustfmt + clippy -D warnings for the addon crate
#   make dist-node           dist/wsrt-<version>.tgz: the npm package, with a prebuilt
#                            stripped addon for this platform and the Rust sources
#                            (staged in target/node-dist/package by bindings-node/pack.js)
#   make test-packaging-node install that tarball into empty projects outside the
#                            repository, without Rust, and use it (ESM, CommonJS,
#                            TypeScript); then the build from the shipped sources
#
# Everything installs what it needs: npm packages from the lockfiles, and
# Debian's chromium and openssl (apt; the TLS tests make their certificates
# with it) when missing. The addon crate is a workspace of its own that
# shares the root target/ directory.
NODE_ROOT   := $(CURDIR)
NODE_CARGO  := CARGO_TARGET_DIR=$(NODE_ROOT)/target cargo
NODE_NPM    := npm --no-audit --no-fund --loglevel=error
NODE_SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: node-addon node-lint test-node test-node-autobahn node-chromium dist-node test-packaging-node

node-addon:
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (Node >= 18)" >&2; exit 1; }
	node bindings-node/build.js
	@# npm links the package (file:) into each project; lockfiles keep it reproducible.
	cd examples/node && $(NODE_NPM) ci
	cd tests/node && $(NODE_NPM) ci

node-lint:
	$(NODE_CARGO) fmt --manifest-path bindings-node/Cargo.toml --check
	$(NODE_CARGO) clippy --manifest-path bindings-node/Cargo.toml --all-targets -- -D warnings

# The browser test needs a real Chromium; it fails (never skips) without one.
# The TLS tests need the openssl command.
node-chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser test" >&2; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(NODE_SUDO) apt-get update -qq && $(NODE_SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi
	@if ! command -v openssl >/dev/null; then \
		echo "installing Debian's openssl for the TLS tests' certificates" >&2; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(NODE_SUDO) apt-get update -qq && $(NODE_SUDO) apt-get install -y -qq openssl >/dev/null; \
	fi

test-node: node-lint node-addon node-chromium
	cd tests/node && node --test --test-concurrency=1 --test-timeout=120000 \
		websocket.test.mjs sse.test.mjs options.test.mjs deflate.test.mjs pubsub.test.mjs socketio.test.mjs tls.test.mjs browser.test.mjs module.test.mjs

test-node-autobahn: node-addon
	tests/autobahn/run-example.sh node

dist-node:
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (Node >= 18)" >&2; exit 1; }
	WSRT_NODE_PROFILE=release node bindings-node/build.js
	node bindings-node/pack.js $(NODE_ROOT)/target/release/libwsrt_node.so $(NODE_ROOT)/target/node-dist/package $(NODE_ROOT)/dist

# Uses the tarball `make dist-node` wrote, and ws and typescript from
# tests/node's lockfile; the build from source shares target/ with
# `make node-addon` (same profile), so only the package's own crates compile.
test-packaging-node: dist-node
	@[ -e tests/node/node_modules/ws/package.json ] || (cd tests/node && $(NODE_NPM) ci)
	tests/packaging/node/test.sh
