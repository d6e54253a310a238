#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30) from its committed seeds
# (fuzz/corpus/<target>/seed-*; what a run adds there stays untracked). Prints each target's
# executions and coverage (libFuzzer's final stats line) and exits non-zero when any target
# crashes or hangs (its input lands in fuzz/artifacts/<target>/; the file and the command that
# replays it are printed). Needs nightly and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz --locked
set -euo pipefail

seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

build_start=$(date +%s)
cargo +nightly fuzz build
echo "build: $(( $(date +%s) - build_start )) s"
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="target/$host/release"

failed=()
reproduce=()
for target in $(cargo +nightly fuzz list); do
    log="$(mktemp)"
    start=$(date +%s)
    mark="$(mktemp)"
    # -rss_limit_mb: a parser that lets input grow memory fails here, not only on OOM.
    # -timeout: one input taking 60 s is a hang (the probe's stages have deadlines of seconds).
    # The binary `cargo fuzz build` made, run as `cargo fuzz run` would (its corpus and
    # artifact folders): `cargo fuzz run` itself rebuilt the collector's crates for every
    # target in CI (~200 s each), which made the step 50 minutes instead of 5.
    mkdir -p "corpus/$target" "artifacts/$target"
    if "$bin_dir/$target" -artifact_prefix="artifacts/$target/" -max_total_time="$seconds" \
        -rss_limit_mb=1024 -timeout=60 -print_final_stats=1 "corpus/$target" >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$target")
        tail -n 40 "$log"
        # What this run left (crash-, timeout-, oom-, leak-*), and how to replay each.
        while IFS= read -r file; do
            reproduce+=("fuzz/$file: cd fuzz && cargo +nightly fuzz run $target $file")
        done < <(find "artifacts/$target" -type f -newer "$mark" 2>/dev/null | sort)
    fi
    rm -f "$mark"
    # The targets that read files keep them in a folder named by their process id, removed as
    # they go; a crash leaves it. Only folders of processes gone (another run may be live).
    for left in /dev/shm/eceprobe-fuzz-* "${TMPDIR:-/tmp}"/eceprobe-fuzz-*; do
        if [ -e "$left" ] && ! kill -0 "${left##*-}" 2>/dev/null; then rm -rf "$left"; fi
    done
    # libFuzzer's last status line ("#N DONE cov: .. ft: .. corp: ..") and its execution count.
    stats="$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(grep -a -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
    printf '%-18s %-5s %4s s  execs %-10s %s\n' "$target" "$status" \
        "$(( $(date +%s) - start ))" "${execs:-?}" "$stats"
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "crashed: ${failed[*]}" >&2
    for line in "${reproduce[@]}"; do
        echo "  input $line" >&2
    done
    echo "fix it in the library with a regression test from the input (docs/FUZZING.md)" >&2
    exit 1
fi
