#!/usr/bin/env bash
# Makes testdata/bundle/node-b.tar.gz: a real capture-agent bundle of
# traffic between two network namespaces, with kernel drops of several
# kinds, for the drop findings and the README's node-engineer journey.
#
#   sudo scripts/make-bundle.sh [path/to/retina-capture]
#
# rdb-a (10.97.0.1) talks to rdb-b (10.97.0.2) over a veth pair; the agent
# runs in rdb-b on its veth with --bundle. In rdb-b:
#   - nftables drops every SYN to TCP 5212: NETFILTER_DROP on a connection
#     that never gets an answer (the client retries its SYN);
#   - nftables drops 2% of the data segments to TCP 5211 (counted):
#     NETFILTER_DROP on a bulk transfer that recovers by retransmitting;
#   - nothing listens on UDP 5399: NO_SOCKET for every datagram;
#   - connections closed with unread data: QUEUE_PURGE-like normal frees.
# Requirements: root, iproute2, nft, ethtool, python3, a kernel with BPF+BTF.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=${1:-$REPO/target/release/retina-capture}
OUT="$REPO/testdata/bundle/node-b.tar.gz"
NS_A=rdb-a
NS_B=rdb-b
PIDS=()

die() { echo "make-bundle: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ -x $AGENT ]] || die "no agent at $AGENT (cargo build --release -p retina-capture, or give its path)"
for t in ip nft ethtool python3; do command -v "$t" >/dev/null || die "missing tool: $t"; done

cleanup() {
    for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
    for ns in $NS_A $NS_B; do ip netns del $ns 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup

ip netns add $NS_A
ip netns add $NS_B
ip link add rdb0 type veth peer name rdb1
ip link set rdb0 netns $NS_A
ip link set rdb1 netns $NS_B
ip -n $NS_A addr add 10.97.0.1/24 dev rdb0
ip -n $NS_B addr add 10.97.0.2/24 dev rdb1
for ns in $NS_A $NS_B; do ip -n $ns link set lo up; done
ip -n $NS_A link set rdb0 up
ip -n $NS_B link set rdb1 up
# Segment counts matter: one packet on the wire is one segment.
ip netns exec $NS_A ethtool -K rdb0 tso off gso off gro off >/dev/null
ip netns exec $NS_B ethtool -K rdb1 tso off gso off gro off >/dev/null

ip netns exec $NS_B nft -f - <<'NFT'
table inet rdb {
    chain input {
        type filter hook input priority 0;
        tcp dport 5212 tcp flags syn counter drop
        tcp dport 5211 meta length > 200 numgen random mod 1000 < 20 counter drop
    }
}
NFT

ip netns exec $NS_B python3 -u - <<'PY' &
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.97.0.2", 5211)); s.listen(16)
def serve(c):
    total = 0
    while True:
        b = c.recv(65536)
        if not b: break
        total += len(b)
    c.sendall(b"ok %d" % total); c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
PIDS+=($!)
sleep 0.5

"$AGENT" --version >/dev/null
ip netns exec $NS_B "$AGENT" -i rdb1 --duration 8 --bundle "$OUT.tmp.tar.gz" &
AGENT_PID=$!
sleep 2

ip netns exec $NS_A python3 - <<'PY'
import socket, time
srv = "10.97.0.2"
# Bulk transfers through 2% loss: the sender retransmits.
for i in range(3):
    c = socket.create_connection((srv, 5211))
    c.sendall(b"d" * 400_000)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()
# A connection attempt nftables drops: SYN, then retries, no answer.
b = socket.socket(); b.settimeout(3.5)
try:
    b.connect((srv, 5212))
except OSError:
    pass
b.close()
# Datagrams to a closed UDP port.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    u.sendto(b"q" * 64, (srv, 5399))
    time.sleep(0.01)
PY
wait $AGENT_PID
ip netns exec $NS_B nft list ruleset | grep counter >&2
mv "$OUT.tmp.tar.gz" "$OUT"
ls -l "$OUT"
