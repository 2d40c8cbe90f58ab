#!/usr/bin/env python3
"""Path-MTU ground truth: a pod with MTU 1500 behind a 1450-byte VXLAN overlay.

    sudo python3 scripts/groundtruth/mtu.py OUTDIR [blackhole]

Topology, made FRESH (names carry this process's pid):

    client ns ──veth── node1 ns ══ VXLAN (id 42, UDP 8472) ══ node2 ns ──veth── server ns
    10.83.1.2    10.83.1.1 | vx 10.83.9.1    (underlay veth    vx 10.83.9.2 | 10.83.2.1   10.83.2.2
    (MTU 1500)            (vx MTU 1450)       10.83.0.1/.2)   (vx MTU 1450)            (MTU 1500)

Both "pods" have the usual MTU 1500, so the handshake agrees on an MSS of
1460 and nothing on either end knows of the overlay. The client sends 1 MB
to the server. node1 routes it into its VXLAN device, whose MTU is
1450 (1500 minus the 50 bytes VXLAN adds), so every full-size segment with
DF set dies there and node1 answers with ICMP "fragmentation needed, MTU
1450"; the client lowers its path MTU and sends the data again in smaller
segments. Offloads are off on the client and on node1's pod-side veth, so
the capture sees wire-size packets.

With `blackhole`, node1 also drops the ICMP errors it sends (nftables, its
OUTPUT chain, counted): the client never learns the path MTU, its first
full-size segment is sent again and again, the transfer stalls after the
handshake, and the client aborts it after 6 s (a reset).

    OUTDIR/mtu.pcap         the client's veth (tcpdump -i veth, snaplen 128);
                            mtu-blackhole.pcap with `blackhole`
    OUTDIR/mtu.truth.json   (mtu-blackhole.truth.json) the kernel's view: the ICMP destination
                            unreachables node1 sent (its /proc/net/snmp
                            OutDestUnreachs), the client's TCP_INFO
                            (total_retrans, pmtu, snd_mss), the MTUs

Traffic only flows between these namespaces. Everything is removed on exit.
python3 stdlib only; needs root, iproute2, ethtool, tcpdump, the vxlan module.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from points import Tcpdump, nft_counter, sh, server_code  # noqa: E402

PORT = 5302
BULK = 1_000_000
POD_MTU = 1500
VXLAN_MTU = 1450
CLIENT_IP, NODE1_POD_IP = "10.83.1.2", "10.83.1.1"
UNDER1, UNDER2 = "10.83.0.1", "10.83.0.2"
VX1, VX2 = "10.83.9.1", "10.83.9.2"
NODE2_POD_IP, SERVER_IP = "10.83.2.1", "10.83.2.2"

CLIENT = r"""
import ctypes, json, socket, sys
sys.path.insert(0, sys.argv[4])
from points import TcpInfo
import struct, time
ip, port, n, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[5])
c = socket.socket()
c.connect((ip, port))
sport = c.getsockname()[1]
data = bytes((i * 7) % 251 for i in range(65536))
left = n
reply = b''
aborted = False
end = time.time() + deadline
c.settimeout(0.5)
try:
    while left:
        if time.time() > end:
            raise socket.timeout()
        try:
            left -= c.send(data[:min(left, len(data))])
        except socket.timeout:
            pass
    c.shutdown(socket.SHUT_WR)
    while True:
        try:
            b = c.recv(4096)
        except socket.timeout:
            if time.time() > end:
                raise
            continue
        if not b: break
        reply += b
except socket.timeout:
    aborted = True
ti = TcpInfo()
buf = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, ctypes.sizeof(TcpInfo))
ctypes.memmove(ctypes.addressof(ti), buf, len(buf))
print(json.dumps({"sport": sport, "sent": n - left, "reply": reply.decode(), "total_retrans": ti.total_retrans,
                  "pmtu": ti.pmtu, "snd_mss": ti.snd_mss, "aborted": aborted}))
if aborted:
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
"""


def icmp_out_dest_unreachs(ns):
    lines = sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").splitlines()
    heads = [l.split() for l in lines if l.startswith("Icmp:")]
    names, values = heads[0], heads[1]
    return int(values[names.index("OutDestUnreachs")])


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["blackhole"]):
        raise SystemExit(__doc__)
    out = sys.argv[1]
    blackhole = sys.argv[2:] == ["blackhole"]
    name = "mtu-blackhole" if blackhole else "mtu"
    if os.geteuid() != 0:
        raise SystemExit("mtu: must run as root")
    for t in ("ip", "ethtool", "tcpdump"):
        if not shutil.which(t):
            raise SystemExit(f"mtu: {t} not installed")
    os.makedirs(out, exist_ok=True)
    pid = os.getpid() % 100000
    c, n1, n2, sv = (f"rm{pid}{x}" for x in ("c", "a", "b", "s"))
    ic, i1, u1, u2 = f"rm{pid}c", f"rm{pid}p", f"rm{pid}u1", f"rm{pid}u2"
    i2, isv = f"rm{pid}q", f"rm{pid}s"
    try:
        for ns in (c, n1, n2, sv):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", ic, "netns", c, "type", "veth", "peer", "name", i1, "netns", n1)
        sh("ip", "link", "add", u1, "netns", n1, "type", "veth", "peer", "name", u2, "netns", n2)
        sh("ip", "link", "add", i2, "netns", n2, "type", "veth", "peer", "name", isv, "netns", sv)
        for ns, dev, ip in ((c, ic, CLIENT_IP), (n1, i1, NODE1_POD_IP), (n1, u1, UNDER1), (n2, u2, UNDER2),
                            (n2, i2, NODE2_POD_IP), (sv, isv, SERVER_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "mtu", str(POD_MTU), "up")
        for ns, dev in ((c, ic), (n1, i1)):
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
               check=False)
        for ns, local, remote, vip in ((n1, UNDER1, UNDER2, VX1), (n2, UNDER2, UNDER1, VX2)):
            sh("ip", "-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "local", local,
               "remote", remote, "dstport", "8472")
            sh("ip", "-n", ns, "link", "set", "vx0", "mtu", str(VXLAN_MTU), "up")
            sh("ip", "-n", ns, "addr", "add", f"{vip}/24", "dev", "vx0")
        sh("ip", "-n", c, "route", "add", "default", "via", NODE1_POD_IP)
        sh("ip", "-n", sv, "route", "add", "default", "via", NODE2_POD_IP)
        sh("ip", "-n", n1, "route", "add", "10.83.2.0/24", "via", VX2, "dev", "vx0")
        sh("ip", "-n", n2, "route", "add", "10.83.1.0/24", "via", VX1, "dev", "vx0")
        for ns in (n1, n2):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        if blackhole:
            sh("ip", "netns", "exec", n1, "nft", "-f", "-", input="""
table inet bh {
    chain out { type filter hook output priority 0;
        icmp type destination-unreachable counter drop comment "icmp"
    }
}""")
        srv = subprocess.Popen(["ip", "netns", "exec", sv, "python3", "-c", server_code(SERVER_IP, PORT)],
                               stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        pcap = os.path.join(out, f"{name}.pcap")
        cap = Tcpdump(c, ic, pcap)
        before = icmp_out_dest_unreachs(n1)
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(["ip", "netns", "exec", c, "python3", "-c", CLIENT, SERVER_IP, str(PORT), str(BULK),
                            here, "6" if blackhole else "60"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"mtu: client failed: {r.stderr}")
        client = json.loads(r.stdout)
        cap.stop()
        sent = icmp_out_dest_unreachs(n1) - before
        srv.kill()
        filtered = nft_counter(n1, "icmp") if blackhole else (0, 0)
        truth = {
            "client": {"ip": CLIENT_IP, "port": client["sport"]},
            "server": {"ip": SERVER_IP, "port": PORT},
            "reporter": NODE1_POD_IP,
            "pod_mtu": POD_MTU,
            "path_mtu": VXLAN_MTU,
            "node_icmp_dest_unreachs_sent": sent,
            "bytes_sent": client["sent"],
            "server_reply": client["reply"],
            "total_retrans": client["total_retrans"],
            "client_pmtu": client["pmtu"],
            "client_snd_mss": client["snd_mss"],
            "client_aborted": client["aborted"],
            "icmp_filtered": filtered[0],
        }
        with open(os.path.join(out, f"{name}.truth.json"), "w") as f:
            json.dump(truth, f, indent=1, sort_keys=True)
        print(f"mtu: {json.dumps(truth)}", file=sys.stderr)
    finally:
        for ns in (c, n1, n2, sv):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    main()
