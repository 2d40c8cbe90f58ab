#!/usr/bin/env python3
"""Capture points ground truth: one lossy path seen at several points.

    sudo python3 scripts/groundtruth/points.py OUTDIR [--scenario NAME ...]

Topology, made FRESH for every scenario (names carry this process's pid):

    client ns ──veth── router ns (forwards) ──veth── server ns
    10.81.1.2     10.81.1.1 | 10.81.2.1       10.81.2.2
    fd81:1::2      fd81:1::1 | fd81:2::1       fd81:2::2

The client sends bulk data to the server; nftables in the router's FORWARD
chain drops about 2% of the client's data packets (10% with offloads, where
the router forwards a few dozen merged packets), with a counter.
Captured at three points:

    OUTDIR/<scenario>.client.pcap   the client's veth (tcpdump -i veth)
    OUTDIR/<scenario>.router.pcap   the router, `tcpdump -i any` (SLL2): each
                                    forwarded packet on both interfaces
    OUTDIR/<scenario>.server.pcap   the server's veth
    OUTDIR/<scenario>.truth.json    the kernel's view: the nftables counter
                                    (packets and bytes dropped between the
                                    router's two interfaces), the client's
                                    TCP_INFO (total_retrans), bytes sent

Scenarios:
    router      IPv4, every offload off: one packet on the wire is one segment
    gso         IPv4, offloads ON (TSO/GSO at the client, GRO at the router):
                each point sees its own packet boundaries
    ipv6        the router scenario over IPv6
    dnat        the client connects to a virtual IP (10.81.9.9:80) that the
                router's nftables DNAT sends to the server (10.81.2.2:5301),
                as kube-proxy does; no drops

Traffic only flows between these namespaces. Everything is removed on exit.
python3 stdlib only; needs root, iproute2, nft, ethtool, tcpdump (>= 4.99).
"""
import argparse
import ctypes
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SCENARIOS = ("router", "gso", "ipv6", "dnat")
PORT = 5301
VIP = "10.81.9.9"
VPORT = 80
BULK = 3_000_000
# ~2% of the client's data packets; with offloads the router sees a few
# dozen merged packets, so a higher rate makes sure some of them die.
PERMILLE = {"gso": 100}
DEFAULT_PERMILLE = 20
SNAPLEN = 128


def sh(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise SystemExit(f"points: {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


class Net:
    def __init__(self, tag, v6):
        pid = os.getpid() % 100000
        self.c, self.r, self.s = (f"rp{pid}{tag}{x}" for x in "crs")
        self.v6 = v6
        # interface names: client side cX/rX1, server side rX2/sX
        self.ic, self.ir1 = f"rp{pid}c", f"rp{pid}r1"
        self.ir2, self.is_ = f"rp{pid}r2", f"rp{pid}s"
        if v6:
            self.cip, self.r1ip, self.r2ip, self.sip = "fd81:1::2", "fd81:1::1", "fd81:2::1", "fd81:2::2"
            self.plen = 64
        else:
            self.cip, self.r1ip, self.r2ip, self.sip = "10.81.1.2", "10.81.1.1", "10.81.2.1", "10.81.2.2"
            self.plen = 24

    def up(self, offloads):
        for ns in (self.c, self.r, self.s):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.ic, "netns", self.c, "type", "veth", "peer", "name", self.ir1, "netns", self.r)
        sh("ip", "link", "add", self.ir2, "netns", self.r, "type", "veth", "peer", "name", self.is_, "netns", self.s)
        fam = "-6" if self.v6 else "-4"
        for ns, dev, ip in ((self.c, self.ic, self.cip), (self.r, self.ir1, self.r1ip),
                            (self.r, self.ir2, self.r2ip), (self.s, self.is_, self.sip)):
            sh("ip", "-n", ns, fam, "addr", "add", f"{ip}/{self.plen}", "dev", dev, "nodad") if self.v6 else \
                sh("ip", "-n", ns, "addr", "add", f"{ip}/{self.plen}", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            # With offloads: the client sends wire-size segments (no TSO/GSO),
            # the router's and the server's veths merge them (GRO) and the
            # router forwards merged packets: each point sees its own packet
            # boundaries, as on a real node with a NIC that does GRO.
            send = "on" if offloads and ns != self.c else "off"
            recv = "on" if offloads and dev != self.ic else "off"
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", send, "gso", send, "gro", recv,
               check=False)
        sh("ip", "-n", self.c, fam, "route", "add", "default", "via", self.r1ip)
        sh("ip", "-n", self.s, fam, "route", "add", "default", "via", self.r2ip)
        key = "net.ipv6.conf.all.forwarding" if self.v6 else "net.ipv4.ip_forward"
        sh("ip", "netns", "exec", self.r, "sysctl", "-qw", f"{key}=1")

    def down(self):
        for ns in (self.c, self.r, self.s):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def nft(ns, text):
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=text)


def nft_counter(ns, comment):
    data = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "ruleset"))
    for item in data.get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("comment") != comment:
            continue
        for e in rule.get("expr", []):
            if "counter" in e:
                return e["counter"]["packets"], e["counter"]["bytes"]
    return 0, 0


class Tcpdump:
    def __init__(self, ns, iface, path):
        self.path = path
        # Immediate mode: libpcap's default ring (TPACKET_V3) hands packets
        # over in blocks, and a stop can come before the last block is read.
        cmd = ["ip", "netns", "exec", ns, "tcpdump", "-n", "-U", "--immediate-mode", "-s", str(SNAPLEN),
               "-B", "131072", "-i", iface, "-w", path]
        if iface == "any":
            cmd[cmd.index("-i"):cmd.index("-i")] = ["-y", "LINUX_SLL2"]
            # ignore this router's own management traffic: only the path
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                break
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self):
        # Until the file stops growing: every packet written before the stop.
        size = -1
        while os.path.getsize(self.path) != size:
            size = os.path.getsize(self.path)
            time.sleep(0.5)
        if self.p.poll() is not None:
            raise SystemExit(f"points: tcpdump for {self.path} exited early ({self.p.returncode}): {self.p.stderr.read()}")
        self.p.send_signal(2)
        _, err = self.p.communicate(timeout=10)
        # "N packets dropped by kernel" must be 0: the test compares counts.
        counts = {}
        for line in err.splitlines():
            for what in ("captured", "received by filter", "dropped by kernel"):
                if line.endswith("packets " + what):
                    counts[what] = int(line.split()[0])
        if counts.get("dropped by kernel", 1) != 0 or counts.get("captured") != counts.get("received by filter"):
            raise SystemExit(f"points: tcpdump on {self.path} did not capture everything: {err}")
        return err


class TcpInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint8) for n in ("state", "ca_state", "retransmits", "probes", "backoff",
                                             "options", "wscale", "flags")] + \
               [(n, ctypes.c_uint32) for n in ("rto", "ato", "snd_mss", "rcv_mss", "unacked", "sacked",
                                              "lost", "retrans", "fackets", "last_data_sent",
                                              "last_ack_sent", "last_data_recv", "last_ack_recv", "pmtu",
                                              "rcv_ssthresh", "rtt", "rttvar", "snd_ssthresh", "snd_cwnd",
                                              "advmss", "reordering", "rcv_rtt", "rcv_space",
                                              "total_retrans")]


def server_code(ip, port):
    return f"""
import socket
fam = socket.AF_INET6 if ':' in {ip!r} else socket.AF_INET
s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(({ip!r}, {port})); s.listen(8)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    n = 0
    try:
        while True:
            b = c.recv(1 << 16)
            if not b: break
            n += len(b)
        c.sendall(b'got %d' % n)
    except ConnectionResetError:
        pass  # the client aborted (mtu.py blackhole)
    c.close()
"""


CLIENT = r"""
import ctypes, json, socket, sys
sys.path.insert(0, sys.argv[4])
from points import TcpInfo
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in ip else socket.AF_INET
c = socket.socket(fam)
c.connect((ip, port))
sport = c.getsockname()[1]
data = bytes((i * 7) % 251 for i in range(65536))
left = n
while left:
    left -= c.send(data[:min(left, len(data))])
c.shutdown(socket.SHUT_WR)
reply = b''
while True:
    b = c.recv(4096)
    if not b: break
    reply += b
ti = TcpInfo()
buf = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, ctypes.sizeof(TcpInfo))
ctypes.memmove(ctypes.addressof(ti), buf, len(buf))
print(json.dumps({"sport": sport, "sent": n, "reply": reply.decode(), "total_retrans": ti.total_retrans,
                  "snd_mss": ti.snd_mss}))
"""


def run(scenario, out, work):
    v6 = scenario == "ipv6"
    offloads = scenario == "gso"
    net = Net(scenario[:2], v6)
    net.down()
    try:
        net.up(offloads)
        if scenario == "dnat":
            nft(net.r, f"""
table ip rp {{
    chain vip {{ type nat hook prerouting priority -100;
        ip daddr {VIP} tcp dport {VPORT} dnat to {net.sip}:{PORT} comment "dnat"
    }}
}}""")
            dst, dport = VIP, VPORT
        else:
            fam = "ip6" if v6 else "ip"
            length = "ip6 length" if v6 else "ip length"
            nft(net.r, f"""
table inet rp {{
    chain pathloss {{ type filter hook forward priority 0;
        {fam} saddr {net.cip} tcp dport {PORT} {length} > 200 numgen random mod 1000 < {PERMILLE.get(scenario, DEFAULT_PERMILLE)} counter drop comment "loss"
    }}
}}""")
            dst, dport = net.sip, PORT
        srv = subprocess.Popen(["ip", "netns", "exec", net.s, "python3", "-c", server_code(net.sip, PORT)],
                               stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        base = os.path.join(out, scenario)
        caps = [Tcpdump(net.c, net.ic, base + ".client.pcap"),
                Tcpdump(net.r, "any", base + ".router.pcap"),
                Tcpdump(net.s, net.is_, base + ".server.pcap")]
        agent = None
        if AGENT and scenario == "router":
            # The capture agent on the router too: both interfaces and the
            # kernel's drops, in one bundle (node "router").
            agent = subprocess.Popen(
                ["ip", "netns", "exec", net.r, AGENT, "-i", net.ir1, "-i", net.ir2,
                 "--bundle", base + ".router-bundle.tar.gz"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 30
            line = ""
            while time.time() < deadline and "capturing on" not in line:
                line = agent.stderr.readline()
                if not line and agent.poll() is not None:
                    raise SystemExit("points: the agent exited early")
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(["ip", "netns", "exec", net.c, "python3", "-c", CLIENT, dst, str(dport),
                            str(BULK), here], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"points: client failed: {r.stderr}")
        client = json.loads(r.stdout)
        for t in caps:
            t.stop()
        if agent:
            agent.send_signal(2)
            _, err = agent.communicate(timeout=60)
            if agent.returncode != 0:
                raise SystemExit(f"points: the agent failed: {err}")
        srv.kill()
        dropped = nft_counter(net.r, "loss") if scenario != "dnat" else (0, 0)
        truth = {
            "scenario": scenario,
            "client": {"ip": net.cip, "port": client["sport"]},
            "server": {"ip": net.sip, "port": PORT},
            "dialed": {"ip": dst, "port": dport},
            "bytes_sent": client["sent"],
            "server_reply": client["reply"],
            "total_retrans": client["total_retrans"],
            "snd_mss": client["snd_mss"],
            "router_forward_drops": {"packets": dropped[0], "bytes": dropped[1]},
            "offloads": offloads,
            "interfaces": {"client": net.ic, "router_in": net.ir1, "router_out": net.ir2, "server": net.is_},
            "snaplen": SNAPLEN,
            "drop_permille": PERMILLE.get(scenario, DEFAULT_PERMILLE) if scenario != "dnat" else 0,
        }
        with open(base + ".truth.json", "w") as f:
            json.dump(truth, f, indent=1, sort_keys=True)
        print(f"points: {scenario}: {json.dumps(truth)}", file=sys.stderr)
    finally:
        net.down()


def complete(path):
    """The capture holds the connection's first and last packets (a
    tcpdump that missed the start of the traffic makes the run useless)."""
    def count(expr):
        r = subprocess.run(["tcpdump", "-nr", path, expr], capture_output=True, text=True)
        return len(r.stdout.splitlines())
    return count("(ip and tcp[tcpflags] & tcp-syn != 0) or (ip6[6] = 6 and ip6[53] & 2 != 0)") >= 2 and \
        count("(ip and tcp[tcpflags] & tcp-fin != 0) or (ip6[6] = 6 and ip6[53] & 1 != 0)") >= 2


AGENT = None


def main():
    global AGENT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("outdir")
    ap.add_argument("--agent", help="also run this retina-capture on the router (router scenario): "
                                    "<scenario>.router-bundle.tar.gz")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS)
    a = ap.parse_args()
    AGENT = a.agent
    if os.geteuid() != 0:
        raise SystemExit("points: must run as root")
    for t in ("ip", "nft", "ethtool", "tcpdump"):
        if not shutil.which(t):
            raise SystemExit(f"points: {t} not installed")
    os.makedirs(a.outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for s in a.scenario or SCENARIOS:
            # A capture that missed the traffic (seen now and then when
            # tcpdump attaches late) is made again.
            for attempt in range(3):
                run(s, a.outdir, work)
                files = [os.path.join(a.outdir, f"{s}.{p}.pcap") for p in ("client", "router", "server")]
                if all(complete(f) for f in files):
                    break
                print(f"points: {s}: a capture missed the connection, again", file=sys.stderr)
            else:
                raise SystemExit(f"points: {s}: captures incomplete three times")


if __name__ == "__main__":
    main()
