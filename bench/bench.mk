# Benchmark targets, included from the main Makefile (`include bench/bench.mk`).
#   make bench        the full suite: wsrt and every peer, every scenario;
#                     writes bench/results/<date>.{json,md,png} (see docs/PERFORMANCE.md)
#   make bench-deflate  the compression comparison (issue 7): 1 KiB JSON echo
#                     and idle memory, wsrt-c off/shared/per-connection vs ws
#                     with and without perMessageDeflate (plus our other fronts
#                     when their examples read $DEFLATE); writes
#                     bench/results/<date>-deflate.{json,md}
#   make bench-socketio  Socket.IO (Engine.IO v4 over WebSocket at /socket.io/):
#                     acks, room broadcast and idle sockets, each of our fronts
#                     that serves /socket.io/ vs socket.io 4.8 (default engine
#                     and on uWebSockets.js) and python-socketio; writes
#                     bench/results/<date>-socketio.{json,md}
#   make bench-smoke  a few seconds of every generator mode against the C
#                     example (and the Socket.IO modes against the Rust
#                     example too, core/examples/sio_contract.rs), for CI:
#                     checks that the tool works and that every echo, ack and
#                     event verified; asserts no timing. The Socket.IO modes
#                     are skipped, with the reason printed, for an example
#                     that does not serve /socket.io/
# The peers' packages go to .cache/bench (bench/setup.sh), never committed.
.PHONY: bench bench-deflate bench-socketio bench-smoke bench-loadgen bench-setup

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

# wsrt-rust is core/examples/sio_contract.rs (run.py builds it with cargo).
# A quick look, not a measurement: BENCH_SECS=2 BENCH_SIO_IDLE_CONNS=2000
# BENCH_SOCKETIO_TAG=socketio-short make bench-socketio
BENCH_SOCKETIO_SERVERS ?= wsrt-rust,wsrt-c,wsrt-python,wsrt-node,socketio-node,socketio-uws,python-socketio
BENCH_SOCKETIO_TAG ?= socketio
bench-socketio: examples bench-loadgen bench-setup
	BENCH_TAG=$(BENCH_SOCKETIO_TAG) BENCH_SERVERS=$(BENCH_SOCKETIO_SERVERS) \
	BENCH_SCENARIOS=sio_ack,sio_room,sio_idle $(BENCH_PY) bench/run.py

bench-smoke: examples bench-loadgen
	BENCH_SMOKE=1 BENCH_RT=0 python3 bench/run.py
