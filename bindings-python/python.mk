# The Python package's targets. The main Makefile includes this file
# (`include bindings-python/python.mk`); it also works on its own:
#   make -f bindings-python/python.mk test-python-binding
#
#   python-dev            build `wsrt` with pip (maturin backend) and install it
#                         into .cache/pyenv, with the pinned test requirements
#                         (rebuilt only when bindings-python/ or core/ changed)
#   python-wheel          build the abi3 wheel into build/python/
#   test-python-binding   python-dev, then the package's pytest suite
#   lint-python           rustfmt + clippy -D warnings for the PyO3 crate (its
#                         own cargo workspace, so the root `make lint` skips it)
#   test-autobahn-python  Autobahn (all groups but 12/13) against the Python example
#   dist-python           the release artefacts into dist/: the sdist
#                         wsrt-<version>.tar.gz and the stripped abi3 wheel,
#                         its manylinux tag checked by maturin's auditwheel
#   test-packaging-python dist-python, then install the wheel into a fresh venv
#                         without Rust and talk to it; build the sdist on its own
#                         (tests/packaging/python/test_python_package.sh)

PY_MK_DIR := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
PY_ROOT   := $(abspath $(PY_MK_DIR)..)
PY_ENV    := $(PY_ROOT)/.cache/pyenv
PY_TARGET := $(PY_ROOT)/target/bindings-python
# Release builds: their own venv (pinned maturin only) and cargo target dir,
# kept across runs so crates.io dependencies compile once.
PY_DIST_ENV    := $(PY_ROOT)/.cache/pydist
PY_DIST_REQ    := $(PY_ROOT)/tests/packaging/python/build-requirements.txt
PY_DIST_TARGET := $(PY_TARGET)

.PHONY: python-dev python-wheel test-python-binding lint-python test-autobahn-python \
	dist-python test-packaging-python

python-dev:
	@$(PY_ROOT)/tests/python-binding/venv.sh

python-wheel: python-dev
	@mkdir -p $(PY_ROOT)/build/python
	cd $(PY_ROOT) && CARGO_TARGET_DIR=$(PY_TARGET) PATH="$(PY_ENV)/bin:$$PATH" \
		$(PY_ENV)/bin/python -m pip wheel -q --no-build-isolation --no-deps \
		-w $(PY_ROOT)/build/python ./bindings-python
	@ls $(PY_ROOT)/build/python/*.whl

test-python-binding: python-dev
	cd $(PY_ROOT) && $(PY_ENV)/bin/python -m pytest -q -p no:cacheprovider tests/python-binding

lint-python:
	cd $(PY_ROOT)/bindings-python && cargo fmt --check
	cd $(PY_ROOT)/bindings-python && CARGO_TARGET_DIR=$(PY_TARGET) cargo clippy --all-targets -- -D warnings

test-autobahn-python:
	$(PY_ROOT)/tests/autobahn/run-example.sh python

# The venv is made anew when the pinned build requirements change.
$(PY_DIST_ENV)/.requirements.stamp: $(PY_DIST_REQ)
	rm -rf $(PY_DIST_ENV)
	python3 -m venv $(PY_DIST_ENV)
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY_DIST_ENV)/bin/python -m pip install -q -r $(PY_DIST_REQ)
	touch $@

# The wheel is built from the repository's tree (incremental in
# target/packaging); test-packaging-python builds the sdist on its own.
# `--compatibility pypi` with `--auditwheel check` fails rather than ship a
# plain linux tag; maturin picks the oldest manylinux tag the .so's glibc
# symbol versions allow.
dist-python: $(PY_DIST_ENV)/.requirements.stamp
	@mkdir -p $(PY_ROOT)/dist
	rm -f $(PY_ROOT)/dist/wsrt-*-abi3-*.whl
	$(PY_DIST_ENV)/bin/maturin sdist --manifest-path $(PY_ROOT)/bindings-python/Cargo.toml --out $(PY_ROOT)/dist
	CARGO_TARGET_DIR=$(PY_DIST_TARGET) CARGO_TERM_PROGRESS_WHEN=never \
		$(PY_DIST_ENV)/bin/maturin build --quiet --release --strip --auditwheel check --compatibility pypi \
		--manifest-path $(PY_ROOT)/bindings-python/Cargo.toml --out $(PY_ROOT)/dist
	@ls -l $(PY_ROOT)/dist/wsrt-*-abi3-*.whl $(PY_ROOT)/dist/wsrt-$$(sed -n 's/^version = "\(.*\)"/\1/p' $(PY_ROOT)/bindings-python/Cargo.toml).tar.gz

# Tests what dist-python just built (once per make run, also under `make dist
# test-packaging`); the sdist build shares target/packaging.
test-packaging-python: dist-python
	PY_DIST_ENV=$(PY_DIST_ENV) CARGO_TARGET_DIR=$(PY_DIST_TARGET) \
		$(PY_ROOT)/tests/packaging/python/test_python_package.sh
