#!/usr/bin/env bash
# The path trace's cost with the release binaries (docs/BENCHMARKS.md, "The path trace"):
# the topology of crates/agent/tests/path_trace_netns.rs (client, r1 rejecting 993 with
# ICMP administratively prohibited, r2 dropping 995, testlab on Microsoft's real ports),
# then `eceprobe-agent check --only imap --only pop3 --only smtp --json` RUNS times with
# traces and RUNS times with --no-trace, each under /usr/bin/time for its peak RSS. Prints
# per run: the trace's time and SYNs for imap and pop3, the SYNs r1 counted, the peak RSS.
#
# Usage (as root, after cargo build --release -p eceprobe-agent -p eceprobe-testlab):
#   crates/bench/path-trace.sh [RUNS]
# Namespaces are named trb<PID>-*, made and removed here; nothing touches the host's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
BIN=${BIN:-target/release}
P=trb$$
TMP=$(mktemp -d)
cleanup() {
  for n in cli r1 r2 lab; do
    ip netns pids "$P-$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$P-$n" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
x() { ip netns exec "$P-$1" "${@:2}"; }
for n in cli r1 r2 lab; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-r1" link add c0 type veth peer name eth0 netns "$P-cli"
ip -n "$P-r1" link add n0 type veth peer name eth0 netns "$P-r2"
ip -n "$P-r2" link add s0 type veth peer name eth0 netns "$P-lab"
ip -n "$P-cli" addr add 10.214.1.2/24 dev eth0
ip -n "$P-r1" addr add 10.214.1.1/24 dev c0
ip -n "$P-r1" addr add 10.214.2.1/24 dev n0
ip -n "$P-r2" addr add 10.214.2.2/24 dev eth0
ip -n "$P-r2" addr add 10.213.57.1/24 dev s0
for a in 101 102 103 104; do ip -n "$P-lab" addr add "10.213.57.$a/24" dev eth0; done
for l in "cli eth0" "r1 c0" "r1 n0" "r2 eth0" "r2 s0" "lab eth0"; do
  set -- $l; ip -n "$P-$1" link set "$2" up
done
ip -n "$P-cli" route add default via 10.214.1.1
ip -n "$P-r1" route add default via 10.214.2.2
ip -n "$P-r2" route add 10.214.1.0/24 via 10.214.2.1
ip -n "$P-lab" route add default via 10.213.57.1
for r in r1 r2; do x "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0; done
x r1 nft -f - <<'NFT'
table inet eceprobe_trace {
  counter syn993 { }
  counter syn995 { }
  chain pre {
    type filter hook prerouting priority -10; policy accept;
    tcp dport 993 tcp flags & (syn | ack) == syn counter name syn993
    tcp dport 995 tcp flags & (syn | ack) == syn counter name syn995
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    tcp dport 993 reject with icmp type admin-prohibited
  }
}
NFT
x r2 nft -f - <<'NFT'
table inet eceprobe_trace {
  chain forward {
    type filter hook forward priority 0; policy accept;
    tcp dport 995 drop
  }
}
NFT
x lab "$BIN/eceprobe-testlab" serve --json --real-ports --dir "$TMP/lab" \
  --ip login=10.213.57.101 --ip outlook-https=10.213.57.102 --ip imap=10.213.57.102 \
  --ip pop3=10.213.57.102 --ip smtp=10.213.57.103 --ip ece-web=10.213.57.104 \
  >"$TMP/lab.json" 2>"$TMP/lab.log" &
for _ in $(seq 100); do [ -s "$TMP/lab.json" ] && break; sleep 0.2; done
mapfile -t ARGS < <(python3 -c 'import json,sys; [print(a) for a in json.loads(open(sys.argv[1]).readline())["agent_args"]]' "$TMP/lab.json")
printf '[timeouts]\ntcp_ms = 2000\n' >"$TMP/agent.toml"
syns() { x r1 nft list counter inet eceprobe_trace "syn$1" | awk '/packets/ {print $2}'; }
run() {
  local before3 before5; before3=$(syns 993); before5=$(syns 995)
  x cli /usr/bin/time -f 'max_rss_kb=%M' "$BIN/eceprobe-agent" "${ARGS[@]}" --config "$TMP/agent.toml" \
    --only imap --only pop3 --only smtp --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt" || true
  local rss; rss=$(grep -o 'max_rss_kb=[0-9]*' "$TMP/err.txt" | cut -d= -f2)
  python3 - "$TMP/out.json" "$rss" "$(( $(syns 993) - before3 ))" "$(( $(syns 995) - before5 ))" "$*" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
rss, s993, s995, flags = sys.argv[2:6]
parts = []
for c in doc["report"]["checks"]:
    p = c["attempts"][0].get("path") if c["attempts"] else None
    if p:
        parts.append(f'{c["check"]} trace {p["duration_us"] / 1000:.0f} ms {p["probes_sent"]} SYNs')
print(f'{flags or "traces"}: peak RSS {rss} KiB; r1 counted {s993} SYNs to 993, {s995} to 995; ' + ("; ".join(parts) or "no trace"))
PY
}
for _ in $(seq "$RUNS"); do run; run --no-trace; done
