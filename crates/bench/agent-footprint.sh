#!/usr/bin/env bash
# The agent's footprint as it runs for real: `eceprobe-agent run` probing testlab (all six
# checks, real TLS) and streaming to a plaintext collector on loopback.
#
#   crates/bench/agent-footprint.sh [INTERVAL_S] [CYCLES]
#
# Defaults: 60 s interval, 10 cycles (10 minutes). Prints the release binary's size, then,
# after each cycle, the agent's resident memory (VmRSS), its peak (VmHWM), threads and CPU
# seconds used so far. Needs release builds of eceprobe-agent, eceprobe-collector and
# eceprobe-testlab (cargo build --release -p eceprobe-agent -p eceprobe-collector
# -p eceprobe-testlab) and python3 for the JSON.
set -euo pipefail
interval=${1:-60}
cycles=${2:-10}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for b in eceprobe-agent eceprobe-collector eceprobe-testlab; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: build it with cargo build --release" >&2; exit 2; }
done
printf 'binary: eceprobe-agent %s bytes (%.1f MB)\n' "$(stat -c %s "$bin/eceprobe-agent")" \
  "$(echo "$(stat -c %s "$bin/eceprobe-agent") / 1000000" | bc -l)"

"$bin/eceprobe-testlab" serve --dir "$work/lab" --json >"$work/lab.json" 2>"$work/lab.log" &
pids+=($!)
"$bin/eceprobe-collector" serve --plaintext --listen 127.0.0.1:0 --query-listen 127.0.0.1:0 \
  --db "$work/c.db" >"$work/collector.out" 2>"$work/collector.log" &
pids+=($!)
for _ in $(seq 50); do
  [ -s "$work/lab.json" ] && grep -q "^query on" "$work/collector.out" && break
  sleep 0.2
done
collector=$(sed -n 's/^listening on //p' "$work/collector.out")
mapfile -t args < <(python3 -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["agent_args"][1:]]' "$work/lab.json")

"$bin/eceprobe-agent" run "${args[@]}" --collector "http://$collector" --plaintext \
  --agent-id footprint --role both --interval "$interval" --spool-dir "$work/spool" \
  --log-level warn 2>"$work/agent.log" &
agent=$!
pids+=($agent)

ticks=$(getconf CLK_TCK)
report() {
  local rss hwm threads cpu
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
  threads=$(awk '/^Threads/ {print $2}' "/proc/$agent/status")
  cpu=$(awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$agent/stat")
  printf '%-10s rss %6.1f MiB  peak %6.1f MiB  threads %s  cpu %s s\n' "$1" \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" "$threads" "$cpu"
}
sleep 2
report "start"
for c in $(seq "$cycles"); do
  # Sample mid-interval: between probes, the agent is idle.
  sleep "$interval"
  report "cycle $c"
done
query=$(sed -n 's/^query on //p' "$work/collector.out")
stored=$("$bin/eceprobe-collector" servers --json --collector "http://$query" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["last_seq"])')
echo "results stored by the collector: $stored"
if grep -q ERROR "$work/agent.log"; then
  echo "agent errors:" >&2
  grep ERROR "$work/agent.log" >&2
  exit 1
fi
