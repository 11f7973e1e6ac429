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

PY_MK_DIR := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
PY_ROOT   := $(abspath $(PY_MK_DIR)..)
PY_ENV    := $(PY_ROOT)/.cache/pyenv
PY_TARGET := $(PY_ROOT)/target/bindings-python

.PHONY: python-dev python-wheel test-python-binding lint-python test-autobahn-python

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
