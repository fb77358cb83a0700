#!/usr/bin/env bash
# The demo: connects to NATS_URL, or starts a local nats-server on a free
# loopback port (stopped again on exit), and runs examples/demo.rs: publish,
# subscribe, queue group, request/reply, headers, connection health.
# Then the stale-connection story (examples/c/stale_demo.c, scripts/stale_demo.sh):
# two local servers, the first one frozen, detection, failover, the reconnect
# buffer, health figures; the same C program also runs on nats.c when it is
# installed, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build -q --release --example demo
if [ -z "${NATS_URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp)
  .venv/bin/nats-server -a 127.0.0.1 -p "$port" >"$log" 2>&1 &
  srv=$!
  trap 'kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; rm -f "$log"' EXIT
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  export NATS_URL="nats://127.0.0.1:$port"
  echo "demo: started nats-server (pid $srv) at $NATS_URL"
fi
./target/release/examples/demo "$NATS_URL"
echo
echo "demo: the stale-connection story (examples/c/stale_demo.c)"
bash scripts/stale_demo.sh
