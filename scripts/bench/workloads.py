#!/usr/bin/env python3
"""Benchmark workloads for retina-analyze (scripts/bench.sh runs them).

    python3 scripts/bench/workloads.py bulk  OUT.pcap [--flows 24] [--mb 60]   (root)
    python3 scripts/bench/workloads.py short OUT.pcap [--flows 200000]
    python3 scripts/bench/workloads.py flood OUT.pcap [--tuples 2000000]

bulk   real Linux TCP between two network namespaces: parallel bulk
       transfers through 1.5% random loss (nftables), captured by tcpdump
       with a 96-byte snap length (a real capture with loss, ~1 M packets).
short  synthetic: many short HTTP-like connections (handshake, a request,
       a response of several segments, FIN both ways), a few thousand open
       at once, ~12 packets and ~5 kB each.
flood  synthetic: a SYN flood, every SYN from another source address and
       port, to one server, over 10 s (scaled with --tuples).

Synthetic captures are valid Ethernet/IPv4/TCP with consistent sequence
numbers, checksums left zero (like offloaded captures). python3 stdlib only.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time

PCAP_HDR = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)  # ns, Ethernet
ETH = bytes.fromhex("020000000002" "020000000001" "0800")
ETH_R = bytes.fromhex("020000000001" "020000000002" "0800")


def ip4(a):
    return struct.pack("!I", a)


class Writer:
    """Buffers pcap records and writes them in large chunks."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(PCAP_HDR)
        self.buf = []
        self.n = 0

    def packet(self, ts_ns, frame, orig_len=None):
        sec, ns = divmod(ts_ns, 1_000_000_000)
        self.buf.append(struct.pack("<IIII", sec, ns, len(frame), orig_len or len(frame)))
        self.buf.append(frame)
        self.n += 1
        if len(self.buf) > 20000:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.buf))
        self.buf = []

    def close(self):
        self.flush()
        self.f.close()


def tcp_frame(reverse, src, dst, sport, dport, seq, ack, flags, payload_len, ip_id, win=502):
    """Ethernet + IPv4 + TCP (20-byte header, no options) with `payload_len`
    zero bytes of payload."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, win, 0, 0)
    total = 20 + 20 + payload_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id & 0xFFFF, 0x4000, 64, 6, 0, ip4(src), ip4(dst))
    return (ETH_R if reverse else ETH) + ip + tcp + bytes(payload_len)


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def short(path, flows, seed=1):
    """HTTP-like connections: 3-way handshake, a 300-byte request, a
    response of 3 full segments and a tail, FIN both ways: 12 packets."""
    rnd = random.Random(seed)
    w = Writer(path)
    server = 0x0A640001  # 10.100.0.1
    t0 = 1_700_000_000_000_000_000
    # A new connection every 50 µs; each lasts ~3 ms: ~60 open at once.
    events = []
    step = 50_000
    for i in range(flows):
        client = 0x0A650000 + (i % 60000) + 1
        sport = 1024 + (i // 60000) * 7 + (i % 60000) % 30000
        start = t0 + i * step
        isn_c = rnd.getrandbits(32)
        isn_s = rnd.getrandbits(32)
        rtt = 200_000 + rnd.randrange(100_000)
        think = 1_000_000 + rnd.randrange(2_000_000)
        c, s = isn_c + 1, isn_s + 1
        pk = []
        pk.append((start, False, SYN, isn_c, 0, 0))
        pk.append((start + rtt // 2, True, SYN | ACK, isn_s, c, 0))
        pk.append((start + rtt, False, ACK, c, s, 0))
        pk.append((start + rtt + 10_000, False, PSH | ACK, c, s, 300))
        c += 300
        tr = start + rtt + 10_000 + rtt // 2 + think
        for k in range(3):
            pk.append((tr + k * 2_000, True, ACK, s, c, 1448))
            s += 1448
        pk.append((tr + 6_000, True, PSH | ACK, s, c, 500))
        s += 500
        pk.append((tr + 6_000 + rtt // 2, False, ACK, c, s, 0))
        pk.append((tr + 7_000 + rtt // 2, False, FIN | ACK, c, s, 0))
        pk.append((tr + 7_000 + rtt, True, FIN | ACK, s, c + 1, 0))
        pk.append((tr + 7_000 + rtt + rtt // 2, False, ACK, c + 1, s + 1, 0))
        for j, (ts, rev, fl, seq, ack, ln) in enumerate(pk):
            events.append((ts, i, j, rev, fl, seq, ack, ln, client, sport))
        if len(events) > 400_000:
            events.sort()
            cutoff = start  # packets before the newest connection's start are final
            keep = [e for e in events if e[0] >= cutoff]
            for e in events:
                if e[0] < cutoff:
                    emit(w, e, server)
            events = keep
    events.sort()
    for e in events:
        emit(w, e, server)
    w.close()
    return w.n


def emit(w, e, server):
    ts, i, j, rev, fl, seq, ack, ln, client, sport = e
    if rev:
        f = tcp_frame(True, server, client, 80, sport, seq, ack, fl, ln, (i * 13 + j) & 0xFFFF)
    else:
        f = tcp_frame(False, client, server, sport, 80, seq, ack, fl, ln, (i * 11 + j) & 0xFFFF)
    w.packet(ts, f)


def flood(path, tuples, seed=2):
    rnd = random.Random(seed)
    w = Writer(path)
    server = 0x0A640001
    t0 = 1_700_000_000_000_000_000
    step = 10_000_000_000 // max(tuples, 1) * (tuples // 2_000_000 or 1)
    for i in range(tuples):
        src = 0x0B000000 + rnd.getrandbits(24)
        sport = 1024 + rnd.randrange(64000)
        f = tcp_frame(False, src, server, sport, 443, rnd.getrandbits(32), 0, SYN, 0, rnd.getrandbits(16), 64240)
        w.packet(t0 + i * step, f)
    w.close()
    return w.n


def sh(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise SystemExit(f"workloads: {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def bulk(path, flows, mb):
    """Real traffic: `flows` parallel transfers of `mb` MB each through 1.5% loss."""
    if os.geteuid() != 0:
        raise SystemExit("workloads: bulk needs root (network namespaces)")
    pid = os.getpid() % 100000
    a, b = f"rbk{pid}a", f"rbk{pid}b"
    ia, ib = f"rbk{pid}x", f"rbk{pid}y"

    def cleanup():
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    cleanup()
    procs = []
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b)
        sh("ip", "-n", a, "addr", "add", "10.96.0.1/24", "dev", ia)
        sh("ip", "-n", b, "addr", "add", "10.96.0.2/24", "dev", ib)
        for ns, dev in ((a, ia), (b, ib)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
        # A token bucket keeps the capture able to follow (no tcpdump drops).
        sh("ip", "netns", "exec", a, "tc", "qdisc", "add", "dev", ia, "root", "tbf",
           "rate", "1500mbit", "burst", "256kb", "latency", "50ms")
        sh("ip", "netns", "exec", b, "nft", "-f", "-", input="""
table inet bench {
    chain input {
        type filter hook input priority 0;
        tcp dport 5001 meta length > 200 numgen random mod 1000 < 15 counter drop
    }
}
""")
        server = subprocess.Popen(["ip", "netns", "exec", b, "python3", "-c", """
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.96.0.2", 5001)); s.listen(64)
print("ready", flush=True)
def sink(c):
    while c.recv(1 << 20):
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=sink, args=(c,), daemon=True).start()
"""], stdout=subprocess.PIPE, text=True)
        procs.append(server)
        server.stdout.readline()
        tcpdump = subprocess.Popen(["ip", "netns", "exec", a, "tcpdump", "-n", "-s", "96", "-B", "524288",
                                    "--immediate-mode", "-i", ia, "-w", path],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(tcpdump)
        time.sleep(1.5)
        client = subprocess.run(["ip", "netns", "exec", a, "python3", "-c", f"""
import socket, threading
data = bytes(1 << 20)
def one():
    c = socket.create_connection(("10.96.0.2", 5001))
    for _ in range({mb}):
        c.sendall(data)
    c.close()
ts = [threading.Thread(target=one) for _ in range({flows})]
[t.start() for t in ts]; [t.join() for t in ts]
"""], capture_output=True, text=True, timeout=900)
        if client.returncode != 0:
            raise SystemExit(f"workloads: client failed: {client.stderr}")
        time.sleep(1.5)
        tcpdump.send_signal(2)
        _, err = tcpdump.communicate(timeout=60)
        print(err.strip(), file=sys.stderr)
        counter = json.loads(sh("ip", "netns", "exec", b, "nft", "-j", "list", "ruleset"))
        print(json.dumps(counter)[:0], end="")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("kind", choices=("bulk", "short", "flood"))
    ap.add_argument("out")
    ap.add_argument("--flows", type=int)
    ap.add_argument("--mb", type=int, default=60)
    ap.add_argument("--tuples", type=int, default=2_000_000)
    a = ap.parse_args()
    t = time.time()
    if a.kind == "bulk":
        for tool in ("ip", "nft", "tcpdump", "ethtool", "tc"):
            if not shutil.which(tool):
                raise SystemExit(f"workloads: {tool} not installed")
        bulk(a.out, a.flows or 24, a.mb)
    elif a.kind == "short":
        n = short(a.out, a.flows or 200_000)
        print(f"workloads: {n} packets", file=sys.stderr)
    else:
        n = flood(a.out, a.tuples)
        print(f"workloads: {n} packets", file=sys.stderr)
    print(f"workloads: {a.kind} written to {a.out} in {time.time() - t:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
