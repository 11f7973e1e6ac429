# wsrt: the two commands are `make demo` and `make test`; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ABI_MAJOR  := 0
BUILD      := $(CURDIR)/build
LIBDIR     := $(BUILD)/lib
CC         ?= cc
CFLAGS_STRICT := -std=c11 -Wall -Wextra -Werror -pedantic -O2
PORT       ?= 9001
export CARGO_TERM_PROGRESS_WHEN = never

.PHONY: help deps lib examples header demo test dist test-packaging check-version set-version test-rust test-c test-python test-autobahn autobahn-full lint clean contract-c test-contract test-autobahn-tls test-autobahn-quick test-cluster demo-tls

help:
	@echo "make demo          run the demo server (http://127.0.0.1:$(PORT)/)"
	@echo "make test          run every test (installs what it needs)"
	@echo "make autobahn-full Autobahn with compression groups 12/13, every front (long: ~80 min)"
	@echo "make lib           build libwsrt.so, wsrt.h and wsrt.pc into build/"
	@echo "make header        regenerate include/wsrt.h with cbindgen"
	@echo "make fuzz          coverage-guided fuzzing, FUZZ_SECS (60) per target; see fuzz/README.md"
	@echo "make dist          the C tarball, the Python wheel and sdist, the npm tarball, into dist/"
	@echo "make install       the C library, header and wsrt.pc under PREFIX (/usr/local; DESTDIR honoured)"
	@echo "make set-version VERSION=x.y.z   one version, written into every package"

# System packages the tests use; installed only when missing.
deps:
	@tests/tools/ensure-deps.sh

# libwsrt.so.$(VERSION) with SONAME libwsrt.so.$(ABI_MAJOR), the usual
# symlinks, the header and a pkg-config file, laid out as an install prefix.
lib:
	cargo build --release -p wsrt-ffi
	@mkdir -p $(LIBDIR)/pkgconfig $(BUILD)/include
	@# Replace by rename, never rewrite in place: a running server has the
	@# old file mapped, and truncating it under that server crashes it.
	@# The temporary name is per process: two builds at once must not
	@# move each other's file.
	@cp target/release/libwsrt_ffi.so $(LIBDIR)/.libwsrt.so.tmp.$$$$ && \
		mv -f $(LIBDIR)/.libwsrt.so.tmp.$$$$ $(LIBDIR)/libwsrt.so.$(VERSION)
	@ln -sf libwsrt.so.$(VERSION) $(LIBDIR)/libwsrt.so.$(ABI_MAJOR)
	@ln -sf libwsrt.so.$(ABI_MAJOR) $(LIBDIR)/libwsrt.so
	@cp target/release/libwsrt_ffi.a $(LIBDIR)/libwsrt.a
	@cp include/wsrt.h $(BUILD)/include/wsrt.h
	@sed -e 's|@PREFIX@|$(BUILD)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(WSRT_LIBS_PRIVATE)|' ffi/wsrt.pc.in > $(LIBDIR)/pkgconfig/wsrt.pc

# The C example is built the way a user would: header + library only.
# Linked under a name of its own and renamed into place: two servers
# started at once (tests/socketio) may both build it, and one must not
# write the file the other is running.
examples: lib
	@mkdir -p $(BUILD)/examples
	$(CC) $(CFLAGS_STRICT) examples/c/echo_server.c examples/c/sio_contract.c -o $(BUILD)/examples/.echo_server.$$$$ \
		$$(PKG_CONFIG_PATH=$(LIBDIR)/pkgconfig pkg-config --cflags --libs wsrt 2>/dev/null || echo "-I$(BUILD)/include -L$(LIBDIR) -lwsrt") \
		-pthread -Wl,-rpath,$(LIBDIR) && mv -f $(BUILD)/examples/.echo_server.$$$$ $(BUILD)/examples/echo_server

# The C contract server (tests/contract/README.md), built like the example.
contract-c: lib
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS_STRICT) tests/contract/server.c -o $(BUILD)/tests/contract_server \
		$$(PKG_CONFIG_PATH=$(LIBDIR)/pkgconfig pkg-config --cflags --libs wsrt 2>/dev/null || echo "-I$(BUILD)/include -L$(LIBDIR) -lwsrt") \
		-pthread -Wl,-rpath,$(LIBDIR)

# include/wsrt.h: cbindgen's declarations and the option constants from
# the core's schema (ffi/tests/support/header.rs).
header:
	cargo run -q -p wsrt-ffi --example gen_header

# The demo page (/), the Socket.IO chat (/chat) with the stock browser
# client from examples/demo's `npm ci` (/socket.io/socket.io.min.js).
demo: $(CURDIR)/examples/demo/node_modules/.package-lock.json
	@WSRT_DEMO_PAGE=$(CURDIR)/examples/demo/index.html \
		WSRT_CHAT_PAGE=$(CURDIR)/examples/demo/chat.html \
		WSRT_SIO_CLIENT=$(CURDIR)/examples/demo/node_modules/socket.io-client/dist/socket.io.min.js \
		PORT=$(PORT) examples/run c

# `make demo` over TLS: a throw-away CA and a certificate for 127.0.0.1 and
# localhost, made with the openssl CLI into .cache/demo-tls/ (git-ignored;
# made again when the certificate is a day from expiring).
DEMO_TLS := $(CURDIR)/.cache/demo-tls
demo-tls:
	@mkdir -p $(DEMO_TLS) && cd $(DEMO_TLS) && \
	if ! openssl x509 -checkend 86400 -noout -in cert.pem 2>/dev/null; then { \
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
			-subj "/CN=wsrt demo CA" -keyout ca.key -out ca.pem && \
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
			-keyout key.pem -out server.csr && \
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf && \
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
			-extfile ext.cnf -out cert.pem; } > openssl.log 2>&1 || \
		{ cat openssl.log >&2; echo "demo-tls: openssl could not make the certificates" >&2; exit 1; }; \
	fi
	@echo "demo-tls: https://127.0.0.1:$(PORT)/ with a certificate from the throw-away CA $(DEMO_TLS)/ca.pem"
	@echo "  curl:    curl --cacert $(DEMO_TLS)/ca.pem https://127.0.0.1:$(PORT)/"
	@echo "  browser: import $(DEMO_TLS)/ca.pem as a trusted authority (Chrome: Settings > Privacy and security >"
	@echo "           Security > Manage certificates > Authorities; Firefox: Settings > Certificates > View"
	@echo "           Certificates > Authorities > Import), and remove it when done"
	@TLS_CERT=$(DEMO_TLS)/cert.pem TLS_KEY=$(DEMO_TLS)/key.pem $(MAKE) -s demo

# test-packaging runs last: its Node part builds the addon from the packed
# sources into target/, which the checkout's addon would then rebuild.
test: deps lint lint-python test-rust test-fuzz-regressions test-c test-valgrind test-python test-python-binding test-node test-contract test-cluster test-socketio test-faults test-soak bench-smoke test-autobahn-quick test-packaging

# The ci-test profile (Cargo.toml): release code without LTO, three times
# quicker to build for the same tests.
test-rust:
	cargo test --workspace --profile ci-test

test-c: lib
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS_STRICT) tests/c/api_test.c -o $(BUILD)/tests/api_test \
		-I$(BUILD)/include -L$(LIBDIR) -lwsrt -lpthread -Wl,-rpath,$(LIBDIR)
	$(BUILD)/tests/api_test

test-python: examples
	@tests/tools/venv.sh
	.cache/venv/bin/python -m pytest -q tests/python

# Every group except compression (12, 13: permessage-deflate, its own issue).
test-autobahn: examples
	tests/autobahn/run-example.sh c

# test-autobahn, test-autobahn-tls, test-autobahn-python and
# test-node-autobahn side by side (tests/autobahn/run-all.sh).
test-autobahn-quick: examples python-dev node-addon
	tests/autobahn/run-all.sh

# The same groups over wss://: the C example speaks TLS on its port with a
# certificate from a throw-away CA that wstest verifies.
test-autobahn-tls: examples
	AUTOBAHN_TLS=1 tests/autobahn/run-example.sh c

# Every group, compression included: the C example in both deflate modes,
# then the Python and Node examples per connection (~20 min each here).
autobahn-full: examples
	AUTOBAHN_EXCLUDE='[]' DEFLATE=per-connection tests/autobahn/run-example.sh c
	AUTOBAHN_EXCLUDE='[]' DEFLATE=shared tests/autobahn/run-example.sh c
	AUTOBAHN_EXCLUDE='[]' DEFLATE=per-connection tests/autobahn/run-example.sh python
	AUTOBAHN_EXCLUDE='[]' DEFLATE=per-connection tests/autobahn/run-example.sh node

lint: check-version fuzz-lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 tests/tools/import_cycles.py core/src core/proto/src ffi/src bindings-python/src bindings-node/src

# A cluster of the three example servers (C, Python, Node) over one
# Debian redis-server, and each example with two loops (WORKERS=2)
# (tests/cluster/).
test-cluster: deps examples python-dev node-addon
	@tests/tools/venv.sh
	@tests/socketio/venv.sh
	.cache/venv/bin/python -m pytest -q -p no:cacheprovider tests/cluster/test_cluster.py tests/cluster/test_workers.py
	.cache/sio-venv/bin/python -m pytest -q -p no:cacheprovider tests/cluster/test_cluster_socketio.py tests/cluster/test_workers_socketio.py

# The cross-front contract (tests/contract/README.md): Rust, C, Python and
# Node given the same edge values must agree.
test-contract: contract-c python-dev node-addon
	cargo build -q --release -p wsrt --example contract_server
	@tests/tools/venv.sh
	.cache/venv/bin/python -m pytest -q -p no:cacheprovider tests/contract

clean:
	rm -rf build target .cache dist

# One version (root Cargo.toml) for every package; see tests/tools/check_version.py.
check-version:
	@python3 tests/tools/check_version.py

set-version:
	@test "$(origin VERSION)" = "command line" || { echo "usage: make set-version VERSION=x.y.z" >&2; exit 2; }
	python3 tests/tools/check_version.py --set $(VERSION)
	$(MAKE) header
	python3 tests/tools/check_version.py

# Everything a user installs, built into dist/ (ffi/dist.mk, python.mk, node.mk),
# and each of them installed and used the way a user would, without Rust.
dist: dist-c dist-python dist-node
	@ls -l dist/

test-packaging: test-packaging-c test-packaging-python test-packaging-node

# Fronts and the benchmark suite keep their targets beside their code.
include bindings-python/python.mk
include bindings-node/node.mk
include tests/socketio/socketio.mk
include bench/bench.mk
include ffi/dist.mk
include fuzz/fuzz.mk
include tests/reliability/reliability.mk
include tests/soak/soak.mk
