#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30) from its committed seeds
# (fuzz/corpus/<target>/seed-*; what a run adds there stays untracked). Prints each target's
# executions and coverage (libFuzzer's final stats line) and exits non-zero when any target
# crashes (its input lands in fuzz/artifacts/<target>/). Needs nightly and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz --locked
set -euo pipefail

seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

build_start=$(date +%s)
cargo +nightly fuzz build
echo "build: $(( $(date +%s) - build_start )) s"

failed=()
for target in $(cargo +nightly fuzz list); do
    log="$(mktemp)"
    start=$(date +%s)
    # -rss_limit_mb: a parser that lets input grow memory fails here, not only on OOM.
    if cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=1024 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$target")
        tail -n 40 "$log"
    fi
    # libFuzzer's last status line ("#N DONE cov: .. ft: .. corp: ..") and its execution count.
    stats="$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(grep -a -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
    printf '%-18s %-5s %4s s  execs %-10s %s\n' "$target" "$status" \
        "$(( $(date +%s) - start ))" "${execs:-?}" "$stats"
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
