#!/usr/bin/env bash
# Regenerates the REAL-traffic captures in testdata/ (see testdata/README.md).
#
#   sudo scripts/make-testdata.sh
#
# Creates two network namespaces (rtna-a, rtna-b) joined by a veth pair,
# runs Linux TCP/UDP/ICMP traffic between them with scripts/traffic.py and
# ping, and captures it with tcpdump. Every namespace/interface is created
# fresh for each capture and removed again (also on error, via trap).
# Traffic only ever flows between these namespaces (10.99.x.x, fd00:99::x).
#
# Requirements: root, iproute2, ethtool, tcpdump (>= 4.99 for -y LINUX_SLL2),
# editcap + capinfos (wireshark-common), python3, gzip; ping (iputils-ping) is
# used when present, else traffic.py's raw-socket pinger.
# Kernel: veth, vxlan.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO/testdata"
TRAFFIC="$REPO/scripts/traffic.py"
NS_A=rtna-a
NS_B=rtna-b
WORK=""
BG_PIDS=()

die() { echo "make-testdata: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces + tcpdump)"
for t in ip ethtool tcpdump editcap capinfos python3 gzip; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
if command -v ping >/dev/null; then HAVE_PING=1; else HAVE_PING=0; fi

del_ns() {
    local ns
    for ns in "$NS_A" "$NS_B"; do
        if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
            ip netns del "$ns"
        fi
    done
}

cleanup() {
    local p
    for p in "${BG_PIDS[@]:-}"; do
        [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
    done
    for p in "${BG_PIDS[@]:-}"; do
        [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
    done
    BG_PIDS=()
    del_ns
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORK=$(mktemp -d /tmp/rtna-testdata.XXXXXX)

forget_pid() {  # drop one exact PID from BG_PIDS
    local keep=() p
    for p in "${BG_PIDS[@]:-}"; do
        [[ -n "$p" && "$p" != "$1" ]] && keep+=("$p")
    done
    BG_PIDS=("${keep[@]:-}")
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# setup_pair v4|v6
#   rtna-a: veth0 02:99:00:00:00:01 10.99.0.1/24 (fd00:99::1/64 when v6)
#   rtna-b: veth1 02:99:00:00:00:02 10.99.0.2/24 (fd00:99::2/64 when v6)
setup_pair() {
    local mode=$1 ns
    del_ns
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    for ns in "$NS_A" "$NS_B"; do
        if [[ $mode == v6 ]]; then
            nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
                net.ipv6.conf.default.accept_dad=0 \
                net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
                net.ipv6.conf.default.router_solicitations=0
        else
            # keep IPv4 captures free of IPv6 ND/MLD noise
            nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                net.ipv6.conf.default.disable_ipv6=1
        fi
        ip -n "$ns" link set lo up
    done
    ip link add veth0 netns "$NS_A" address 02:99:00:00:00:01 type veth \
        peer name veth1 netns "$NS_B" address 02:99:00:00:00:02
    # no offloads: every captured packet is a real on-the-wire segment with a
    # valid checksum (tx off also disables tso; gso/gro handled explicitly)
    nsx "$NS_A" ethtool -K veth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || \
        nsx "$NS_A" ethtool -K veth0 tso off gso off gro off
    nsx "$NS_B" ethtool -K veth1 tx off rx off tso off gso off gro off >/dev/null 2>&1 || \
        nsx "$NS_B" ethtool -K veth1 tso off gso off gro off
    ip -n "$NS_A" addr add 10.99.0.1/24 dev veth0
    ip -n "$NS_B" addr add 10.99.0.2/24 dev veth1
    if [[ $mode == v6 ]]; then
        ip -n "$NS_A" addr add fd00:99::1/64 dev veth0 nodad
        ip -n "$NS_B" addr add fd00:99::2/64 dev veth1 nodad
    fi
    ip -n "$NS_A" link set veth0 up
    ip -n "$NS_B" link set veth1 up
    if [[ $mode == v6 ]]; then
        # let link-local addresses settle and the unsolicited MLD reports pass
        sleep 3
    else
        sleep 0.5
    fi
}

# setup_vxlan: VNI 42, UDP 4789, underlay = veth pair from setup_pair v4
#   rtna-a: vxlan42 02:99:01:00:00:01 10.99.1.1/24
#   rtna-b: vxlan42 02:99:01:00:00:02 10.99.1.2/24
setup_vxlan() {
    ip -n "$NS_A" link add vxlan42 address 02:99:01:00:00:01 type vxlan id 42 \
        dstport 4789 local 10.99.0.1 remote 10.99.0.2 dev veth0
    ip -n "$NS_B" link add vxlan42 address 02:99:01:00:00:02 type vxlan id 42 \
        dstport 4789 local 10.99.0.2 remote 10.99.0.1 dev veth1
    nsx "$NS_A" ethtool -K vxlan42 tx off tso off gso off gro off >/dev/null 2>&1 || true
    nsx "$NS_B" ethtool -K vxlan42 tx off tso off gso off gro off >/dev/null 2>&1 || true
    ip -n "$NS_A" addr add 10.99.1.1/24 dev vxlan42
    ip -n "$NS_B" addr add 10.99.1.2/24 dev vxlan42
    ip -n "$NS_A" link set vxlan42 up
    ip -n "$NS_B" link set vxlan42 up
    sleep 0.5
}

CAP_PID=""
# start_capture FILE tcpdump-args... (runs in rtna-a)
start_capture() {
    local file=$1; shift
    rm -f "$file" "$WORK/tcpdump.log"
    ip netns exec "$NS_A" tcpdump -n -U --immediate-mode -Z root -s 262144 -w "$file" "$@" \
        2>"$WORK/tcpdump.log" &
    CAP_PID=$!
    BG_PIDS+=("$CAP_PID")
    local i
    for i in $(seq 100); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && break
        kill -0 "$CAP_PID" 2>/dev/null || { cat "$WORK/tcpdump.log" >&2; die "tcpdump failed"; }
        sleep 0.1
    done
    grep -q "listening on" "$WORK/tcpdump.log" || die "tcpdump did not start"
    sleep 0.3
}

stop_capture() {
    # immediate mode + a pause longer than libpcap's TPACKET_V3 block timeout,
    # so no packet is left in an unretired ring block at SIGINT
    sleep 1.5
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    sed 's/^/   tcpdump: /' "$WORK/tcpdump.log" >&2
    forget_pid "$CAP_PID"
    CAP_PID=""
}

SRV_PID=""
start_server() {   # start_server ADDR (runs in rtna-b)
    rm -f "$WORK/ready"
    ip netns exec "$NS_B" python3 "$TRAFFIC" server --addr "$1" --ready "$WORK/ready" &
    SRV_PID=$!
    BG_PIDS+=("$SRV_PID")
    local i
    for i in $(seq 100); do
        [[ -f "$WORK/ready" ]] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || die "server failed"
        sleep 0.1
    done
    die "server did not start"
}

stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    forget_pid "$SRV_PID"
    SRV_PID=""
}

client() {  # client ADDR PROFILE
    ip netns exec "$NS_A" python3 "$TRAFFIC" client --addr "$1" --profile "$2"
}

pinger() {  # pinger ADDR COUNT SIZE
    local addr=$1 count=$2 size=$3 fam=-4
    [[ $addr == *:* ]] && fam=-6
    if [[ $HAVE_PING == 1 ]]; then
        local m=()
        [[ $fam == -4 ]] && m=(-M dont)
        nsx "$NS_A" ping "$fam" -n -q -c "$count" -i 0.2 -W 2 -s "$size" "${m[@]}" "$addr" >&2
    else
        nsx "$NS_A" python3 "$TRAFFIC" ping --addr "$addr" --count "$count" --size "$size"
    fi
    sleep 0.1
}

install_out() {  # install_out TMPFILE NAME
    install -m 0644 "$1" "$OUT/$2"
    log "wrote testdata/$2"
}

mkdir -p "$OUT"

# ---------------------------------------------------------------- IPv4 mix
log "tcp-udp-ipv4.pcap (Ethernet, usec, IPv4 TCP/UDP/ICMP + fragments)"
setup_pair v4
start_server 10.99.0.2
start_capture "$WORK/v4.pcap" -i veth0
client 10.99.0.2 full
pinger 10.99.0.2 3 56
pinger 10.99.0.2 2 3000
stop_capture
stop_server
install_out "$WORK/v4.pcap" tcp-udp-ipv4.pcap

# ---------------------------------------------------------------- IPv6 mix
log "ipv6.pcapng (Ethernet, nsec, IPv6 TCP/UDP/ICMPv6 + fragments, pcapng)"
setup_pair v6
start_server fd00:99::2
start_capture "$WORK/v6.pcap" -i veth0 --time-stamp-precision=nano
client fd00:99::2 full
pinger fd00:99::2 3 56
pinger fd00:99::2 2 3000
stop_capture
stop_server
editcap -F pcapng "$WORK/v6.pcap" "$WORK/v6.pcapng"
install_out "$WORK/v6.pcapng" ipv6.pcapng

# ---------------------------------------------------------------- VXLAN
log "vxlan.pcap (underlay capture of VXLAN VNI 42 / UDP 4789)"
setup_pair v4
setup_vxlan
start_server 10.99.1.2
start_capture "$WORK/vxlan.pcap" -i veth0
client 10.99.1.2 small
pinger 10.99.1.2 3 56
stop_capture
stop_server
install_out "$WORK/vxlan.pcap" vxlan.pcap

# ---------------------------------------------------------------- -i any
for dlt in LINUX_SLL LINUX_SLL2; do
    name=any-sll.pcap
    [[ $dlt == LINUX_SLL2 ]] && name=any-sll2.pcap
    log "$name (tcpdump -i any -y $dlt)"
    setup_pair v4
    start_server 10.99.0.2
    start_capture "$WORK/$name" -i any -y "$dlt"
    client 10.99.0.2 small
    stop_capture
    stop_server
    install_out "$WORK/$name" "$name"
done

# ---------------------------------------------------------------- nanosecond
log "nanosecond.pcap (tcpdump --time-stamp-precision=nano)"
setup_pair v4
start_server 10.99.0.2
start_capture "$WORK/nano.pcap" -i veth0 --time-stamp-precision=nano
client 10.99.0.2 tiny
stop_capture
stop_server
install_out "$WORK/nano.pcap" nanosecond.pcap

del_ns

# ---------------------------------------------------------------- gzip
# -n: no name/mtime in the gzip header, so the .gz is a pure function of input
log "gzip variants"
gzip -9 -n -c "$OUT/tcp-udp-ipv4.pcap" >"$OUT/tcp-udp-ipv4.pcap.gz"
gzip -9 -n -c "$OUT/ipv6.pcapng" >"$OUT/ipv6.pcapng.gz"
# gzip data behind a .pcap name: format must be detected by magic bytes
gzip -9 -n -c "$OUT/nanosecond.pcap" >"$OUT/gzip-misnamed.pcap"
chmod 0644 "$OUT"/*.gz "$OUT/gzip-misnamed.pcap"

# ---------------------------------------------------------------- summary
echo
echo "Summary (capinfos):"
for f in tcp-udp-ipv4.pcap ipv6.pcapng vxlan.pcap any-sll.pcap any-sll2.pcap \
         nanosecond.pcap tcp-udp-ipv4.pcap.gz ipv6.pcapng.gz gzip-misnamed.pcap; do
    capinfos -t -E -c -s -l -T -r "$OUT/$f" 2>/dev/null | sed 's/^/  /' || \
        echo "  $f: capinfos failed"
done
[[ $HAVE_PING == 1 ]] || echo "note: ping not installed; ICMP echo came from traffic.py's raw-socket pinger"
du -sh "$OUT"
