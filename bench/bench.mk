# Benchmark targets, included from the main Makefile (`include bench/bench.mk`).
#   make bench        the full suite: wsrt and every peer, every scenario;
#                     writes bench/results/<date>.{json,md,png} (see docs/PERFORMANCE.md)
#   make bench-deflate  the compression comparison (issue 7): 1 KiB JSON echo
#                     and idle memory, wsrt-c off/shared/per-connection vs ws
#                     with and without perMessageDeflate (plus our other fronts
#                     when their examples read $DEFLATE); writes
#                     bench/results/<date>-deflate.{json,md}
#   make bench-smoke  a few seconds of every generator mode against the C
#                     example, for CI: checks that the tool works and that every
#                     echo and event verified; asserts no timing
# The peers' packages go to .cache/bench (bench/setup.sh), never committed.
.PHONY: bench bench-deflate bench-smoke bench-loadgen bench-setup

BENCH_PY = $(if $(wildcard .cache/bench/venv/bin/python),.cache/bench/venv/bin/python,python3)

bench-loadgen:
	cargo build --release -p wsrt-loadgen

bench-setup:
	@bench/setup.sh

bench: examples bench-loadgen bench-setup
	$(BENCH_PY) bench/run.py

BENCH_DEFLATE_SERVERS ?= wsrt-c,wsrt-c-deflate-shared,wsrt-c-deflate-conn,node-ws,node-ws-deflate
bench-deflate: examples bench-loadgen bench-setup
	BENCH_TAG=deflate BENCH_SERVERS=$(BENCH_DEFLATE_SERVERS) \
	BENCH_SCENARIOS=echo_json,echo_json_deflate,idle_json,idle_deflate $(BENCH_PY) bench/run.py

bench-smoke: examples bench-loadgen
	BENCH_SMOKE=1 BENCH_RT=0 python3 bench/run.py
