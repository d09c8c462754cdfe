#!/usr/bin/env bash
# Fuzz smoke run: every Rust target for FUZZ_SECONDS (default 20) seconds, about a minute in all
# once built (issue #12 "Keep it so"). Long run: FUZZ_SECONDS=3600 fuzz/smoke.sh, or one target with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O glob -- -runs=10000000`.
#
# cargo-fuzz on the machine's stable Rust: RUSTC_BOOTSTRAP=1 lets it pass its -Z flags, and
# `--sanitizer none` needs no sanitizer runtime. Installed on first use (`cargo install cargo-fuzz`).
# The Python-level fuzzing (Arrow batches, bundles, YAML loader) is hypothesis, in the test suite.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
targets=(glob selector row_text bundle_sets bundle_rows)
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi
cargo fuzz build --sanitizer none -O >/dev/null 2>&1 || cargo fuzz build --sanitizer none -O
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    # New inputs go to the temporary corpus; fuzz/seeds/<target> is read only. A crash leaves its
    # input in fuzz/artifacts/<target>/ and fails the script.
    cargo fuzz run --sanitizer none -O "$t" "$work/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"$work/$t.log" || { tail -40 "$work/$t.log"; echo "fuzz/$t: FAILED"; exit 1; }
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo '?')"
    echo "fuzz/$t: ok, $runs executions in ${seconds}s"
done
