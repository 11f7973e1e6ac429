# Fuzzing (issue 17). Included from the root Makefile:
#     include fuzz/fuzz.mk
# and `test-fuzz-regressions` added to its `test:` prerequisites.
#
#   make fuzz                   every target for FUZZ_SECS (default 60) each
#   make fuzz FUZZ_TARGETS=inflate FUZZ_SECS=600
#   make test-fuzz-regressions  the seed corpus and every saved crash, as tests
#
# libFuzzer on the stable toolchain: the targets are compiled with rustc's
# SanitizerCoverage pass (inline 8-bit counters, PC table, comparison
# tracing), which is what `cargo fuzz` asks of nightly's -Zsanitizer, minus
# the sanitizer itself (the protocol crate has no unsafe code but one
# UTF-8 shortcut, which the targets check). --target keeps the flags off
# build scripts and proc macros.

FUZZ_SECS    ?= 60
FUZZ_TARGETS ?= ws_connection http_head inflate sse_encode eio_sio engine_session
FUZZ_TRIPLE   = $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := -Cpasses=sancov-module \
	-Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
	-Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares \
	-Cdebug-assertions -Coverflow-checks

.PHONY: fuzz fuzz-build test-fuzz-regressions fuzz-seeds fuzz-lint

fuzz-build:
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" cargo build --manifest-path fuzz/Cargo.toml \
		--release --features libfuzzer --target $(FUZZ_TRIPLE) --target-dir target/fuzz \
		$(addprefix --bin ,$(FUZZ_TARGETS))

fuzz: fuzz-build
	fuzz/run.sh target/fuzz/$(FUZZ_TRIPLE)/release $(FUZZ_SECS) $(FUZZ_TARGETS)

# No libFuzzer: the target functions as plain tests, sharing target/ (and
# the dependencies built there) with the root workspace's ci-test build.
test-fuzz-regressions:
	cargo test --manifest-path fuzz/Cargo.toml --profile ci-test --target-dir target

# Rewrites the seed corpus (only when a target's input format changes).
fuzz-seeds:
	cargo run --manifest-path fuzz/Cargo.toml --target-dir target --bin seeds -- fuzz/corpus

fuzz-lint:
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --target-dir target -- -D warnings
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --features libfuzzer --target-dir target -- -D warnings
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
