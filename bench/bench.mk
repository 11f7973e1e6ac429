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
#   make bench-tls    TLS (1.3, ECDSA P-256 certificate made for the run):
#                     echo 32 B and 64 KiB, full handshakes (connect,
#                     handshake, one echo, reset) and idle memory per TLS
#                     connection, each beside the same server's plain
#                     figure; each of our fronts whose example reads
#                     $TLS_CERT vs uWebSockets.js SSLApp and ws on https;
#                     writes bench/results/<date>-tls.{json,md} (about 6 min)
#   make bench-cluster  the cluster over Redis (issue 15): the C example
#                     alone beside two of them over one local redis-server
#                     (publisher on A, subscribers on B or on A): delivery
#                     latency at 10,000 and 3,000 publishes/s to 10
#                     subscribers (added p99 against the 1 ms goal), and
#                     deliveries per system CPU-second (A + B + Redis) to
#                     1,000 subscribers; 3 repetitions side by side; writes
#                     bench/results/<date>-cluster.{json,md} (about 6 min)
#   make bench-spread   how SO_REUSEPORT spreads connections over 2 and 4
#                     loops, beside a round-robin acceptor (core/examples/
#                     loop_spread.rs; about 30 s)
#   make bench-syscalls system calls per broadcast delivery, the fronts beside
#                     uWebSockets.js (perf stat on the server; bench/syscalls.py)
#   make bench-turns  tail latency at 10,000 msgs/s (issue 16): round trip
#                     p50/p99/p99.9/max of each front beside uWebSockets.js,
#                     then the same load with the server's system calls
#                     traced (perf record): busy span per loop turn, calls
#                     per message, write-call durations; 3 rounds; writes
#                     bench/results/<date>-turns.{json,md} (about 5 min;
#                     uws needs the peers of bench-setup)
#   make bench-workers  several loops in one process (issue 15): the C
#                     example with WORKERS=1 and WORKERS=2, pinned (server on
#                     core 0, generator on core 1) and unpinned (sharing both
#                     cores): echo 32 B closed loop and at a fixed rate,
#                     broadcast 1 -> 1,000 subscribers at 1,000 and 2,000
#                     publishes/s; per server CPU-second, the application
#                     thread's share, the hand-off cost per message and a
#                     16-core projection; 3 repetitions side by side; writes
#                     bench/results/<date>-workers.{json,md} (about 6 min)
#   make bench-smoke  a few seconds of every generator mode against the C
#                     example (and the Socket.IO modes against the Rust
#                     example too, core/examples/sio_contract.rs), for CI:
#                     checks that the tool works and that every echo, ack and
#                     event verified; asserts no timing. The Socket.IO modes
#                     are skipped, with the reason printed, for an example
#                     that does not serve /socket.io/
# The peers' packages go to .cache/bench (bench/setup.sh), never committed.
.PHONY: bench bench-deflate bench-socketio bench-tls bench-cluster bench-workers bench-spread bench-syscalls bench-turns bench-smoke bench-loadgen bench-setup

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

# The plain twins (wsrt-FRONT, uws, node-ws) run the same echo, handshake
# and idle scenarios without TLS, for the figures beside. Our fronts whose
# example does not read $TLS_CERT yet are left out by the runner (it
# prints which). A quick look: BENCH_SECS=1 BENCH_TLS_IDLE_CONNS=500
# BENCH_TLS_TAG=tls-short make bench-tls
BENCH_TLS_SERVERS ?= wsrt-c-tls,wsrt-c,wsrt-python-tls,wsrt-python,wsrt-node-tls,wsrt-node,uws-tls,uws,node-ws-tls,node-ws
BENCH_TLS_TAG ?= tls
bench-tls: examples bench-loadgen bench-setup
	BENCH_TAG=$(BENCH_TLS_TAG) BENCH_SERVERS=$(BENCH_TLS_SERVERS) \
	BENCH_SCENARIOS=tls_echo_small,tls_echo_large,tls_handshake,tls_idle,echo_small,echo_large,plain_handshake,plain_idle \
	timeout 900 $(BENCH_PY) bench/run.py

# Needs redis-server (Debian's redis-server package). cluster.py builds the
# example itself (and uses the last build if core does not compile right
# now, saying so in the results). A quick look: BENCH_SECS=1
# BENCH_CLUSTER_REPS=1 BENCH_CLUSTER_TAG=cluster-short make bench-cluster
bench-cluster: bench-loadgen
	timeout 1200 python3 bench/cluster.py

# workers.py builds the C example itself (as cluster.py does); the Python
# and Node examples run only when named, through examples/run:
# BENCH_WORKERS_FRONTS=c,python,node (slower to start; not in the 6
# minutes). A quick look: BENCH_SECS=1 BENCH_WORKERS_REPS=1
# BENCH_WORKERS_TAG=workers-short make bench-workers
bench-workers: bench-loadgen
	timeout 1500 python3 bench/workers.py

bench-spread:
	cargo run -q --release -p wsrt --example loop_spread

bench-syscalls: examples bench-loadgen
	timeout 900 python3 bench/syscalls.py

# The report goes to stdout; written to <date>-turns.md only when the run
# completes. A quick look: python3 bench/turns.py --rounds 1 --secs 3
bench-turns: examples bench-loadgen
	@d=bench/results/$$(date +%F)-turns; \
	timeout 1200 python3 bench/turns.py --out $$d.json > $$d.md.tmp && mv $$d.md.tmp $$d.md && echo $$d.md

bench-smoke: examples bench-loadgen
	BENCH_SMOKE=1 BENCH_RT=0 python3 bench/run.py
