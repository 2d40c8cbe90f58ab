#!/usr/bin/env bash
# Benchmarks retina-analyze against tcptrace and tshark on three workloads
# (scripts/bench/workloads.py makes them; no network access needed):
#
#   bulk   real Linux TCP between namespaces, 24 bulk flows through 1.5%
#          nftables loss, ~1 M packets (needs root the first time)
#   short  200k short HTTP-like connections, 2.4 M packets
#   flood  a SYN flood: 2 M distinct tuples in 10 s
#
#   scripts/bench.sh [--scale N] [--runs N] [--only bulk|short|flood] [--no-peers]
#
# Prints, per workload and command: the whole process's wall time (median of
# --runs, default 3), packets/s, MB/s and peak RSS (from /usr/bin/time -v),
# for retina-analyze with 1 and 2 threads (--format json to /dev/null, full
# analysis), tcptrace -n -l -r, and tshark -q -z conv,tcp. --scale N makes
# the synthetic workloads N times larger (memory must stay flat).
# Workloads are kept in $BENCH_DIR (default /var/tmp/retina-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=1
RUNS=3
ONLY=""
PEERS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --no-peers) PEERS=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench: unknown argument $1" >&2; exit 2 ;;
    esac
done
DIR=${BENCH_DIR:-/var/tmp/retina-bench}
mkdir -p "$DIR"
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/retina-analyze/target}
cargo build --release -p retina-analyzer >&2
BIN="$CARGO_TARGET_DIR/release/retina-analyze"
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

make_workload() {
    local kind=$1 out=$2
    [ -s "$out" ] && return 0
    case "$kind" in
        bulk) python3 scripts/bench/workloads.py bulk "$out" --flows 24 --mb 55 ;;
        short) python3 scripts/bench/workloads.py short "$out" --flows $((200000 * SCALE)) ;;
        flood) python3 scripts/bench/workloads.py flood "$out" --tuples $((2000000 * SCALE)) ;;
    esac
}

# Runs "$@" RUNS times; prints "median_wall_s peak_rss_kib".
measure() {
    local walls=() rss=0 out
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$TIMES" "$@" >/dev/null 2>/dev/null || true
        out=$(cat "$TIMES")
        local wall kib
        wall=$(echo "$out" | awk -F': ' '/Elapsed \(wall clock\)/ {print $2}')
        kib=$(echo "$out" | awk -F': ' '/Maximum resident set size/ {print $2}')
        # h:mm:ss or m:ss.cc
        wall=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        walls+=("$wall")
        [ "$kib" -gt "$rss" ] && rss=$kib
    done
    local median
    median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$median $rss"
}

printf '%-7s %-34s %9s %12s %9s %10s\n' workload command wall_s packets/s MB/s peak_MiB
for kind in bulk short flood; do
    [ -n "$ONLY" ] && [ "$ONLY" != "$kind" ] && continue
    suffix=""
    [ "$kind" != bulk ] && [ "$SCALE" != 1 ] && suffix="-x$SCALE"
    f="$DIR/$kind$suffix.pcap"
    make_workload "$kind" "$f"
    packets=$(capinfos -M -c "$f" 2>/dev/null | awk -F': *' '/Number of packets/ {print $2}')
    mb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN {printf "%.1f", b / 1e6}')
    declare -a cmds=(
        "retina-analyze --threads 1|$BIN $f --format json -q --threads 1"
        "retina-analyze --threads 2|$BIN $f --format json -q --threads 2"
    )
    if [ "$PEERS" = 1 ]; then
        cmds+=("tcptrace -n -l -r|tcptrace -n -l -r $f")
        [ "$kind" != flood ] && cmds+=("tshark -q -z conv,tcp|tshark -r $f -q -z conv,tcp")
    fi
    for c in "${cmds[@]}"; do
        name=${c%%|*}
        cmd=${c#*|}
        # shellcheck disable=SC2086
        read -r wall rss < <(measure $cmd)
        pps=$(awk -v p="$packets" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? p / w : 0)}')
        mbs=$(awk -v m="$mb" -v w="$wall" 'BEGIN {printf "%.1f", (w > 0 ? m / w : 0)}')
        printf '%-7s %-34s %9.2f %12s %9s %10.0f\n' "$kind" "$name" "$wall" "$pps" "$mbs" "$((rss / 1024))"
    done
    echo "        ($packets packets, $mb MB)"
done
