# Benchmark targets, included from the main Makefile (`include bench/bench.mk`).
#   make bench        the full suite: wsrt and every peer, every scenario;
#                     writes bench/results/<date>.{json,md,png} (see docs/PERFORMANCE.md)
#   make bench-smoke  a few seconds of every generator mode against the C
#                     example, for CI: checks that the tool works and that every
#                     echo and event verified; asserts no timing
# The peers' packages go to .cache/bench (bench/setup.sh), never committed.
.PHONY: bench bench-smoke bench-loadgen bench-setup

BENCH_PY = $(if $(wildcard .cache/bench/venv/bin/python),.cache/bench/venv/bin/python,python3)

bench-loadgen:
	cargo build --release -p wsrt-loadgen

bench-setup:
	@bench/setup.sh

bench: examples bench-loadgen bench-setup
	$(BENCH_PY) bench/run.py

bench-smoke: examples bench-loadgen
	BENCH_SMOKE=1 BENCH_RT=0 python3 bench/run.py
