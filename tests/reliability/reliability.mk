# Fault injection and memory checks at the C boundary (tests/reliability/README.md).
# The main Makefile includes this file; before that, or on its own:
#   make -f Makefile -f tests/reliability/reliability.mk test-faults
#
#   test-faults    the fault-injection tests (pytest, tests/reliability/test_faults.py):
#                  EMFILE, resets mid-frame and mid-deflate, a subscriber that stops
#                  reading, SIGTERM under load, handlers that throw (Python, Node)
#   test-valgrind  tests/c/api_test.c and the C example under valgrind memcheck
#                  (tests/reliability/valgrind.sh): no error, no definite leak

REL_DIR  := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
REL_ROOT := $(abspath $(REL_DIR)../..)

.PHONY: test-faults test-valgrind

test-faults: examples python-dev node-addon
	@$(REL_ROOT)/tests/tools/venv.sh
	cd $(REL_ROOT) && .cache/venv/bin/python -m pytest -q -p no:cacheprovider tests/reliability

test-valgrind: deps examples
	@$(REL_ROOT)/tests/tools/venv.sh
	$(REL_ROOT)/tests/reliability/valgrind.sh
