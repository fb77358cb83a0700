#!/usr/bin/env bash
# Fuzzes the protocol parser and the connection engine with libFuzzer, on
# stable Rust (no cargo-fuzz: it needs nightly flags).
#
# Usage: scripts/fuzz.sh [seconds-per-target]     (default 30)
#
# Builds fuzz/ (its own workspace) in release mode with debug info, debug
# assertions, overflow checks and SanitizerCoverage instrumentation; replays
# every saved regression input (fuzz/regressions/<target>/); then fuzzes each
# target for the time given, starting from the committed seeds
# (fuzz/corpus/<target>/) copied into a temporary work corpus, so the
# repository is never modified. Crashing inputs are written under the
# target directory and their paths printed; the exit status is non-zero if
# any target crashed.
#
# Environment:
#   CARGO_TARGET_DIR  build directory (default: fuzz/target)
#   CARGO_BUILD_JOBS  parallel build jobs (cargo's own variable)
#   FUZZ_TARGETS      targets to run (default: "parser engine")
#   FUZZ_ARGS         extra libFuzzer flags, e.g. "-max_len=16384"
#   FUZZ_RUSTFLAGS    extra rustc flags
# Needs: rustc/cargo (stable), a C++ compiler (libFuzzer is built from
# source by the libfuzzer-sys crate), access to crates.io for the first build.
set -euo pipefail

secs=${1:-30}
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir=$root/fuzz
targets=${FUZZ_TARGETS:-parser engine}
target_dir=${CARGO_TARGET_DIR:-$fuzz_dir/target}
host=$(rustc -vV | sed -n 's/^host: //p')

# SanitizerCoverage as cargo-fuzz sets it up, minus the nightly-only parts
# (-Zsanitizer): edge coverage with inline 8-bit counters, the PC table and
# comparison tracing that libFuzzer uses to solve magic values.
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)
export RUSTFLAGS="${flags[*]} ${FUZZ_RUSTFLAGS:-}"
# fuzz/ is its own workspace: start its lock file from the library's, so the
# fuzzed code is built with the dependency versions the library is tested with.
if [ ! -f "$fuzz_dir/Cargo.lock" ]; then
    cp "$root/Cargo.lock" "$fuzz_dir/Cargo.lock"
fi
# Building for an explicit --target keeps RUSTFLAGS off build scripts and
# proc macros, which must not be instrumented (nothing links the runtime).
echo "== building fuzz targets ($host, target dir $target_dir)"
cargo build --manifest-path "$fuzz_dir/Cargo.toml" --release --target "$host" \
    --target-dir "$target_dir" --bins
bin_dir=$target_dir/$host/release

artifacts=$target_dir/fuzz-artifacts
work=$(mktemp -d "${TMPDIR:-/tmp}/nats-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

status=0
summary=()
for t in $targets; do
    bin=$bin_dir/$t
    if [ ! -x "$bin" ]; then
        echo "no fuzz target binary $bin" >&2
        exit 2
    fi
    mkdir -p "$artifacts/$t" "$work/$t"
    log=$work/$t.log

    # Regression inputs first: each must run clean.
    shopt -s nullglob
    regressions=("$fuzz_dir/regressions/$t"/*)
    shopt -u nullglob
    if [ ${#regressions[@]} -gt 0 ]; then
        echo "== $t: replaying ${#regressions[@]} regression input(s)"
        if ! "$bin" -artifact_prefix="$artifacts/$t/" "${regressions[@]}" >"$log" 2>&1; then
            tail -n 40 "$log"
            echo "CRASH $t: a regression input in fuzz/regressions/$t/ fails again (log above)"
            summary+=("$t: regression input fails")
            status=1
            continue
        fi
    fi

    if [ -d "$fuzz_dir/corpus/$t" ]; then
        cp -R "$fuzz_dir/corpus/$t/." "$work/$t/"
    fi
    dict=()
    if [ -f "$fuzz_dir/nats.dict" ]; then
        dict=(-dict="$fuzz_dir/nats.dict")
    fi
    echo "== $t: fuzzing for ${secs}s"
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "$bin" "$work/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/$t/" \
        "${dict[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
    corpus=$(find "$work/$t" -type f | wc -l)
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|deadly signal|timeout|out-of-memory' "$log" | head -n 20 || true
        tail -n 30 "$log"
        echo "CRASH $t: input saved at ${crash:-<none: see log above>} (exit $rc, ${runs:-?} runs)"
        echo "  reproduce: $bin ${crash:-<input>}"
        summary+=("$t: CRASH after ${runs:-?} runs, input ${crash:-?}")
        status=1
    else
        echo "$done_line"
        summary+=("$t: ${runs:-?} executions in ${secs}s (${done_line:-no Done line}), corpus $corpus inputs, no crash")
    fi
done

echo "== summary"
for line in "${summary[@]}"; do
    echo "  $line"
done
exit "$status"
