#!/usr/bin/env bash
# Measures the capture agent's cost on TCP throughput between two network
# namespaces joined by a veth pair: iperf3 for SECONDS (default 5) without
# the agent, then with retina-capture attached to the server's veth
# (ingress+egress, drops and retransmissions on), at full snap length and at
# a header-only snap length. Prints Gbit/s per run and the ratio to the
# baseline. Root only. Offloads stay at their defaults (TSO/GSO/GRO on), as
# on a real node: the TC programs then see GSO super-packets.
#
# usage: scripts/agent-overhead.sh [SECONDS] [RUNS]
#   RETINA_CAPTURE=path/to/retina-capture (default: target/release, built if missing)
#   OUT=DIR where the agent writes (default: a directory under /dev/shm, removed)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-5}"
RUNS="${2:-3}"
[ "$(id -u)" -eq 0 ] || { echo "agent-overhead: needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "agent-overhead: iperf3 missing (scripts/install-deps.sh)" >&2; exit 1; }
BIN="${RETINA_CAPTURE:-target/release/retina-capture}"
if [ ! -x "$BIN" ]; then
    cargo build --release -p retina-capture >&2
fi

TAG="ovh$$"
NA="${TAG}a"; NB="${TAG}b"
OUT="${OUT:-$(mktemp -d /dev/shm/retina-overhead.XXXXXX)}"
cleanup() {
    [ -n "${AGENT_PID:-}" ] && kill -INT "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
    ip netns del "$NA" 2>/dev/null || true
    ip netns del "$NB" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT

ip netns add "$NA"; ip netns add "$NB"
ip link add "${TAG}x" type veth peer name "${TAG}y"
ip link set "${TAG}x" netns "$NA"; ip link set "${TAG}y" netns "$NB"
ip -n "$NA" addr add 10.251.0.1/24 dev "${TAG}x"; ip -n "$NB" addr add 10.251.0.2/24 dev "${TAG}y"
for ns in "$NA" "$NB"; do ip -n "$ns" link set lo up; done
ip -n "$NA" link set "${TAG}x" up; ip -n "$NB" link set "${TAG}y" up
ip netns exec "$NB" iperf3 -s -B 10.251.0.2 >/dev/null 2>&1 &
SERVER_PID=$!
sleep 1

gbps() { # one iperf3 run, prints Gbit/s of the receiver
    ip netns exec "$NA" iperf3 -c 10.251.0.2 -t "$SECS" -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}

one_run() { # agent args... (none: no agent); prints Gbit/s
    AGENT_PID=""
    if [ "$#" -gt 0 ]; then
        rm -rf "$OUT/run"; mkdir -p "$OUT/run"
        ip netns exec "$NB" "$BIN" -i "${TAG}y" --output "$OUT/run" --force -q "$@" 2>"$OUT/agent.log" &
        AGENT_PID=$!
        for _ in $(seq 100); do grep -q "capturing on" "$OUT/agent.log" 2>/dev/null && break; sleep 0.1; done
        grep -q "capturing on" "$OUT/agent.log" || { cat "$OUT/agent.log" >&2; exit 1; }
    fi
    gbps
    if [ -n "$AGENT_PID" ]; then
        kill -INT "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""
        grep -E "packets \(|lost in the kernel" "$OUT/agent.log" | sed "s/^/    [$*] /" >&2
    fi
}

# Configurations, interleaved round by round so that load from other
# processes spreads over all of them.
LABELS=("no agent" "agent, --snaplen 65535 (default)" "agent, --snaplen 128" "agent, --proto udp (all filtered in kernel)")
ARGS=("" "--snaplen 65535" "--snaplen 128" "--proto udp")
declare -A RES
echo "agent-overhead: ${SECS}s iperf3 runs, ${RUNS} rounds, agent output in $OUT" >&2
for round in $(seq "$RUNS"); do
    for i in "${!LABELS[@]}"; do
        # shellcheck disable=SC2086
        v=$(one_run ${ARGS[$i]})
        RES[$i]="${RES[$i]:-} $v"
        echo "  round $round: ${LABELS[$i]}: $v Gbit/s" >&2
    done
done
avg() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.2f" % (sum(v)/len(v)))' $1; }
b=$(avg "${RES[0]}")
printf '%-46s %10s %8s   %s\n' "configuration" "Gbit/s" "ratio" "runs"
for i in "${!LABELS[@]}"; do
    a=$(avg "${RES[$i]}")
    ratio=$(python3 -c "print('%.3f' % ($a/$b if $b else 0))")
    printf '%-46s %10s %8s  %s\n' "${LABELS[$i]}" "$a" "$ratio" "${RES[$i]}"
done
