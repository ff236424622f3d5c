#!/usr/bin/env bash
# Fuzzes the wire protocol (fuzz_targets/wire.rs) for SECONDS (default 600) and prints the
# executions, the coverage and the peak memory. Usage: fuzz/run.sh [SECONDS]
#
# The instrumented build compiles all of DataFusion (47 minutes cold on 2 cores), in its
# own target directory so it never invalidates the test build. Findings land in
# fuzz/artifacts/wire/; replay one with: fuzz/run.sh --replay FILE
set -euo pipefail
cd "$(dirname "$0")"

TARGET_DIR="${LAKEGATE_FUZZ_TARGET_DIR:-$HOME/.cache/lakegate-fuzz-target}"
BINARY="$TARGET_DIR/x86_64-unknown-linux-gnu/release/wire"
# cargo-fuzz passes unstable flags; this is the machine's only (stable) toolchain.
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi
echo "== building the instrumented target (no sanitizer; coverage, debug assertions)"
cargo fuzz build -O -s none --codegen-units 16 --target-dir "$TARGET_DIR" wire

if [[ "${1:-}" == "--replay" ]]; then
    exec "$BINARY" "${2:?--replay needs a file from fuzz/artifacts/wire/}"
fi
seconds="${1:-600}"
python3 seeds.py corpus/wire
mkdir -p artifacts/wire
log="artifacts/wire-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "== fuzzing for $seconds s (progress on stderr; log in fuzz/$log)"
# Standard output carries the gateway's audit records (sink stdout): not needed here.
status=0
"$BINARY" corpus/wire -dict=wire.dict -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix=artifacts/wire/ 2> >(tee "$log" >&2) >/dev/null || status=$?
sleep 1  # tee's last lines
echo "== summary"
grep -E "INFO: Loaded .* (inline 8-bit counters|modules)" "$log" | head -1
grep -E "^#[0-9]+\s+(DONE|pulse|NEW|REDUCE)" "$log" | tail -1
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)" "$log"
exit "$status"
