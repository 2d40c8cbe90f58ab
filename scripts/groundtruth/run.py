#!/usr/bin/env python3
"""Kernel ground truth for retina-analyze's TCP and DNS numbers.

    sudo python3 scripts/groundtruth/run.py OUTDIR [--scenario NAME ...]
    python3 scripts/groundtruth/run.py --check     # can this machine run it?

For every scenario (loss, think, states, dns, backlog) this script creates
two FRESH network namespaces joined by a veth pair (names carry this
process's pid, so parallel runs cannot clash), turns every offload off,
captures on the CLIENT (sender) side with tcpdump and runs real Linux
traffic between the two namespaces. It then writes

    OUTDIR/<scenario>.pcap         the capture (client veth, snaplen 256)
    OUTDIR/<scenario>.truth.json   what the KERNEL and the applications say

and, for `loss` only, OUTDIR/loss.server.pcap (the same traffic seen where
it arrives, before nftables), OUTDIR/loss.dropped.pcap (NFLOG copy of
exactly the packets nftables dropped) and OUTDIR/loss.receiver.pcap (the
server capture minus exactly the dropped frames: what TCP at the server
received, where a lost segment is a hole filled by its retransmission).

Sources of truth recorded in truth.json:
  * the applications: bytes written/read, request/response turns, DNS
    queries and what the server did with each (delay, rcode, no answer);
  * getsockopt(TCP_INFO) of every client (and server) socket before close;
  * /proc/net/netstat + /proc/net/snmp deltas inside each namespace;
  * the nftables drop counter (nft -j list ruleset);
  * kernel tracepoints tcp:tcp_retransmit_skb / tcp_cong_state_set /
    tcp_send_reset / tcp_receive_reset (a private tracefs instance), which
    give every retransmission with the congestion state the socket was in
    (Loss = RTO recovery, Recovery = fast retransmit, Open/Disorder = TLP);
  * "wire": facts computed by this script's own pcap reader from the
    capture (handshake timestamps, data segments sent more than once, ...),
    cross-checked against tshark and tcptrace when they are installed.

Traffic only ever flows between the namespaces this script creates
(10.98.0.1 <-> 10.98.0.2). Namespaces, the tracefs instance and every
helper process are removed again on exit, error or Ctrl-C (and those of a
killed run at the next start). Runs are serialized with a lock file
(tracepoints are global). See scripts/groundtruth/README.md.

python3 stdlib only. Must run as root.
"""
import argparse
import ctypes
import errno
import fcntl
import json
import os
import platform
import queue
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.abspath(__file__)
SCENARIOS = ("loss", "think", "states", "dns", "backlog")
SCHEMA = 1

CLIENT_IP = "10.98.0.1"
SERVER_IP = "10.98.0.2"
PREFIX = 24

# ---------------------------------------------------------------- scenario constants
LOSS_PORT = 5001
LOSS_SPORTS = (41001, 41002, 41003)
LOSS_PERMILLE = 20                      # nft: drop ~2% of data packets to LOSS_PORT
LOSS_NFLOG_GROUP = 5
# Mechanism connections -> MECH_PORT (no random drops there), one at a time
# after the three random-loss ones. 41004 and 41005 send MECH_BULK_BYTES, and
# once all of that is ACKed, a tail of two full segments in one write: A
# (all 0xDD) then B (all 0xEE). nftables recognizes them by the first 4
# payload bytes and drops A once and B TAIL_DROPS[port] times. Nothing
# arrives, so no ACK comes, and with two segments in flight the client's
# loss probe timer (about 2 x SRTT, far below the 200 ms minimum RTO) fires
# and re-sends the LAST segment, B: a tail loss probe. On 41004 the probe
# arrives, the receiver SACKs it, and A is fast-retransmitted (Recovery;
# under heavy CPU load the kernel sometimes leaves A to the RTO). On
# 41005 the probe is dropped too; the retransmission timer fires, re-sends A
# (the head), and after A's ACK, B follows in Loss state (slow start):
# both count as RTO recovery. 41006 is request/response with a delayed-ACK
# server and a client socket with TCP_RTO_MIN_US = 5 ms: the client's probe
# fires before the (delayed) ACK comes, so it re-sends data the server
# already has (a spurious retransmission, answered with a D-SACK).
MECH_PORT = 5003
MECH_BULK_BYTES = 20_000
TAIL_MARKS = {"a": 0xDD, "b": 0xEE}
TAIL_DROPS = {41004: {"a": 1, "b": 1}, 41005: {"a": 1, "b": 2}}
SPURIOUS_SPORT = 41006
SPURIOUS_TURNS = 3
SPURIOUS_REQ = 500
SPURIOUS_RESP = 100
SPURIOUS_SERVER_WAIT = 0.1
TCP_RTO_MIN_US = 45
# Queueing on the client's egress. The queue limit is far above what TCP
# ever has in flight here, so the qdisc never drops: every segment TCP
# hands down reaches the wire (and the capture), which makes "retransmitted
# segments on the wire == tcpi_total_retrans" exact. (With "latency 50ms"
# the tbf drops part of TCP's GSO super-packets; the holes show up in a
# sender-side capture and are later filled by retransmissions.)
TBF = "rate 20mbit burst 32kbit limit 4mb"

THINK = 0.050
THINK_PORT = 5002
THINK_LONG_SPORT = 41011
THINK_LONG_TURNS = 20
THINK_SHORT_SPORTS = (41021, 41022, 41023, 41024, 41025)
THINK_REQ = 100
THINK_RESP = 2000

ST_ECHO_PORT = 5010       # SF, S1
ST_ABORT_PORT = 5011      # RSTO: client aborts
ST_SRV_ABORT_PORT = 5012  # RSTR: server aborts
ST_CLOSED_PORT = 5013     # REJ: nothing listens
ST_BLACKHOLE_PORT = 5014  # S0: nft drops the SYNs
ST_HOLD_PORT = 5015       # S2: server never closes (during the capture)
ST_SRV_FIN_PORT = 5016    # S3: server closes, client never does
S0_CONNECT_TIMEOUT = 3.5
STATES = [
    # name, client port, server port, expected Zeek conn_state, who resets
    ("SF", 41101, ST_ECHO_PORT, "SF", None),
    ("REJ", 41102, ST_CLOSED_PORT, "REJ", "server"),
    ("RSTO", 41103, ST_ABORT_PORT, "RSTO", "client"),
    ("RSTR", 41104, ST_SRV_ABORT_PORT, "RSTR", "server"),
    ("S0", 41105, ST_BLACKHOLE_PORT, "S0", None),
    ("S1", 41106, ST_ECHO_PORT, "S1", None),
    ("S2", 41107, ST_HOLD_PORT, "S2", None),
    ("S3", 41108, ST_SRV_FIN_PORT, "S3", None),
]

DNS_PORT = 53
DNS_NAMES = {
    # name: (server delay s or None = never answers, rcode)
    "fast.test": (0.005, 0),
    "slow.test": (0.100, 0),
    "nx.test": (0.010, 3),
    "fail.test": (0.001, 2),
    "drop.test": (None, None),
}
DNS_ANSWER_IP = "10.98.53.1"
# a fixed interleaving of 10 fast, 5 slow, 3 nx, 2 fail, 3 drop; the
# unanswered ones come early and the capture goes on for more than
# DNS_QUIET_AFTER_DROP seconds after the last of them (an analyzer cannot
# call a query unanswered before its timeout, typically glibc's 5 s)
DNS_UDP_SEQUENCE = [
    "drop.test", "fast.test", "slow.test", "drop.test", "fast.test",
    "nx.test", "fast.test", "drop.test", "fast.test", "slow.test",
    "fail.test", "fast.test", "nx.test", "slow.test", "fast.test",
    "fast.test", "fail.test", "slow.test", "fast.test", "nx.test",
    "slow.test", "fast.test", "fast.test",
]
DNS_QUIET_AFTER_DROP = 5.5
DNS_TCP_SEQUENCE = ["fast.test", "slow.test"]
DNS_UDP_SPORT0 = 42001
DNS_TCP_SPORT0 = 42101
DNS_ID0 = 0x4a00
DNS_WAIT = 0.5
DNS_GAP = 0.020
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

# Listen backlog overflow. The server listens with backlog BACKLOG and does
# not accept() for BACKLOG_HOLD_S after the first connection is queued (the
# listening socket turns readable). The accept queue holds backlog + 1 = 2
# established connections; while it is full the kernel drops every SYN
# (TcpExt.ListenOverflows and ListenDrops) and the client re-sends it after
# 1 s (tcp_syn_linear_timeouts: the first 4 retries 1 s apart, then
# doubling). Then the server catches up: listen(BACKLOG_RESUMED) on the same
# socket and accept, echo BACKLOG_REQ bytes, close, for every connection.
# (Raising the backlog keeps the retried SYNs, which the kernel's timers send
# within ~0.1 ms of each other, from overflowing a backlog of 1 again, as
# SYN cookies whose ACKs are dropped: clients "connected" whose first data
# is then lost for seconds.) BACKLOG_CLIENTS threads, one socket and source
# port each (41201..), are released at once and time their own connect()
# with time.monotonic() right around the call (agent_backlog_client).
BACKLOG_PORT = 5020
BACKLOG = 1
BACKLOG_HOLD_S = 3.5
BACKLOG_RESUMED = 64
BACKLOG_CLIENTS = 20
BACKLOG_SPORT0 = 41201
BACKLOG_REQ = 16
BACKLOG_CONNECT_TIMEOUT = 20.0

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}
CA_STATES = {0: "Open", 1: "Disorder", 2: "CWR", 3: "Recovery", 4: "Loss"}


def log(*a):
    print("[groundtruth]", *a, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# ================================================================ TCP_INFO
class TcpInfo(ctypes.Structure):
    """struct tcp_info from include/uapi/linux/tcp.h (Linux 6.x). Fields past
    what the kernel returns (older kernels) are reported as absent."""
    _fields_ = [
        ("state", ctypes.c_uint8), ("ca_state", ctypes.c_uint8),
        ("retransmits", ctypes.c_uint8), ("probes", ctypes.c_uint8),
        ("backoff", ctypes.c_uint8), ("options", ctypes.c_uint8),
        ("wscale", ctypes.c_uint8), ("app_limited_fo", ctypes.c_uint8),
        ("rto", ctypes.c_uint32), ("ato", ctypes.c_uint32),
        ("snd_mss", ctypes.c_uint32), ("rcv_mss", ctypes.c_uint32),
        ("unacked", ctypes.c_uint32), ("sacked", ctypes.c_uint32),
        ("lost", ctypes.c_uint32), ("retrans", ctypes.c_uint32),
        ("fackets", ctypes.c_uint32),
        ("last_data_sent", ctypes.c_uint32), ("last_ack_sent", ctypes.c_uint32),
        ("last_data_recv", ctypes.c_uint32), ("last_ack_recv", ctypes.c_uint32),
        ("pmtu", ctypes.c_uint32), ("rcv_ssthresh", ctypes.c_uint32),
        ("rtt", ctypes.c_uint32), ("rttvar", ctypes.c_uint32),
        ("snd_ssthresh", ctypes.c_uint32), ("snd_cwnd", ctypes.c_uint32),
        ("advmss", ctypes.c_uint32), ("reordering", ctypes.c_uint32),
        ("rcv_rtt", ctypes.c_uint32), ("rcv_space", ctypes.c_uint32),
        ("total_retrans", ctypes.c_uint32),
        ("pacing_rate", ctypes.c_uint64), ("max_pacing_rate", ctypes.c_uint64),
        ("bytes_acked", ctypes.c_uint64), ("bytes_received", ctypes.c_uint64),
        ("segs_out", ctypes.c_uint32), ("segs_in", ctypes.c_uint32),
        ("notsent_bytes", ctypes.c_uint32), ("min_rtt", ctypes.c_uint32),
        ("data_segs_in", ctypes.c_uint32), ("data_segs_out", ctypes.c_uint32),
        ("delivery_rate", ctypes.c_uint64),
        ("busy_time", ctypes.c_uint64), ("rwnd_limited", ctypes.c_uint64),
        ("sndbuf_limited", ctypes.c_uint64),
        ("delivered", ctypes.c_uint32), ("delivered_ce", ctypes.c_uint32),
        ("bytes_sent", ctypes.c_uint64), ("bytes_retrans", ctypes.c_uint64),
        ("dsack_dups", ctypes.c_uint32), ("reord_seen", ctypes.c_uint32),
        ("rcv_ooopack", ctypes.c_uint32), ("snd_wnd", ctypes.c_uint32),
        ("rcv_wnd", ctypes.c_uint32), ("rehash", ctypes.c_uint32),
        ("total_rto", ctypes.c_uint16), ("total_rto_recoveries", ctypes.c_uint16),
        ("total_rto_time", ctypes.c_uint32),
    ]


# offsets checked against the uapi header (a wrong layout is a hard error)
TCP_INFO_KNOWN_OFFSETS = {
    "rto": 8, "snd_mss": 16, "rtt": 68, "rttvar": 72, "total_retrans": 100,
    "bytes_acked": 120, "segs_out": 136, "min_rtt": 148, "data_segs_out": 156,
    "bytes_sent": 200, "bytes_retrans": 208, "dsack_dups": 216, "reord_seen": 220,
    "snd_wnd": 228, "total_rto": 240, "total_rto_time": 244,
}
for _n, _o in TCP_INFO_KNOWN_OFFSETS.items():
    assert getattr(TcpInfo, _n).offset == _o, (_n, getattr(TcpInfo, _n).offset, _o)
TCP_INFO = getattr(socket, "TCP_INFO", 11)


def tcp_info(sock):
    raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 512)
    buf = raw + b"\0" * max(0, ctypes.sizeof(TcpInfo) - len(raw))
    ti = TcpInfo.from_buffer_copy(buf[:ctypes.sizeof(TcpInfo)])
    out = {"_len": len(raw)}
    for name, ctype in TcpInfo._fields_:
        f = getattr(TcpInfo, name)
        if f.offset + f.size <= len(raw):
            out[name] = getattr(ti, name)
    out["state_name"] = TCP_STATES.get(out["state"], str(out["state"]))
    try:
        cc = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
        out["congestion"] = cc.split(b"\0", 1)[0].decode()
    except OSError:
        pass
    out["ca_state_name"] = CA_STATES.get(out["ca_state"], str(out["ca_state"]))
    out["snd_wscale"] = out.pop("wscale") & 0xF
    return out


def tcp_info_sanity(ti, sent, received):
    """Cross-checks of the decoded struct against what the application knows;
    returns a list of problems (empty = the layout is right)."""
    p = []
    # bytes_acked / bytes_received also count the SYN's sequence number
    if ti.get("bytes_acked") != sent + 1:
        p.append(f"bytes_acked {ti.get('bytes_acked')} != bytes sent {sent} + 1 (SYN)")
    if ti.get("bytes_received") not in (received, received + 1):
        p.append(f"bytes_received {ti.get('bytes_received')} != bytes read {received} (+1)")
    if "bytes_sent" in ti and ti["bytes_sent"] != sent + ti.get("bytes_retrans", 0):
        p.append(f"bytes_sent {ti['bytes_sent']} != sent {sent} + bytes_retrans {ti.get('bytes_retrans')}")
    if not 500 <= ti.get("snd_mss", 0) <= 1460:
        p.append(f"snd_mss {ti.get('snd_mss')} out of range")
    if sent and not 0 < ti.get("min_rtt", 0) <= ti.get("rtt", 0) * 10 + 1000:
        p.append(f"min_rtt {ti.get('min_rtt')} / rtt {ti.get('rtt')} implausible")
    if ti.get("segs_out", 0) < ti.get("data_segs_out", 0):
        p.append("segs_out < data_segs_out")
    return p


# ================================================================ helpers run inside namespaces
# Every TCP socket uses this congestion control (the usual Linux default),
# whatever the host's default is; root may pick any built-in one per socket
# (a namespace's default can only be one the host allows).
CONGESTION_CONTROL = b"cubic"


def set_cc(s):
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CONGESTION_CONTROL)
    except OSError:
        pass   # recorded as whatever the socket really uses (tcp_info: congestion)


def new_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    set_cc(s)
    return s


def bind_connect(port, sport, timeout=10.0):
    s = new_tcp()
    s.bind((CLIENT_IP, sport))
    s.settimeout(timeout)
    s.connect((SERVER_IP, port))
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(65536, n - len(buf)))
        if not d:
            break
        buf += d
    return bytes(buf)


def recv_until_eof(s, limit=1 << 30):
    n = 0
    while n < limit:
        d = s.recv(65536)
        if not d:
            break
        n += len(d)
    return n


def set_linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def payload(n, seed=0):
    pat = bytes((i * 31 + seed) & 0xFF for i in range(4096))
    return (pat * (n // len(pat) + 1))[:n]


def listener(port, backlog=16):
    s = new_tcp()     # accepted sockets inherit the congestion control
    s.bind((SERVER_IP, port))
    s.listen(backlog)
    return s


class Agent:
    """Runs inside a namespace (spawned via `ip netns exec`). Talks to the
    orchestrator with JSON lines: {"event": ...} on stdout; reads commands
    ("release", "stop") from stdin."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.errors = []
        self.release = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._stdin, daemon=True).start()

    def _stdin(self):
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "release":
                self.release.set()
            elif cmd == "stop":
                self.release.set()
                self.stop.set()
        self.release.set()
        self.stop.set()

    def emit(self, event, **kw):
        kw["event"] = event
        with self.lock:
            sys.stdout.write(json.dumps(kw) + "\n")
            sys.stdout.flush()

    def add(self, rec):
        with self.lock:
            self.records.append(rec)

    def err(self, msg):
        with self.lock:
            self.errors.append(msg)

    def thread(self, fn, *a):
        def run():
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001 - reported to the orchestrator
                self.err(f"{fn.__name__}: {type(e).__name__}: {e}")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def serve(self, lsock, handler):
        def loop():
            lsock.settimeout(0.2)
            while not self.stop.is_set():
                try:
                    conn, peer = lsock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                conn.settimeout(30)
                self.thread(handler, conn, peer)
        return self.thread(loop)

    def finish(self):
        self.emit("done", records=self.records, errors=self.errors)


# ---------------------------------------------------------------- loss
def parse_snmp_text(text):
    """/proc/net/netstat + /proc/net/snmp text -> {"TcpExt.X": n, "Tcp.Y": n, ...}"""
    out = {}
    lines = text.splitlines()
    for a, b in zip(lines, lines[1:]):
        ka, kb = a.split(), b.split()
        if (len(ka) > 1 and len(ka) == len(kb) and ka[0] == kb[0]
                and not ka[1].lstrip("-").isdigit()
                and all(x.lstrip("-").isdigit() for x in kb[1:])):
            sec = ka[0].rstrip(":")
            for k, v in zip(ka[1:], kb[1:]):
                out[f"{sec}.{k}"] = int(v)
    return out


def snmp_delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in sorted(after)
            if after[k] - before.get(k, 0) != 0}


def local_snmp():
    text = ""
    for f in ("/proc/net/netstat", "/proc/net/snmp"):
        with open(f) as fh:
            text += fh.read()
    return parse_snmp_text(text)


def agent_loss_server(ag, args):
    def handle_bulk(conn, peer, lazy_acks=False):
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if lazy_acks:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            hdr = recv_exact(conn, 8)
            want = struct.unpack("!Q", hdr)[0]
            got = len(recv_exact(conn, want))
            conn.sendall(f"got {got}\n".encode())
            rest = recv_until_eof(conn)
            ag.add({"peer_port": peer[1], "expected": want, "received": got,
                    "after_reply": rest, "tcp_info": tcp_info(conn)})

    def handle_spurious(conn, peer):
        turns = 0
        with conn:
            # delayed-ACK ("pingpong") mode, then tell the client to go
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            conn.sendall(b"H")
            while True:
                req = recv_exact(conn, SPURIOUS_REQ)
                if len(req) < SPURIOUS_REQ:
                    break
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
                time.sleep(SPURIOUS_SERVER_WAIT)
                conn.sendall(payload(SPURIOUS_RESP, turns))
                turns += 1
            ag.add({"peer_port": peer[1], "turns": turns, "tcp_info": tcp_info(conn)})

    def handle_mech(conn, peer):
        if peer[1] == SPURIOUS_SPORT:
            handle_spurious(conn, peer)
        else:
            handle_bulk(conn, peer, lazy_acks=True)

    ag.serve(listener(LOSS_PORT), handle_bulk)
    ag.serve(listener(MECH_PORT), handle_mech)
    ag.emit("ready")
    ag.stop.wait(120)
    time.sleep(0.2)
    ag.finish()


def wait_all_acked(s, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        ti = tcp_info(s)
        if ti.get("unacked", 1) == 0 and ti.get("notsent_bytes", 1) == 0:
            return True
        time.sleep(0.005)
    return False


def bulk_conn(ag, port, sport, nbytes, seed, tail=False):
    """Sends an 8-byte length + nbytes, waits for the server's 'got N' reply,
    reads TCP_INFO, closes. With tail, the last 2 x MSS bytes are written only
    once everything before them is ACKed, so they leave as two full segments
    A and B (MSS bytes of 0xDD, then of 0xEE), alone in flight. The
    namespace's SNMP counters are read before and after: connections run one
    at a time, so the delta belongs to this connection alone."""
    snmp0 = local_snmp()
    s = bind_connect(port, sport, timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mss = tcp_info(s)["snd_mss"] if tail else 0
    data = (struct.pack("!Q", nbytes) + payload(nbytes - 2 * mss, seed)
            + bytes([TAIL_MARKS["a"]]) * mss + bytes([TAIL_MARKS["b"]]) * mss)
    t0 = time.time()
    if tail:
        s.sendall(data[:-2 * mss])
        if not wait_all_acked(s):
            raise Fail("data before the tail was not ACKed within 5 s")
        s.sendall(data[-2 * mss:])
    else:
        s.sendall(data)
    reply = b""
    while not reply.endswith(b"\n") and len(reply) < 64:
        d = s.recv(64)
        if not d:
            break
        reply += d
    t1 = time.time()
    # the reply carries the ACK of every data byte: nothing is left in
    # flight, so TCP_INFO is final for the data direction
    ti = tcp_info(s)
    s.close()
    time.sleep(0.3)
    ag.add({"client_port": sport, "server_port": port, "app_bytes_sent": len(data),
            "app_bytes_received": len(reply), "reply": reply.decode().strip(),
            "send_s": round(t1 - t0, 6), "tcp_info": ti,
            "tcp_info_problems": tcp_info_sanity(ti, len(data), len(reply)),
            "netstat_delta": snmp_delta(snmp0, local_snmp())})


def agent_loss_client(ag, args):
    per = args["bytes_per_conn"]
    for i, sport in enumerate(LOSS_SPORTS):
        bulk_conn(ag, LOSS_PORT, sport, per, i)
    for sport in TAIL_DROPS:
        bulk_conn(ag, MECH_PORT, sport, MECH_BULK_BYTES, sport % 7, tail=True)
    spurious_conn(ag)
    ag.finish()


def spurious_conn(ag):
    snmp0 = local_snmp()
    s = new_tcp()
    s.bind((CLIENT_IP, SPURIOUS_SPORT))
    try:
        s.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MIN_US, 5000)
        rto_min = s.getsockopt(socket.IPPROTO_TCP, TCP_RTO_MIN_US)
    except OSError as e:
        s.close()
        ag.add({"client_port": SPURIOUS_SPORT, "skipped": f"TCP_RTO_MIN_US unsupported: {e}"})
        return
    s.settimeout(10)
    s.connect((SERVER_IP, MECH_PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hello = recv_exact(s, 1)
    got = 0
    for i in range(SPURIOUS_TURNS):
        s.sendall(payload(SPURIOUS_REQ, 50 + i))
        got += len(recv_exact(s, SPURIOUS_RESP))
        time.sleep(0.02)
    ti = tcp_info(s)
    s.shutdown(socket.SHUT_WR)
    recv_until_eof(s)
    s.close()
    time.sleep(0.3)
    ag.add({"client_port": SPURIOUS_SPORT, "server_port": MECH_PORT, "rto_min_us": rto_min,
            "app_bytes_sent": SPURIOUS_TURNS * SPURIOUS_REQ,
            "app_bytes_received": len(hello) + got, "tcp_info": ti,
            "tcp_info_problems": tcp_info_sanity(ti, SPURIOUS_TURNS * SPURIOUS_REQ,
                                                 len(hello) + got),
            "netstat_delta": snmp_delta(snmp0, local_snmp())})


# ---------------------------------------------------------------- think
def agent_think_server(ag, args):
    ls = listener(THINK_PORT)

    def handle(conn, peer):
        turns = []
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                req = recv_exact(conn, THINK_REQ)
                if len(req) < THINK_REQ:
                    break
                t0 = time.perf_counter()
                time.sleep(THINK)
                slept = time.perf_counter() - t0
                conn.sendall(payload(THINK_RESP, len(turns)))
                turns.append(round(slept, 6))
            ag.add({"peer_port": peer[1], "server_sleep_s": turns})
    ag.serve(ls, handle)
    ag.emit("ready")
    ag.stop.wait(120)
    ls.close()
    time.sleep(0.2)
    ag.finish()


def think_conn(ag, sport, turns):
    s = bind_connect(THINK_PORT, sport)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rts = []
    for i in range(turns):
        t0 = time.perf_counter()
        s.sendall(payload(THINK_REQ, 100 + i))
        resp = recv_exact(s, THINK_RESP)
        rts.append(round(time.perf_counter() - t0, 6))
        if len(resp) != THINK_RESP:
            raise Fail(f"short response {len(resp)}")
        time.sleep(0.005)
    ti = tcp_info(s)
    s.shutdown(socket.SHUT_WR)
    recv_until_eof(s)
    s.close()
    ag.add({"client_port": sport, "turns": turns, "client_rt_s": rts,
            "app_bytes_sent": turns * THINK_REQ, "app_bytes_received": turns * THINK_RESP,
            "tcp_info": ti})


def agent_think_client(ag, args):
    think_conn(ag, THINK_LONG_SPORT, THINK_LONG_TURNS)
    for sp in THINK_SHORT_SPORTS:
        time.sleep(0.05)
        think_conn(ag, sp, 1)
    ag.finish()


# ---------------------------------------------------------------- states
def agent_states_server(ag, args):
    def echo_then_close(conn, peer):          # SF / S1
        with conn:
            n, how = 0, "eof"
            while True:
                try:
                    d = conn.recv(4096)
                except ConnectionResetError:   # S1: the client aborts after the capture
                    how = "reset"
                    break
                if not d:
                    break
                conn.sendall(d)
                n += len(d)
            ag.add({"peer_port": peer[1], "mode": "echo", "echoed": n, "end": how})

    def echo_abort(conn, peer):               # RSTO: the client aborts
        with conn:
            d = conn.recv(4096)
            conn.sendall(d)
            try:
                rest = conn.recv(4096)
                how = "eof" if not rest else "data"
            except ConnectionResetError:
                how = "reset"
            ag.add({"peer_port": peer[1], "mode": "echo_abort", "saw": how})

    def server_abort(conn, peer):             # RSTR: the server aborts
        d = recv_exact(conn, 100)
        conn.sendall(payload(500, 7))
        time.sleep(0.1)                       # let the data be delivered and ACKed
        ti = tcp_info(conn)
        set_linger0(conn)
        conn.close()
        ag.add({"peer_port": peer[1], "mode": "server_abort", "read": len(d), "tcp_info": ti})

    def hold(conn, peer):                     # S2: never close during the capture
        d = conn.recv(4096)
        conn.sendall(d)
        rest = conn.recv(4096)                # the client's FIN
        ag.add({"peer_port": peer[1], "mode": "hold", "eof": rest == b""})
        ag.release.wait(60)
        conn.close()

    def srv_fin(conn, peer):                  # S3: the server closes first
        d = conn.recv(4096)
        conn.sendall(d)
        conn.shutdown(socket.SHUT_WR)
        ag.add({"peer_port": peer[1], "mode": "server_fin"})
        ag.release.wait(60)
        conn.close()

    for port, h in ((ST_ECHO_PORT, echo_then_close), (ST_ABORT_PORT, echo_abort),
                    (ST_SRV_ABORT_PORT, server_abort), (ST_HOLD_PORT, hold),
                    (ST_SRV_FIN_PORT, srv_fin)):
        ag.serve(listener(port), h)
    ag.emit("ready")
    ag.stop.wait(120)
    time.sleep(0.2)
    ag.finish()


def agent_states_client(ag, args):
    held = []

    def rec(name, **kw):
        kw["name"] = name
        ag.add(kw)

    def s0():
        s = new_tcp()
        s.bind((CLIENT_IP, 41105))
        s.settimeout(S0_CONNECT_TIMEOUT)
        t0 = time.time()
        try:
            s.connect((SERVER_IP, ST_BLACKHOLE_PORT))
            outcome = "connected?!"
        except socket.timeout:
            outcome = "timeout"
        ti = tcp_info(s)
        s.close()
        rec("S0", outcome=outcome, waited_s=round(time.time() - t0, 3), tcp_info=ti)

    t = ag.thread(s0)          # runs in parallel with the rest (3.5 s)

    s = bind_connect(ST_ECHO_PORT, 41101)   # SF
    s.sendall(payload(200, 1))
    got = recv_exact(s, 200)
    s.shutdown(socket.SHUT_WR)
    rest = recv_until_eof(s)
    ti = tcp_info(s)
    s.close()
    rec("SF", sent=200, received=len(got) + rest, tcp_info=ti)
    time.sleep(0.05)

    try:                                     # REJ
        s = bind_connect(ST_CLOSED_PORT, 41102)
        s.close()
        rec("REJ", outcome="connected?!")
    except ConnectionRefusedError:
        rec("REJ", outcome="refused")
    time.sleep(0.05)

    s = bind_connect(ST_ABORT_PORT, 41103)   # RSTO
    s.sendall(payload(100, 2))
    got = recv_exact(s, 100)
    time.sleep(0.05)                         # the echo is ACKed
    ti = tcp_info(s)
    set_linger0(s)
    s.close()
    rec("RSTO", sent=100, received=len(got), tcp_info=ti)
    time.sleep(0.05)

    s = bind_connect(ST_SRV_ABORT_PORT, 41104)   # RSTR
    s.sendall(payload(100, 3))
    got = recv_exact(s, 500)
    try:
        more = s.recv(4096)
        how = "eof" if not more else "data"
    except ConnectionResetError:
        how = "reset"
    s.close()
    rec("RSTR", sent=100, received=len(got), saw=how)
    time.sleep(0.05)

    s = bind_connect(ST_ECHO_PORT, 41106)    # S1: open until after the capture
    s.sendall(payload(200, 4))
    got = recv_exact(s, 200)
    rec("S1", sent=200, received=len(got))
    held.append(s)
    time.sleep(0.05)

    s = bind_connect(ST_HOLD_PORT, 41107)    # S2: client FIN, server silent
    s.sendall(payload(150, 5))
    got = recv_exact(s, 150)
    s.shutdown(socket.SHUT_WR)
    rec("S2", sent=150, received=len(got))
    held.append(s)
    time.sleep(0.05)

    s = bind_connect(ST_SRV_FIN_PORT, 41108)  # S3: server FIN, client silent
    s.sendall(payload(120, 6))
    got = recv_exact(s, 120)
    rest = recv_until_eof(s)
    rec("S3", sent=120, received=len(got) + rest)
    held.append(s)

    t.join(S0_CONNECT_TIMEOUT + 5)
    ag.emit("holding")
    ag.release.wait(60)
    for s in held:
        set_linger0(s)       # after the capture: no FIN/RST ordering issues
        s.close()
    ag.finish()


# ---------------------------------------------------------------- dns
def dns_qname(msg):
    labels, i = [], 12
    while i < len(msg):
        n = msg[i]
        if n == 0:
            i += 1
            break
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    return ".".join(labels).lower(), qtype, qclass, i + 4


def dns_query(qid, name, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for lab in name.split("."):
        q += bytes([len(lab)]) + lab.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def dns_response(query):
    qid, flags = struct.unpack("!HH", query[:4])
    name, qtype, qclass, qend = dns_qname(query)
    delay, rcode = DNS_NAMES.get(name, (0.0, 3))
    if delay is None:
        return None, None, name
    answer = b""
    if rcode == 0 and qtype == 1:
        answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
                  + socket.inet_aton(DNS_ANSWER_IP))
    rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode   # QR AA RA, copy opcode+RD
    hdr = struct.pack("!HHHHHH", qid, rflags, 1, 1 if answer else 0, 0, 0)
    return hdr + query[12:qend] + answer, delay, name


def agent_dns_server(ag, args):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((SERVER_IP, DNS_PORT))
    u.settimeout(0.2)

    def udp_loop():
        while not ag.stop.is_set():
            try:
                msg, peer = u.recvfrom(4096)
            except socket.timeout:
                continue
            t_rx = time.perf_counter()
            resp, delay, name = dns_response(msg)
            rec = {"transport": "udp", "peer_port": peer[1], "name": name,
                   "id": struct.unpack("!H", msg[:2])[0], "answered": resp is not None}
            if resp is not None:
                def send(resp=resp, peer=peer, rec=rec, t_rx=t_rx):
                    u.sendto(resp, peer)
                    rec["server_delay_s"] = round(time.perf_counter() - t_rx, 6)
                    ag.add(rec)
                threading.Timer(delay, send).start()
            else:
                ag.add(rec)

    def tcp_handle(conn, peer):
        with conn:
            while True:
                hdr = recv_exact(conn, 2)
                if len(hdr) < 2:
                    break
                msg = recv_exact(conn, struct.unpack("!H", hdr)[0])
                t_rx = time.perf_counter()
                resp, delay, name = dns_response(msg)
                rec = {"transport": "tcp", "peer_port": peer[1], "name": name,
                       "id": struct.unpack("!H", msg[:2])[0], "answered": resp is not None}
                if resp is not None:
                    time.sleep(delay)
                    conn.sendall(struct.pack("!H", len(resp)) + resp)
                    rec["server_delay_s"] = round(time.perf_counter() - t_rx, 6)
                ag.add(rec)

    ag.thread(udp_loop)
    ag.serve(listener(DNS_PORT), tcp_handle)
    ag.emit("ready")
    ag.stop.wait(120)
    time.sleep(0.2)
    ag.finish()


def agent_dns_client(ag, args):
    qid = DNS_ID0
    for i, name in enumerate(DNS_UDP_SEQUENCE):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((CLIENT_IP, DNS_UDP_SPORT0 + i))
        q = dns_query(qid, name)
        t0 = time.perf_counter()
        sent_at = time.time()
        s.sendto(q, (SERVER_IP, DNS_PORT))
        rcode, rt = None, None
        deadline = t0 + DNS_WAIT
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                resp, _ = s.recvfrom(4096)
            except socket.timeout:
                break
            if struct.unpack("!H", resp[:2])[0] == qid:
                rt = time.perf_counter() - t0
                rcode = struct.unpack("!H", resp[2:4])[0] & 0xF
                break
        s.close()
        ag.add({"transport": "udp", "client_port": DNS_UDP_SPORT0 + i, "id": qid, "name": name,
                "qtype": "A", "rcode": rcode, "client_rt_s": None if rt is None else round(rt, 6),
                "sent_at": sent_at})
        qid += 1
        time.sleep(DNS_GAP)
    last_drop = max(r["sent_at"] for r in ag.records if r["name"] == "drop.test")
    time.sleep(max(0.0, last_drop + DNS_QUIET_AFTER_DROP - time.time()))
    for i, name in enumerate(DNS_TCP_SEQUENCE):
        s = bind_connect(DNS_PORT, DNS_TCP_SPORT0 + i)
        q = dns_query(qid, name)
        t0 = time.perf_counter()
        s.sendall(struct.pack("!H", len(q)) + q)
        n = struct.unpack("!H", recv_exact(s, 2))[0]
        resp = recv_exact(s, n)
        rt = time.perf_counter() - t0
        s.shutdown(socket.SHUT_WR)
        recv_until_eof(s)
        s.close()
        ag.add({"transport": "tcp", "client_port": DNS_TCP_SPORT0 + i, "id": qid, "name": name,
                "qtype": "A", "rcode": struct.unpack("!H", resp[2:4])[0] & 0xF,
                "client_rt_s": round(rt, 6)})
        qid += 1
        time.sleep(DNS_GAP)
    ag.finish()


# ---------------------------------------------------------------- backlog
def agent_backlog_server(ag, args):
    ls = listener(BACKLOG_PORT, backlog=BACKLOG)
    ag.emit("ready")
    # the first connection the kernel completed and queued: the listening
    # socket turns readable (nothing is accepted yet)
    while not ag.stop.is_set() and not select.select([ls], [], [], 0.2)[0]:
        pass
    t_first = time.monotonic()
    ag.stop.wait(BACKLOG_HOLD_S)
    # the application catches up: listen() again raises the backlog of the
    # listening socket (nothing queued is lost), then accept everything
    ls.listen(BACKLOG_RESUMED)
    ag.emit("accepting", held_s=round(time.monotonic() - t_first, 6))

    def echo(conn, peer):
        accepted = time.monotonic() - t_first
        with conn:
            d = recv_exact(conn, BACKLOG_REQ)
            conn.sendall(d)
        ag.add({"peer_port": peer[1], "accepted_s": round(accepted, 6), "echoed": len(d)})

    ag.serve(ls, echo)
    ag.stop.wait(60)
    time.sleep(0.2)
    ag.finish()


def agent_backlog_client(ag, args):
    """BACKLOG_CLIENTS threads connect at once, each timing its own connect()
    with time.monotonic() right around the call. They wait in select() on
    one pipe, released by one write, so each only reads the clock and enters
    connect(). The sockets are blocking (one syscall; Python's timeout mode
    would poll and take the GIL in between; the kernel gives up after
    tcp_syn_retries). Each thread runs SCHED_FIFO on ONE CPU: on a veth the
    whole handshake happens inside the connect() syscall (softirq on the
    sending CPU), so the kernel sees the SYNs strictly one after the other,
    and a thread whose connect() returns at once goes on to read the clock
    without waiting for the CPU or the GIL behind the others (with 20
    ordinary threads on 2 CPUs that wait was up to 2 ms, counted as connect
    time; see the README)."""
    rfd, wfd = os.pipe()
    waiting = threading.Semaphore(0)
    cpu = min(os.sched_getaffinity(0))
    sched = {}

    def one(sport):
        how = []
        for what, fn in ((f"cpu {cpu}", lambda: os.sched_setaffinity(0, {cpu})),
                         ("SCHED_FIFO 1", lambda: os.sched_setscheduler(
                             0, os.SCHED_FIFO, os.sched_param(1)))):
            try:
                fn()
                how.append(what)
            except OSError as e:    # recorded: the timing is then less tight
                how.append(f"not {what} ({e})")
        sched[sport] = ", ".join(how)
        s = new_tcp()
        s.bind((CLIENT_IP, sport))
        connect, addr, clock = s.connect, (SERVER_IP, BACKLOG_PORT), time.monotonic
        waiting.release()
        select.select([rfd], [], [])
        t0 = clock()
        connect(addr)
        t1 = clock()
        # connections that complete in the same softirq wake their threads
        # together: let each one read its clock before any does its I/O
        os.sched_yield()
        s.settimeout(BACKLOG_CONNECT_TIMEOUT)
        s.sendall(payload(BACKLOG_REQ, sport % 251))
        got = recv_exact(s, BACKLOG_REQ)
        rest = recv_until_eof(s)
        ti = tcp_info(s)
        s.close()
        ag.add({"client_port": sport, "connect_s": round(t1 - t0, 6), "t0": t0,
                "app_bytes_sent": BACKLOG_REQ, "app_bytes_received": len(got) + rest,
                "scheduling": sched[sport], "tcp_info": ti})

    threads = [ag.thread(one, BACKLOG_SPORT0 + i) for i in range(BACKLOG_CLIENTS)]
    for _ in threads:
        waiting.acquire(timeout=10)
    time.sleep(0.05)          # every thread is inside select()
    os.write(wfd, b"x")
    for t in threads:
        t.join(BACKLOG_CONNECT_TIMEOUT + 30)
    os.close(rfd)
    os.close(wfd)
    with ag.lock:
        t_first = min((r["t0"] for r in ag.records), default=0.0)
        for r in ag.records:
            r["started_s"] = round(r.pop("t0") - t_first, 6)
    ag.finish()


AGENTS = {
    "loss-server": agent_loss_server, "loss-client": agent_loss_client,
    "think-server": agent_think_server, "think-client": agent_think_client,
    "states-server": agent_states_server, "states-client": agent_states_client,
    "dns-server": agent_dns_server, "dns-client": agent_dns_client,
    "backlog-server": agent_backlog_server, "backlog-client": agent_backlog_client,
}


def agent_main(role, args_json):
    signal.alarm(150)     # hard bound on any helper's lifetime
    ag = Agent()
    try:
        AGENTS[role](ag, json.loads(args_json))
    except Exception as e:  # noqa: BLE001
        ag.err(f"{role}: {type(e).__name__}: {e}")
        ag.finish()
        return 1
    return 0


# ================================================================ orchestrator plumbing
def sh(cmd, check=True, capture=True, timeout=30, input=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise Fail(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r


class Proc:
    """A helper process with its stdout lines in a queue."""

    def __init__(self, name, cmd, stderr_path):
        self.name = name
        self.errf = open(stderr_path, "w")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.errf, text=True, bufsize=1)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def expect(self, event, timeout):
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                raise Fail(f"{self.name}: no '{event}' within {timeout} s")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise Fail(f"{self.name}: exited (rc={self.p.wait()}) before '{event}'; "
                           f"stderr in {self.errf.name}")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == event:
                return msg

    def send(self, cmd):
        try:
            self.p.stdin.write(cmd + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.errf.close()


class Tcpdump:
    def __init__(self, ns, iface, path, workdir, tag, snaplen=256):
        # (NFLOG needs the default snaplen: libpcap 1.10 fails with "Message
        # truncated" when the netlink message is longer than the snaplen)
        self.path = path
        self.errpath = os.path.join(workdir, f"tcpdump-{tag}.log")
        self.errf = open(self.errpath, "w")
        cmd = ["ip", "netns", "exec", ns, "tcpdump", "-n", "-i", iface, "-s", str(snaplen),
               "--immediate-mode", "-U", "-Z", "root", "-w", path]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=self.errf)
        for _ in range(100):
            if "listening on" in open(self.errpath).read():
                break
            if self.p.poll() is not None:
                raise Fail(f"tcpdump failed: {open(self.errpath).read()}")
            time.sleep(0.05)
        else:
            raise Fail("tcpdump did not start")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        self.errf.close()
        text = open(self.errpath).read()
        stats = {}
        for key, pat in (("captured", r"(\d+) packets? captured"),
                         ("received_by_filter", r"(\d+) packets? received by filter"),
                         ("dropped_by_kernel", r"(\d+) packets? dropped by kernel")):
            m = re.search(pat, text)
            stats[key] = int(m.group(1)) if m else None
        return stats

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)


def read_snmp(ns):
    return parse_snmp_text(sh(["ip", "netns", "exec", ns, "cat", "/proc/net/netstat",
                               "/proc/net/snmp"]).stdout)


class Pair:
    """Two fresh namespaces joined by a veth pair, offloads off."""

    def __init__(self, tag):
        pid = os.getpid()
        self.ns_c = f"rtgt{pid}-{tag}-c"
        self.ns_s = f"rtgt{pid}-{tag}-s"
        self.if_c = f"gt{pid % 1000000}c"
        self.if_s = f"gt{pid % 1000000}s"
        self.created = []

    def up(self):
        for ns in (self.ns_c, self.ns_s):
            sh(["ip", "netns", "add", ns])
            self.created.append(ns)
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw",
                "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "link", "add", self.if_c, "netns", self.ns_c, "type", "veth",
            "peer", "name", self.if_s, "netns", self.ns_s])
        self.offloads = {}
        for ns, dev, addr in ((self.ns_c, self.if_c, CLIENT_IP), (self.ns_s, self.if_s, SERVER_IP)):
            sh(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                "gro", "off", "tx", "off", "rx", "off"], check=False)
            feats = sh(["ip", "netns", "exec", ns, "ethtool", "-k", dev]).stdout
            on = [ln.split(":")[0].strip() for ln in feats.splitlines()[1:]
                  if ln.strip().endswith(": on") and "fixed" not in ln]
            self.offloads[dev] = {k: k in on for k in (
                "tcp-segmentation-offload", "generic-segmentation-offload",
                "generic-receive-offload", "tx-checksumming", "rx-checksumming")}
            if any(self.offloads[dev].values()):
                raise Fail(f"offloads still on for {dev}: {self.offloads[dev]}")
            sh(["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX}", "dev", dev])
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
        time.sleep(0.3)

    SYSCTLS = ("tcp_congestion_control", "tcp_sack", "tcp_dsack", "tcp_timestamps",
               "tcp_early_retrans", "tcp_recovery", "tcp_syn_retries",
               "tcp_syn_linear_timeouts", "tcp_no_metrics_save")

    def sysctls(self):
        out = {}
        for k in self.SYSCTLS:
            r = sh(["ip", "netns", "exec", self.ns_c, "sysctl", "-n", f"net.ipv4.{k}"],
                   check=False)
            if r.returncode == 0:
                v = r.stdout.strip()
                out[k] = int(v) if v.lstrip("-").isdigit() else v
        return out

    def exec_c(self, *cmd, **kw):
        return sh(["ip", "netns", "exec", self.ns_c, *cmd], **kw)

    def exec_s(self, *cmd, **kw):
        return sh(["ip", "netns", "exec", self.ns_s, *cmd], **kw)

    def down(self):
        for ns in self.created:
            self.delete_ns(ns)
        self.created = []

    @staticmethod
    def delete_ns(ns):
        # any process still inside is one of ours (the namespace is ours)
        r = sh(["ip", "netns", "pids", ns], check=False)
        for pid in (r.stdout or "").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh(["ip", "netns", "del", ns], check=False)


# ---------------------------------------------------------------- tracing
class Trace:
    """A private tracefs instance with the tcp tracepoints enabled."""
    EVENTS = ("tcp_retransmit_skb", "tcp_cong_state_set", "tcp_send_reset",
              "tcp_receive_reset", "tcp_retransmit_synack")

    def __init__(self):
        self.dir = None
        self.status = "unavailable"
        self.clock = None
        root = None
        for cand in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
            if os.path.isdir(os.path.join(cand, "instances")):
                root = cand
                break
        if root is None and os.path.isdir("/sys/kernel/tracing"):
            # tracefs not mounted yet (common in containers): mount it
            subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if os.path.isdir("/sys/kernel/tracing/instances"):
                root = "/sys/kernel/tracing"
        if root is None:
            self.status = "no tracefs"
            return
        if not all(os.path.isdir(f"{root}/events/tcp/{e}") for e in self.EVENTS[:4]):
            self.status = "tcp tracepoints missing"
            return
        d = f"{root}/instances/rtgt{os.getpid()}"
        try:
            os.mkdir(d)
        except OSError as e:
            self.status = f"cannot create trace instance: {e}"
            return
        self.dir = d
        try:
            clocks = open(f"{d}/trace_clock").read()
            self.clock = "tai" if re.search(r"\btai\b", clocks) else "mono"
            self._w("trace_clock", self.clock)
            self._w("buffer_size_kb", "4096")
            for e in self.EVENTS:
                p = f"{d}/events/tcp/{e}/enable"
                if os.path.exists(p):
                    self._w(f"events/tcp/{e}/enable", "1")
            self.status = "ok"
        except OSError as e:
            self.status = f"setup failed: {e}"
            self.close()

    def _w(self, rel, val):
        with open(f"{self.dir}/{rel}", "w") as f:
            f.write(val)

    def offset_to_realtime(self):
        """Seconds to ADD to a trace timestamp to get CLOCK_REALTIME."""
        if self.clock == "tai":
            # TAI - UTC is a whole number of seconds (0 when no NTP set it)
            return -round(time.clock_gettime(time.CLOCK_TAI) - time.time())
        best = None
        for _ in range(20):
            a = time.time()
            m = time.clock_gettime(time.CLOCK_MONOTONIC)
            b = time.time()
            if best is None or b - a < best[0]:
                best = (b - a, (a + b) / 2 - m)
        return best[1]

    def clear(self):
        if self.dir:
            self._w("trace", "")

    LINE = re.compile(r"\s(\d+\.\d+):\s+(\w+):\s+(.*)$")

    def read(self):
        if not self.dir:
            return []
        off = self.offset_to_realtime()
        evs = []
        with open(f"{self.dir}/trace") as f:
            text = f.read()
        if os.environ.get("RTGT_DEBUG_TRACE"):
            with open(os.environ["RTGT_DEBUG_TRACE"], "a") as dbg:
                dbg.write(text)
        if True:
            for line in text.splitlines():
                if line.startswith("#"):
                    continue
                m = self.LINE.search(line)
                if not m:
                    continue
                kv = dict(x.split("=", 1) for x in m.group(3).split() if "=" in x)
                kv["event"] = m.group(2)
                kv["ts"] = round(float(m.group(1)) + off, 6)
                evs.append(kv)
        return evs

    def close(self):
        if not self.dir:
            return
        for e in self.EVENTS:
            try:
                self._w(f"events/tcp/{e}/enable", "0")
            except OSError:
                pass
        for _ in range(10):
            try:
                os.rmdir(self.dir)
                break
            except OSError:
                time.sleep(0.1)
        self.dir = None


def trace_summary(events, our_ips=(CLIENT_IP, SERVER_IP)):
    """Per-connection view of the tracepoints. Connection key: 'ip:port>ip:port'
    as the socket that fired sees it (saddr = local)."""
    conns = {}
    ca = {}

    def key(sa, sp, da, dp):
        return f"{sa}:{sp}>{da}:{dp}"

    out_resets = []
    for e in events:
        ev = e["event"]
        if ev == "tcp_send_reset":
            src, dst = e.get("src", ""), e.get("dest", "")
            if src.rsplit(":", 1)[0] in our_ips:
                out_resets.append({"ts": e["ts"], "src": src, "dst": dst,
                                   "state": e.get("state"), "reason": e.get("reason")})
            continue
        sa, da = e.get("saddr"), e.get("daddr")
        if sa not in our_ips or da not in our_ips:
            continue
        k = key(sa, e.get("sport"), da, e.get("dport"))
        c = conns.setdefault(k, {"retransmits": [], "ca_states": [], "received_reset": 0})
        if ev == "tcp_cong_state_set":
            st = int(e["cong_state"])
            ca[k] = st
            c["ca_states"].append({"ts": e["ts"], "state": CA_STATES.get(st, str(st))})
        elif ev == "tcp_retransmit_skb":
            st = ca.get(k, 0)
            c["retransmits"].append({"ts": e["ts"], "tcp_state": e.get("state"),
                                     "err": int(e.get("err", 0)),
                                     "ca_state": CA_STATES.get(st, str(st))})
        elif ev == "tcp_receive_reset":
            c["received_reset"] += 1
        elif ev == "tcp_retransmit_synack":
            c.setdefault("synack_retransmits", 0)
            c["synack_retransmits"] += 1
    for k, c in conns.items():
        ok = [r for r in c["retransmits"] if r["err"] == 0]
        est = [r for r in ok if r["tcp_state"] != "TCP_SYN_SENT"]
        c["summary"] = {
            "ok": len(ok), "failed": len(c["retransmits"]) - len(ok),
            "failed_errs": sorted({r["err"] for r in c["retransmits"] if r["err"]}),
            "syn": len(ok) - len(est),
            # mechanism = congestion state at the moment of the retransmission
            "in_loss": sum(r["ca_state"] == "Loss" for r in est),
            "in_recovery": sum(r["ca_state"] == "Recovery" for r in est),
            "in_open_disorder_cwr": sum(r["ca_state"] in ("Open", "Disorder", "CWR") for r in est),
        }
    return {"connections": conns, "sent_resets": out_resets}


# ================================================================ pcap reading (own parser)
def read_pcap(path):
    """Yields (ts_float, ts_ns, linktype, frame_bytes, orig_len)."""
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return
        magic = gh[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            e = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            e = ">"
        else:
            raise Fail(f"{path}: not a pcap file")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(e + "I", gh[20:24])[0] & 0x0FFFFFFF
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, incl, orig = struct.unpack(e + "IIII", rh)
            data = f.read(incl)
            ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
            yield ns / 1e9, ns, linktype, data, orig


def parse_ip(ip):
    """IPv4 packet -> dict or None (lengths from the IP header)."""
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0xF) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    proto = ip[9]
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    p = {"src": src, "dst": dst, "proto": proto, "ip_len": total}
    l4 = ip[ihl:]
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", l4[:16])
        doff = (off >> 4) * 4
        p.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=win,
                 plen=total - ihl - doff, tcp_payload=bytes(l4[doff:total - ihl]))
        opts = l4[20:doff]
        sack = []
        i = 0
        while i < len(opts):
            kind = opts[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            if i + 1 >= len(opts):
                break
            ln = opts[i + 1]
            if ln < 2:
                break
            if kind == 5:
                body = opts[i + 2:i + ln]
                sack = [struct.unpack("!II", body[j:j + 8]) for j in range(0, len(body) - 7, 8)]
            i += ln
        p["sack"] = sack
    elif proto == 17 and len(l4) >= 8:
        sport, dport, ulen = struct.unpack("!HHH", l4[:6])
        p.update(sport=sport, dport=dport, plen=ulen - 8, udp=bytes(l4[8:]))
    return p


def packets(path):
    for ts, ns, lt, data, orig in read_pcap(path):
        ip = None
        if lt == 1 and len(data) >= 14:
            et = struct.unpack("!H", data[12:14])[0]
            if et == 0x0800:
                ip = data[14:]
        elif lt == 239 and len(data) >= 4:            # NFLOG: TLVs after a 4-byte header
            i = 4
            while i + 4 <= len(data):
                tl, tt = struct.unpack("<HH", data[i:i + 4])
                if tl < 4:
                    break
                if tt == 9:
                    ip = data[i + 4:i + tl]
                    break
                i += (tl + 3) & ~3
        elif lt == 101:
            ip = data
        if ip is None:
            continue
        p = parse_ip(ip)
        if p:
            p["ts"], p["ts_ns"] = ts, ns
            yield p


F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 1, 2, 4, 8, 16


def seq_lt(a, b):
    return ((a - b) & 0xFFFFFFFF) > 0x7FFFFFFF


def wire_tcp(path, client_ip=CLIENT_IP):
    """Per-connection facts from a capture, computed without any dissector.
    Connections are keyed 'client_port>server_port' (the client = sender of
    the first SYN without ACK; every connection here starts with one)."""
    conns = {}
    order = []
    for p in packets(path):
        if p["proto"] != 6:
            continue
        from_client = p["src"] == client_ip
        cport, sport = (p["sport"], p["dport"]) if from_client else (p["dport"], p["sport"])
        k = f"{cport}>{sport}"
        c = conns.get(k)
        if c is None:
            c = conns[k] = {"client_port": cport, "server_port": sport,
                            "client_ip": client_ip,
                            "server_ip": p["dst"] if from_client else p["src"],
                            "c": new_dir(), "s": new_dir(), "syn_ts": [], "synack_ts": [],
                            "hs_ack_ts": None, "first_ts": p["ts"],
                            "turn_state": None, "req_last_ts": None, "response_times_ms": []}
            order.append(k)
        d = c["c"] if from_client else c["s"]
        fl = p["flags"]
        d["packets"] += 1
        d["ip_bytes"] += p["ip_len"]
        d["payload_bytes"] += p["plen"]
        if fl & F_SYN:
            d["syn"] += 1
            if d["isn"] is None:
                d["isn"] = p["seq"]
            if from_client and not fl & F_ACK:
                c["syn_ts"].append(p["ts_ns"])
            if not from_client and fl & F_ACK:
                c["synack_ts"].append(p["ts_ns"])
        if fl & F_FIN:
            d["fin"] += 1
        if fl & F_RST:
            d["rst"] += 1
        if (from_client and c["synack_ts"] and c["hs_ack_ts"] is None and fl & F_ACK
                and not fl & (F_SYN | F_RST) and c["s"]["isn"] is not None
                and p["ack"] == (c["s"]["isn"] + 1) & 0xFFFFFFFF):
            c["hs_ack_ts"] = p["ts_ns"]
        # DSACK (RFC 2883): first SACK block below the cumulative ACK, or
        # inside the second block
        if p["sack"] and fl & F_ACK:
            b0 = p["sack"][0]
            if (not seq_lt(p["ack"], b0[1])) or (
                    len(p["sack"]) > 1 and not seq_lt(b0[0], p["sack"][1][0])
                    and not seq_lt(p["sack"][1][1], b0[1])):
                d["dsack_blocks"] += 1
        if p["plen"] > 0:
            # request/response turns: client data ... then server data
            if from_client:
                if c["turn_state"] != "req":
                    c["turn_state"] = "req"
                c["req_last_ts"] = p["ts_ns"]
            elif c["turn_state"] == "req":
                c["turn_state"] = "resp"
                c["response_times_ms"].append((p["ts_ns"] - c["req_last_ts"]) / 1e6)
        if p["plen"] > 0 and d["isn"] is not None:
            rel = (p["seq"] - d["isn"] - 1) & 0xFFFFFFFF
            end = rel + p["plen"]
            d["data_segments"] += 1
            seen = covered_bytes(d["seen"], rel, end)
            if rel < d["high"]:
                # below the highest sequence already on the wire: TCP sends
                # new data in order, so this is a retransmission, also when
                # its bytes never showed up here before ("hole fill": the
                # first copy was dropped before the capture point, e.g. by
                # the sender's own qdisc; the kernel counts it in
                # tcpi_total_retrans too)
                d["retrans_segments"] += 1
                d["retrans_bytes"] += p["plen"]
                d["retrans_overlap_bytes"] += seen
                if seen == 0:
                    d["hole_fill_segments"] += 1
                elif seen < p["plen"]:
                    d["partial_overlap_segments"] += 1
                d["retrans_list"].append({"ts": p["ts"], "rel_seq": rel, "len": p["plen"],
                                          "seen_before": seen})
            add_interval(d["seen"], rel, end)
            d["high"] = max(d["high"], end)
    out = []
    for k in order:
        c = conns[k]
        for dn in ("c", "s"):
            c[dn]["unique_bytes"] = sum(e - s for s, e in c[dn].pop("seen"))
            c[dn]["highest_rel_seq_end"] = c[dn].pop("high")
            c[dn].pop("isn")
        hs = None
        if c["syn_ts"] and c["synack_ts"] and c["hs_ack_ts"]:
            syn = max(t for t in c["syn_ts"] if t <= c["synack_ts"][0])
            hs = {"first_syn_ts_ns": c["syn_ts"][0],
                  "syn_ts_ns": syn, "synack_ts_ns": c["synack_ts"][0], "ack_ts_ns": c["hs_ack_ts"],
                  "connect_ms": (c["hs_ack_ts"] - c["syn_ts"][0]) / 1e6,
                  "rtt_ms": (c["hs_ack_ts"] - syn) / 1e6,
                  "syn_to_synack_ms": (c["synack_ts"][0] - syn) / 1e6,
                  "synack_to_ack_ms": (c["hs_ack_ts"] - c["synack_ts"][0]) / 1e6}
        out.append({"client": {"ip": c["client_ip"], "port": c["client_port"]},
                    "server": {"ip": c["server_ip"], "port": c["server_port"]},
                    "syns": len(c["syn_ts"]), "handshake": hs,
                    "response_times_ms": c["response_times_ms"],
                    "client_dir": c["c"], "server_dir": c["s"]})
    return out


def wire_dns(path):
    """DNS messages in the capture (UDP and TCP port 53, own parser): for each
    query (client port, id) the query time, the response time and rcode."""
    out = {}
    tcp_buf = {}
    for p in packets(path):
        if p["proto"] == 17 and 53 in (p["sport"], p["dport"]):
            msgs = [p["udp"]]
            transport = "udp"
        elif p["proto"] == 6 and 53 in (p["sport"], p["dport"]) and p["plen"] > 0:
            # every DNS-over-TCP message here fits one segment (2-byte length prefix)
            raw = p.get("tcp_payload", b"")
            msgs = [raw[2:]] if len(raw) >= 14 else []
            transport = "tcp"
        else:
            continue
        for m in msgs:
            if len(m) < 12:
                continue
            qid, flags = struct.unpack("!HH", m[:4])
            cport = p["sport"] if p["dport"] == 53 else p["dport"]
            k = f"{transport}:{cport}:{qid}"
            e = out.setdefault(k, {"transport": transport, "client_port": cport, "id": qid,
                                   "query_ts_ns": None, "response_ts_ns": None, "rcode": None,
                                   "queries_seen": 0, "responses_seen": 0})
            if flags & 0x8000:
                e["responses_seen"] += 1
                if e["response_ts_ns"] is None:
                    e["response_ts_ns"] = p["ts_ns"]
                    e["rcode"] = RCODE_NAMES.get(flags & 0xF, str(flags & 0xF))
            else:
                e["queries_seen"] += 1
                if e["query_ts_ns"] is None:
                    e["query_ts_ns"] = p["ts_ns"]
    for e in out.values():
        e["latency_ms"] = (None if e["response_ts_ns"] is None or e["query_ts_ns"] is None
                           else (e["response_ts_ns"] - e["query_ts_ns"]) / 1e6)
    return out


def new_dir():
    return {"packets": 0, "ip_bytes": 0, "payload_bytes": 0, "syn": 0, "fin": 0, "rst": 0,
            "data_segments": 0, "retrans_segments": 0, "retrans_bytes": 0,
            "retrans_overlap_bytes": 0, "hole_fill_segments": 0, "partial_overlap_segments": 0,
            "dsack_blocks": 0, "isn": None, "high": 0, "seen": [], "retrans_list": []}


def add_interval(ivs, a, b):
    """Adds [a, b) to a sorted list of disjoint [s, e) lists, merging."""
    out = []
    for s_, e_ in ivs:
        if e_ < a or s_ > b:
            out.append([s_, e_])
        else:
            a, b = min(a, s_), max(b, e_)
    out.append([a, b])
    out.sort()
    ivs[:] = out


def covered_bytes(ivs, a, b):
    return sum(max(0, min(b, e_) - max(a, s_)) for s_, e_ in ivs)


def delivery_truth(server_pcap, dropped_pcap, client_port, server_port):
    """Exact receiver view of one connection's client->server data: arrival
    order at the server veth (before nftables) minus the packets nftables
    dropped (NFLOG copy). Returns duplicates (arrived, not dropped, every byte
    already delivered = a truly SPURIOUS transmission), drops, and whether any
    data arrived in a different order than it was sent."""
    arrivals = [p for p in packets(server_pcap) if p["proto"] == 6 and p["sport"] == client_port
                and p["dport"] == server_port]
    drops = [p for p in packets(dropped_pcap) if p["proto"] == 6 and p["sport"] == client_port
             and p["dport"] == server_port]
    isn = next((p["seq"] for p in arrivals if p["flags"] & F_SYN), None)
    if isn is None:
        return None
    pending = {}
    for d in drops:
        pending.setdefault((d["seq"], d["plen"]), []).append(d["ts_ns"])
    delivered = []   # list of [start, end) intervals (merged)

    def covered(a, b):
        for s, e in delivered:
            if s <= a and b <= e:
                return True
        return False

    def add(a, b):
        nonlocal delivered
        iv = sorted(delivered + [[a, b]])
        merged = []
        for s, e in iv:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        delivered = merged

    spurious, dropped, reordered, high_sent = 0, 0, 0, 0
    spurious_list = []
    unmatched = 0
    for p in arrivals:
        if p["plen"] <= 0:
            continue
        rel = (p["seq"] - isn - 1) & 0xFFFFFFFF
        end = rel + p["plen"]
        key = (p["seq"], p["plen"])
        if key in pending and pending[key]:
            pending[key].pop(0)
            dropped += 1
            if rel > high_sent:
                reordered += 1
            high_sent = max(high_sent, end)
            continue
        if covered(rel, end):
            spurious += 1
            spurious_list.append({"ts": p["ts"], "rel_seq": rel, "len": p["plen"]})
        if rel > high_sent:
            reordered += 1   # a gap on arrival (first copy lost before the server veth, e.g. in the client qdisc)
        high_sent = max(high_sent, end)
        add(rel, end)
    unmatched = sum(len(v) for v in pending.values())
    return {"arrived_data_segments": sum(1 for p in arrivals if p["plen"] > 0),
            "dropped": dropped, "drops_not_matched": unmatched,
            "spurious_duplicates": spurious, "spurious_list": spurious_list,
            "arrival_gaps": reordered,
            "delivered_bytes": sum(e - s for s, e in delivered)}


# ---------------------------------------------------------------- receiver view (after the drops)
def read_pcap_raw(path):
    """(global header bytes, endianness, linktype, [(record header, frame bytes)])."""
    with open(path, "rb") as f:
        raw = f.read()
    gh = raw[:24]
    if len(gh) < 24:
        raise Fail(f"{path}: no pcap header")
    if gh[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif gh[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise Fail(f"{path}: not a pcap file")
    linktype = struct.unpack(e + "I", gh[20:24])[0] & 0x0FFFFFFF
    recs, i = [], 24
    while i + 16 <= len(raw):
        rh = raw[i:i + 16]
        incl = struct.unpack(e + "I", rh[8:12])[0]
        recs.append((rh, raw[i + 16:i + 16 + incl]))
        i += 16 + incl
    if i != len(raw):
        raise Fail(f"{path}: truncated record at byte {i}")
    return gh, e, linktype, recs


def frame_ip(linktype, data):
    """The IPv4 packet of an Ethernet / NFLOG / raw-IP frame, or None."""
    if linktype == 1 and len(data) >= 14 and struct.unpack("!H", data[12:14])[0] == 0x0800:
        return data[14:]
    if linktype == 239 and len(data) >= 4:
        i = 4
        while i + 4 <= len(data):
            tl, tt = struct.unpack("<HH", data[i:i + 4])
            if tl < 4:
                break
            if tt == 9:
                return data[i + 4:i + tl]
            i += (tl + 3) & ~3
        return None
    if linktype == 101:
        return data
    return None


def header_key(ip):
    """The IP + TCP header bytes of a packet (ip id, lengths, checksums, seq,
    ack, flags, options with TSval ...): what identifies one transmission.
    Linux gives every packet of a connected DF socket its own IP id, so a
    retransmission never has the same header as its original. None if not
    IPv4/TCP."""
    if ip is None or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None
    ihl = (ip[0] & 0xF) * 4
    if len(ip) < ihl + 20:
        return None
    doff = (ip[ihl + 12] >> 4) * 4
    return bytes(ip[:ihl + doff])


def match_drops(frames, drops, what):
    """Matches every dropped packet (NFLOG copy, in order) to one frame of a
    capture with the same IP + TCP header, in order: each drop to the first
    unmatched frame with its header. Returns the frame indices (one per drop,
    strictly increasing); raises Fail if a drop has no frame, or the order
    differs."""
    by_key = {}
    for i, (key, _) in enumerate(frames):
        if key is not None:
            by_key.setdefault(key, []).append(i)
    out = []
    for n, key in enumerate(drops):
        cands = by_key.get(key)
        if not cands:
            raise Fail(f"dropped packet #{n} has no frame with the same IP/TCP header in {what}")
        out.append(cands.pop(0))
    if any(b <= a for a, b in zip(out, out[1:])):
        raise Fail(f"dropped packets match frames of {what} out of order: {out}")
    return out


def make_receiver_pcap(spcap, dpcap, out_path):
    """loss.receiver.pcap: the server veth capture (before nftables) minus
    exactly the frames nftables dropped = what TCP at the server received,
    in arrival order, with the original record headers (timestamps, lengths)
    and the same pcap header (link type, snaplen, resolution). Returns the
    drop -> frame matching for the truth."""
    gh, _, lt, recs = read_pcap_raw(spcap)
    _, _, dlt, drecs = read_pcap_raw(dpcap)
    frames = [(header_key(frame_ip(lt, d)), rh) for rh, d in recs]
    drops = [header_key(frame_ip(dlt, d)) for _, d in drecs]
    if any(k is None for k in drops):
        raise Fail(f"{dpcap}: a dropped packet is not IPv4/TCP")
    idx = match_drops(frames, drops, os.path.basename(spcap))
    gone = set(idx)
    if len(gone) != len(drops):
        raise Fail("two dropped packets matched the same server frame")
    with open(out_path, "wb") as f:
        f.write(gh)
        for i, (rh, d) in enumerate(recs):
            if i not in gone:
                f.write(rh)
                f.write(d)
    return {"server_frames": len(recs), "dropped": len(drops), "matched": len(idx),
            "receiver_frames": len(recs) - len(gone), "dropped_frame_indices": idx}


def receiver_view(sender_pcap, dropped_pcap, receiver_pcap, client_port, server_port,
                  receiver_wire, receiver_tshark):
    """receiver_truth plus cross-checks from loss.receiver.pcap itself: this
    script's pcap reader on it (retransmissions = data below the highest
    sequence number seen there, hole fills) must agree with the sender-side
    computation; and tshark's analysis flags on it (recorded, not checked:
    tshark labels hole fills by timing, see the README)."""
    r = receiver_truth(sender_pcap, dropped_pcap, receiver_pcap, client_port, server_port)
    w = next((x for x in receiver_wire if x["client"]["port"] == client_port), None)
    cd = w and w["client_dir"]
    r["crosscheck_receiver_capture"] = cd and {
        "retrans_segments": cd["retrans_segments"], "retrans_bytes": cd["retrans_bytes"],
        "hole_fill_segments": cd["hole_fill_segments"]}
    if not cd or (cd["retrans_segments"], cd["retrans_bytes"], cd["hole_fill_segments"]) != (
            r["retrans_visible"], r["retrans_visible_bytes"], r["hole_fills"]):
        raise Fail(f"{client_port}: loss.receiver.pcap shows {r['crosscheck_receiver_capture']}, "
                   f"the sender capture + drops say visible {r['retrans_visible']} "
                   f"({r['retrans_visible_bytes']} B), hole fills {r['hole_fills']}")
    r["crosscheck_tshark"] = receiver_tshark and receiver_tshark.get(str(client_port))
    return r


def receiver_truth(sender_pcap, dropped_pcap, receiver_pcap, client_port, server_port):
    """What the receiver (TCP at the server, after nftables) got of one
    connection's client->server data, computed from the SENDER capture and the
    drop list alone (not from loss.receiver.pcap): the receiver gets exactly
    the sender's data segments that were not dropped, in the sender's order
    (a veth does not reorder; checked against loss.receiver.pcap). For every
    retransmission (a data segment re-sending bytes already on the wire at the
    sender) it records whether it was dropped or arrived, and, if it arrived,
    whether the receiver could tell: it starts below the highest sequence
    number the receiver already had ("visible"; a hole fill if none of its
    bytes had arrived before), or at/above it ("in order": every copy of it
    and of everything after it was dropped, so it looks like new data)."""
    _, _, lt, recs = read_pcap_raw(sender_pcap)
    _, _, dlt, drecs = read_pcap_raw(dropped_pcap)
    stamps = [ts for ts, *_ in read_pcap(sender_pcap)]
    drops = [header_key(frame_ip(dlt, d)) for _, d in drecs]
    frames = [(header_key(frame_ip(lt, d)), None) for _, d in recs]
    # all drops are matched against the sender capture as a whole (each
    # connection's slice of them below)
    dropped_idx = set(match_drops(frames, drops, os.path.basename(sender_pcap)))
    isn = None
    high_sent = 0
    recv_high = 0
    recv_seen = []
    r = {"data_segments_sent": 0, "data_segments_dropped": 0, "data_segments_arrived": 0,
         "retrans_sent": 0, "retrans_dropped": 0, "retrans_arrived": 0,
         "retrans_arrived_bytes": 0,
         "retrans_visible": 0, "retrans_visible_bytes": 0, "hole_fills": 0,
         "retrans_in_order": 0, "new_data_below_receiver_high": 0,
         "arrived": []}
    order_sent = []
    for i, (rh, d) in enumerate(recs):
        p = parse_ip(frame_ip(lt, d) or b"")
        if not p or p["proto"] != 6 or p["sport"] != client_port or p["dport"] != server_port:
            continue
        if p["flags"] & F_SYN and isn is None:
            isn = p["seq"]
        if i not in dropped_idx:
            order_sent.append(frames[i][0])
        if p["plen"] <= 0 or isn is None:
            continue
        rel = (p["seq"] - isn - 1) & 0xFFFFFFFF
        end = rel + p["plen"]
        retx = rel < high_sent
        high_sent = max(high_sent, end)
        dropped = i in dropped_idx
        r["data_segments_sent"] += 1
        r["data_segments_dropped"] += dropped
        if retx:
            r["retrans_sent"] += 1
            r["retrans_dropped"] += dropped
        if dropped:
            continue
        r["data_segments_arrived"] += 1
        if retx:
            r["retrans_arrived"] += 1
            r["retrans_arrived_bytes"] += p["plen"]
            if rel < recv_high:
                seen = covered_bytes(recv_seen, rel, end)
                r["retrans_visible"] += 1
                r["retrans_visible_bytes"] += p["plen"]
                r["hole_fills"] += seen == 0
                r["arrived"].append({"ts": stamps[i], "rel_seq": rel, "len": p["plen"],
                                     "kind": "hole_fill" if seen == 0 else "duplicate"
                                     if seen == p["plen"] else "partial_overlap"})
            else:
                r["retrans_in_order"] += 1
                r["arrived"].append({"ts": stamps[i], "rel_seq": rel, "len": p["plen"],
                                     "kind": "in_order"})
        elif rel < recv_high:
            r["new_data_below_receiver_high"] += 1      # cannot happen: TCP sends in order
        add_interval(recv_seen, rel, end)
        recv_high = max(recv_high, end)
    # the receiver capture shows the same packets in the same order
    _, _, rlt, rrecs = read_pcap_raw(receiver_pcap)
    order_recv = []
    for _, d in rrecs:
        ip = frame_ip(rlt, d)
        p = parse_ip(ip or b"")
        if p and p["proto"] == 6 and p["sport"] == client_port and p["dport"] == server_port:
            order_recv.append(header_key(ip))
    r["receiver_capture_same_order"] = order_recv == order_sent
    if not r["receiver_capture_same_order"]:
        raise Fail(f"{client_port}: loss.receiver.pcap is not the sender's packets minus the "
                   f"drops in the same order ({len(order_recv)} vs {len(order_sent)} packets)")
    if r["new_data_below_receiver_high"]:
        raise Fail(f"{client_port}: new data arrived below the receiver's highest sequence")
    return r


# ---------------------------------------------------------------- cross-checks with tools
def tshark_retrans(path):
    """tshark's own view: per client port, frames flagged as (fast/spurious)
    retransmission or out-of-order in the client->server direction."""
    if not shutil.which("tshark"):
        return None
    r = sh(["tshark", "-r", path, "-Y", f"ip.src=={CLIENT_IP} && tcp.len>0", "-T", "fields",
            "-e", "tcp.srcport", "-e", "tcp.analysis.retransmission",
            "-e", "tcp.analysis.fast_retransmission", "-e", "tcp.analysis.spurious_retransmission",
            "-e", "tcp.analysis.out_of_order", "-e", "tcp.analysis.lost_segment"],
           check=False, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if not f[0]:
            continue
        o = out.setdefault(f[0], {"retransmission": 0, "fast_retransmission": 0,
                                  "spurious_retransmission": 0, "out_of_order": 0,
                                  "any": 0})
        flags = [bool(x) for x in f[1:5]]
        for name, on in zip(("retransmission", "fast_retransmission",
                             "spurious_retransmission", "out_of_order"), flags):
            o[name] += on
        o["any"] += any(flags)
    return out


def tcptrace_rexmt(path):
    """tcptrace -l -r: 'rexmt data pkts' / 'rexmt data bytes' per connection
    (a->b = client->server since the client sent the first SYN)."""
    if not shutil.which("tcptrace"):
        return None
    r = sh(["tcptrace", "-n", "-l", "-r", path], check=False, timeout=120)
    out = {}
    cur = None
    for line in r.stdout.splitlines():
        m = re.match(r"\s*host \w+:\s+([\d.]+):(\d+)", line)
        if m and m.group(1) == CLIENT_IP:
            cur = m.group(2)
            out[cur] = {}
            continue
        if cur is None:
            continue
        for name in ("rexmt data pkts", "rexmt data bytes", "unique bytes sent",
                     "actual data pkts", "SYN/FIN pkts sent", "RTT min", "RTT max"):
            m = re.match(r"\s*" + re.escape(name) + r":\s+([\d.]+)", line)
            if m:
                out[cur][name] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    return out


# ================================================================ scenarios
class Ctx:
    def __init__(self, outdir, workdir, trace, opts):
        self.outdir, self.workdir, self.trace, self.opts = outdir, workdir, trace, opts


def spawn(ctx, pair, side, role, args=None):
    ns = pair.ns_c if side == "c" else pair.ns_s
    cmd = ["ip", "netns", "exec", ns, sys.executable, HERE, "_agent", role, json.dumps(args or {})]
    return Proc(role, cmd, os.path.join(ctx.workdir, f"{role}.stderr"))


def base_truth(name, pair, tcpd_stats):
    return {
        "schema": SCHEMA, "scenario": name,
        "kernel": platform.release(), "kernel_version": platform.version(),
        "capture": {"file": f"{name}.pcap", "side": "client",
                    "point": "tcpdump on the client namespace's veth (after the client's qdisc)",
                    "interface": pair.if_c, "snaplen": 256, "linktype": 1,
                    "tcpdump": tcpd_stats},
        "client_ip": CLIENT_IP, "server_ip": SERVER_IP,
        "offloads_off": pair.offloads,
        "tcp_sysctls": pair.sysctls(),
        "congestion_control": CONGESTION_CONTROL.decode() + " (set per socket with TCP_CONGESTION; "
                              "tcp_sysctls shows the namespace default)",
    }


def run_scenario(ctx, name):
    pair = Pair(name)
    procs = []
    dumps = []
    try:
        pair.up()
        return SCENARIO_FUNCS[name](ctx, pair, procs, dumps)
    finally:
        for d in dumps:
            d.kill()
        for p in procs:
            p.kill()
        pair.down()


def start_capture(ctx, pair, name, procs_dumps):
    pcap = os.path.join(ctx.outdir, f"{name}.pcap")
    d = Tcpdump(pair.ns_c, pair.if_c, pcap, ctx.workdir, name)
    procs_dumps.append(d)
    time.sleep(0.3)
    return d, pcap


def finish_capture(dump):
    # immediate mode + a pause longer than libpcap's TPACKET_V3 block timeout,
    # so nothing is left in an unretired ring block at SIGINT
    time.sleep(1.0)
    st = dump.stop()
    if st.get("dropped_by_kernel") != 0:
        raise Fail(f"tcpdump dropped packets: {st}")
    return st


def collect(proc, timeout):
    msg = proc.expect("done", timeout)
    if msg.get("errors"):
        raise Fail(f"{proc.name}: {msg['errors']}")
    return msg["records"]


def kernel_mechanism(nd, tc):
    """The kernel's own split of one connection's retransmitted SEGMENTS by
    mechanism, from its per-connection SNMP delta (connections run one at a
    time in the client namespace) and the tracepoints:
      fast = TcpExt.TCPFastRetrans       (segments re-sent in Recovery state)
      rto  = TcpExt.TCPTimeouts          (one head segment per RTO expiry)
           + TcpExt.TCPSlowStartRetrans  (segments re-sent in Loss state)
      tlp  = tcp_retransmit_skb events in Open/Disorder/CWR state: loss
             probes that re-sent data (TcpExt.TCPLossProbes also counts
             probes that sent NEW data; each probe is one segment)
    and whether they add up to Tcp.RetransSegs (all retransmitted segments)."""
    fast = nd.get("TcpExt.TCPFastRetrans", 0)
    rto = nd.get("TcpExt.TCPTimeouts", 0) + nd.get("TcpExt.TCPSlowStartRetrans", 0)
    tlp = tc["summary"]["in_open_disorder_cwr"] if tc else None
    total = nd.get("Tcp.RetransSegs", 0)
    if tlp is None:   # no tracepoints: what is left over
        tlp = total - fast - rto
    return {"fast": fast, "rto": rto, "tlp": tlp, "retrans_segs": total,
            "adds_up": fast + rto + tlp == total,
            "loss_probes": nd.get("TcpExt.TCPLossProbes", 0),
            "loss_probe_recovery": nd.get("TcpExt.TCPLossProbeRecovery", 0),
            "timeouts": nd.get("TcpExt.TCPTimeouts", 0),
            "spurious_rtos": nd.get("TcpExt.TCPSpuriousRTOs", 0),
            "dsack_recv": nd.get("TcpExt.TCPDSACKRecv", 0),
            "dsack_recv_segs": nd.get("TcpExt.TCPDSACKRecvSegs", 0),
            "trace_events": tc and {k: tc["summary"][k] for k in (
                "ok", "failed", "in_loss", "in_recovery", "in_open_disorder_cwr")}}


def sc_loss(ctx, pair, procs, dumps):
    per = ctx.opts.loss_bytes // len(LOSS_SPORTS)
    log_ = f"log group {LOSS_NFLOG_GROUP} queue-threshold 1"
    tail_rules, tail_sets = [], set()
    for sp, drops in TAIL_DROPS.items():
        for seg, n in drops.items():
            mark = f"tcp dport {MECH_PORT} @ih,0,32 0x{TAIL_MARKS[seg]:02x}{TAIL_MARKS[seg]:02x}" \
                   f"{TAIL_MARKS[seg]:02x}{TAIL_MARKS[seg]:02x}"
            for k in range(1, n + 1):
                # the k-th copy of this segment: drop it once, remember that
                tail_sets.add(f"{seg}{k}")
                tail_rules.append(f"{mark} tcp sport {sp} tcp sport != @{seg}{k} "
                                  f"add @{seg}{k} {{ tcp sport }} {log_} counter drop "
                                  f'comment "{seg}{k}-{sp}"')
    sets = "".join(f"  set {n} {{ type inet_service; flags dynamic; }}\n" for n in sorted(tail_sets))
    ruleset = f"""table inet rtgt {{
{sets}  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {LOSS_PORT} meta length > 100 numgen random mod 1000 < {LOSS_PERMILLE} {log_} counter drop comment "loss"
    {(chr(10) + "    ").join(tail_rules)}
  }}
}}
"""
    pair.exec_s("nft", "-f", "-", input=ruleset)
    pair.exec_c("tc", "qdisc", "add", "dev", pair.if_c, "root", "tbf", *TBF.split())
    srv = spawn(ctx, pair, "s", "loss-server")
    procs.append(srv)
    srv.expect("ready", 10)
    dump, pcap = start_capture(ctx, pair, "loss", dumps)
    spcap = os.path.join(ctx.outdir, "loss.server.pcap")
    sdump = Tcpdump(pair.ns_s, pair.if_s, spcap, ctx.workdir, "loss-server")
    dumps.append(sdump)
    dpcap = os.path.join(ctx.outdir, "loss.dropped.pcap")
    ddump = Tcpdump(pair.ns_s, f"nflog:{LOSS_NFLOG_GROUP}", dpcap, ctx.workdir, "loss-nflog",
                    snaplen=262144)
    dumps.append(ddump)
    time.sleep(0.2)
    snmp_c0, snmp_s0 = read_snmp(pair.ns_c), read_snmp(pair.ns_s)
    ctx.trace.clear()
    cli = spawn(ctx, pair, "c", "loss-client", {"bytes_per_conn": per})
    procs.append(cli)
    crec = collect(cli, 120)
    srv.send("stop")
    srec = collect(srv, 10)
    st = finish_capture(dump)
    sst = sdump.stop()
    dst = ddump.stop()
    for what, x in (("server-side", sst), ("nflog", dst)):
        if x.get("dropped_by_kernel") != 0:
            raise Fail(f"{what} tcpdump dropped packets: {x}")
    snmp_c1, snmp_s1 = read_snmp(pair.ns_c), read_snmp(pair.ns_s)
    events = ctx.trace.read()
    nft = json.loads(pair.exec_s("nft", "-j", "list", "ruleset").stdout)
    rule_counters = {}
    for item in nft["nftables"]:
        r = item.get("rule")
        if r and r.get("comment"):
            for ex in r["expr"]:
                if "counter" in ex:
                    rule_counters[r["comment"]] = ex["counter"]
    qdisc = pair.exec_c("tc", "-s", "-j", "qdisc", "show", "dev", pair.if_c).stdout
    rpcap = os.path.join(ctx.outdir, "loss.receiver.pcap")
    rmatch = make_receiver_pcap(spcap, dpcap, rpcap)
    truth = base_truth("loss", pair, st)
    truth["extra_captures"] = {
        "server": {"file": "loss.server.pcap", "side": "server",
                   "point": "tcpdump on the server veth: every arrival, before nftables",
                   "tcpdump": sst},
        "dropped": {"file": "loss.dropped.pcap", "point": f"NFLOG group {LOSS_NFLOG_GROUP}: "
                    "exactly the packets the nft rules dropped (linktype 239)", "tcpdump": dst},
        "receiver": {"file": "loss.receiver.pcap", "side": "server",
                     "point": "loss.server.pcap minus exactly the frames nftables dropped "
                              "(matched to the NFLOG copies by IP + TCP header, in order): "
                              "what TCP at the server received, in arrival order",
                     "matching": {k: v for k, v in rmatch.items()
                                  if k != "dropped_frame_indices"}},
    }
    truth["setup"] = {"nft_ruleset": ruleset.strip(), "client_qdisc": f"tbf {TBF}",
                      "client_qdisc_stats": json.loads(qdisc) if qdisc.strip() else None,
                      "random_loss_bytes_per_connection": per,
                      "random_loss_permille": LOSS_PERMILLE,
                      "mechanism_bulk_bytes": MECH_BULK_BYTES}
    truth["nft_drops"] = {
        "packets": sum(c["packets"] for c in rule_counters.values()),
        "bytes": sum(c["bytes"] for c in rule_counters.values()),
        "random": rule_counters.get("loss"), "rules": rule_counters}
    truth["netstat_delta"] = {"client": snmp_delta(snmp_c0, snmp_c1),
                              "server": snmp_delta(snmp_s0, snmp_s1)}
    tr = trace_summary(events)
    truth["trace_status"] = ctx.trace.status
    wire = wire_tcp(pcap)
    ts = tshark_retrans(pcap)
    tt = tcptrace_rexmt(pcap)
    rwire = wire_tcp(rpcap)
    rts = tshark_retrans(rpcap)
    conns = []
    for rec in crec:
        cp = rec["client_port"]
        if rec.get("skipped"):
            truth["spurious_case"] = rec["skipped"]
            continue
        port = rec["server_port"]
        w = next(x for x in wire if x["client"]["port"] == cp)
        sr = next((x for x in srec if x["peer_port"] == cp), None)
        tc = tr["connections"].get(f"{CLIENT_IP}:{cp}>{SERVER_IP}:{port}")
        if cp in LOSS_SPORTS:
            role = "bulk-random-loss"
        elif cp == SPURIOUS_SPORT:
            role = "spurious-retransmission"
        else:
            role = {1: "tail-loss-probe", 2: "probe-lost-rto"}[TAIL_DROPS[cp]["b"]]
        conns.append({
            "client": {"ip": CLIENT_IP, "port": cp}, "server": {"ip": SERVER_IP, "port": port},
            "proto": "tcp", "expected_conn_state": "SF", "role": role,
            "tail_drops": TAIL_DROPS.get(cp),
            "app": {"client_sent": rec["app_bytes_sent"], "client_received": rec["app_bytes_received"],
                    "server_received": (sr["received"] + 8) if sr and "received" in sr else None,
                    "reply": rec.get("reply")},
            "client_rto_min_us": rec.get("rto_min_us"),
            "tcp_info_client": rec["tcp_info"], "tcp_info_problems": rec["tcp_info_problems"],
            "tcp_info_server": sr and sr["tcp_info"],
            "netstat_delta_client": rec["netstat_delta"],
            "kernel_mechanism": kernel_mechanism(rec["netstat_delta"], tc),
            "wire": w,
            "delivery": delivery_truth(spcap, dpcap, cp, port),
            "receiver": receiver_view(pcap, dpcap, rpcap, cp, port, rwire, rts),
            "tracepoints": tc and {"summary": tc["summary"], "retransmits": tc["retransmits"],
                                   "ca_states": tc["ca_states"]},
            "crosscheck": {"tshark": ts and ts.get(str(cp)), "tcptrace": tt and tt.get(str(cp))},
        })
    truth["connections"] = conns
    truth["trace_sent_resets"] = tr["sent_resets"]

    def tot(f):
        return sum(f(c) or 0 for c in conns)
    truth["totals"] = {
        "wire_retrans_segments": tot(lambda c: c["wire"]["client_dir"]["retrans_segments"]),
        "tcpi_total_retrans": tot(lambda c: c["tcp_info_client"].get("total_retrans")),
        "tcpi_bytes_retrans": tot(lambda c: c["tcp_info_client"].get("bytes_retrans")),
        "tcpi_dsack_dups": tot(lambda c: c["tcp_info_client"].get("dsack_dups")),
        "tcpi_total_rto": tot(lambda c: c["tcp_info_client"].get("total_rto")),
        "nflog_dropped": tot(lambda c: (c["delivery"] or {}).get("dropped")),
        "spurious_duplicates": tot(lambda c: (c["delivery"] or {}).get("spurious_duplicates")),
        "kernel_fast": tot(lambda c: c["kernel_mechanism"]["fast"]),
        "kernel_rto": tot(lambda c: c["kernel_mechanism"]["rto"]),
        "kernel_tlp": tot(lambda c: c["kernel_mechanism"]["tlp"]),
        "wire_hole_fill_segments": tot(lambda c: c["wire"]["client_dir"]["hole_fill_segments"]),
        "receiver_retrans_arrived": tot(lambda c: c["receiver"]["retrans_arrived"]),
        "receiver_retrans_visible": tot(lambda c: c["receiver"]["retrans_visible"]),
        "receiver_retrans_in_order": tot(lambda c: c["receiver"]["retrans_in_order"]),
        "receiver_hole_fills": tot(lambda c: c["receiver"]["hole_fills"]),
        "receiver_tshark_out_of_order": tot(
            lambda c: (c["receiver"]["crosscheck_tshark"] or {}).get("out_of_order")),
        "client_qdisc_drops": sum(q.get("drops", 0) for q in truth["setup"]["client_qdisc_stats"] or []),
    }
    return truth


def sc_think(ctx, pair, procs, dumps):
    srv = spawn(ctx, pair, "s", "think-server")
    procs.append(srv)
    srv.expect("ready", 10)
    dump, pcap = start_capture(ctx, pair, "think", dumps)
    ctx.trace.clear()
    cli = spawn(ctx, pair, "c", "think-client")
    procs.append(cli)
    crec = collect(cli, 60)
    time.sleep(0.1)
    srv.send("stop")
    srec = collect(srv, 10)
    st = finish_capture(dump)
    tr = trace_summary(ctx.trace.read())
    truth = base_truth("think", pair, st)
    truth["think_s"] = THINK
    truth["request_bytes"], truth["response_bytes"] = THINK_REQ, THINK_RESP
    wire = wire_tcp(pcap)
    conns = []
    for rec in crec:
        cp = rec["client_port"]
        sr = next((x for x in srec if x["peer_port"] == cp), {})
        w = next(x for x in wire if x["client"]["port"] == cp)
        tc = tr["connections"].get(f"{CLIENT_IP}:{cp}>{SERVER_IP}:{THINK_PORT}")
        conns.append({
            "proto": "tcp", "client": {"ip": CLIENT_IP, "port": cp},
            "server": {"ip": SERVER_IP, "port": THINK_PORT}, "expected_conn_state": "SF",
            "turns": rec["turns"], "client_rt_s": rec["client_rt_s"],
            "server_sleep_s": sr.get("server_sleep_s"),
            "app": {"client_sent": rec["app_bytes_sent"], "client_received": rec["app_bytes_received"]},
            "tcp_info_client": rec["tcp_info"], "wire": w,
            "wire_response_times_ms": w["response_times_ms"],
            "retransmissions_traced": tc["summary"]["ok"] if tc else 0,
        })
    truth["connections"] = conns
    truth["trace_status"] = ctx.trace.status
    return truth


def sc_states(ctx, pair, procs, dumps):
    ruleset = f"""table inet rtgt {{
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {ST_BLACKHOLE_PORT} tcp flags & (syn|ack) == syn counter drop comment "s0"
  }}
}}
"""
    pair.exec_s("nft", "-f", "-", input=ruleset)
    srv = spawn(ctx, pair, "s", "states-server")
    procs.append(srv)
    srv.expect("ready", 10)
    dump, pcap = start_capture(ctx, pair, "states", dumps)
    snmp_c0 = read_snmp(pair.ns_c)
    ctx.trace.clear()
    cli = spawn(ctx, pair, "c", "states-client")
    procs.append(cli)
    cli.expect("holding", 30)
    time.sleep(0.2)
    snmp_c1 = read_snmp(pair.ns_c)
    st = finish_capture(dump)          # S1/S2/S3 are still open here
    events = ctx.trace.read()
    cli.send("release")
    srv.send("release")
    crec = collect(cli, 15)
    srv.send("stop")
    srec = collect(srv, 10)
    nft = json.loads(pair.exec_s("nft", "-j", "list", "ruleset").stdout)
    syn_drops = None
    for item in nft["nftables"]:
        r = item.get("rule")
        if r and r.get("comment") == "s0":
            syn_drops = next(ex["counter"] for ex in r["expr"] if "counter" in ex)
    tr = trace_summary(events)
    wire = wire_tcp(pcap)
    truth = base_truth("states", pair, st)
    truth["netstat_delta"] = {"client": snmp_delta(snmp_c0, snmp_c1)}
    truth["nft_syn_drops"] = syn_drops
    truth["trace_status"] = ctx.trace.status
    truth["trace_sent_resets"] = tr["sent_resets"]
    conns = []
    for name, cport, sport, state, resetter in STATES:
        rec = next((r for r in crec if r["name"] == name), {})
        w = next((x for x in wire if x["client"]["port"] == cport), None)
        tc = tr["connections"].get(f"{CLIENT_IP}:{cport}>{SERVER_IP}:{sport}")
        resets = [r for r in tr["sent_resets"] if r["src"].endswith(f":{cport}")
                  or r["dst"].endswith(f":{cport}")]
        c = {"name": name, "proto": "tcp", "client": {"ip": CLIENT_IP, "port": cport},
             "server": {"ip": SERVER_IP, "port": sport}, "expected_conn_state": state,
             "reset_by": resetter, "app": rec, "wire": w,
             "kernel_resets_sent": resets,
             "kernel_syn_retransmits_traced": tc["summary"]["syn"] if tc else None}
        if name == "S0":
            # S0 is the only connection here whose SYN is ever re-sent, so the
            # namespace counter is this connection's
            c["kernel_syn_retransmits"] = truth["netstat_delta"]["client"].get(
                "TcpExt.TCPSynRetrans", 0)
            c["syns_sent"] = 1 + c["kernel_syn_retransmits"]
        conns.append(c)
    truth["connections"] = conns
    truth["server_records"] = srec
    return truth


def sc_dns(ctx, pair, procs, dumps):
    srv = spawn(ctx, pair, "s", "dns-server")
    procs.append(srv)
    srv.expect("ready", 10)
    dump, pcap = start_capture(ctx, pair, "dns", dumps)
    cli = spawn(ctx, pair, "c", "dns-client")
    procs.append(cli)
    crec = collect(cli, 60)
    time.sleep(0.1)
    srv.send("stop")
    srec = collect(srv, 10)
    st = finish_capture(dump)
    truth = base_truth("dns", pair, st)
    queries = []
    for r in crec:
        delay, rcode = DNS_NAMES[r["name"]]
        s = next((x for x in srec if x["id"] == r["id"]), {})
        exp = "unanswered" if delay is None else RCODE_NAMES[rcode]
        got = "unanswered" if r["rcode"] is None else RCODE_NAMES.get(r["rcode"], str(r["rcode"]))
        if got != exp:
            raise Fail(f"dns query {r['id']} {r['name']}: expected {exp}, client saw {got}")
        queries.append({"transport": r["transport"], "proto": r["transport"],
                        "client": {"ip": CLIENT_IP, "port": r["client_port"]},
                        "server": {"ip": SERVER_IP, "port": DNS_PORT},
                        "name": r["name"], "qtype": r["qtype"], "id": r["id"],
                        "expected": exp, "configured_delay_s": delay,
                        "server_delay_s": s.get("server_delay_s"),
                        "client_rt_s": r["client_rt_s"]})
    answered = [q for q in queries if q["expected"] != "unanswered"]
    rc = {}
    for q in answered:
        rc[q["expected"]] = rc.get(q["expected"], 0) + 1
    names = {}
    for q in queries:
        names[q["name"]] = names.get(q["name"], 0) + 1
    wd = wire_dns(pcap)
    for q in queries:
        w = wd.get(f"{q['transport']}:{q['client']['port']}:{q['id']}")
        if not w or w["queries_seen"] != 1:
            raise Fail(f"dns query {q['id']} not (exactly once) in the capture: {w}")
        if (w["rcode"] or "unanswered") != q["expected"]:
            raise Fail(f"dns query {q['id']}: capture shows {w['rcode']}, expected {q['expected']}")
        q["wire_latency_ms"] = w["latency_ms"]
        q["wire_query_ts_ns"] = w["query_ts_ns"]
    truth["queries"] = queries
    truth["totals"] = {
        "queries": len(queries), "responses": len(answered),
        "unanswered": len(queries) - len(answered), "rcodes": rc,
        "wire_latency_ms_sorted": sorted(q["wire_latency_ms"] for q in answered),
        "capture_after_last_unanswered_s": round(
            (max(q["wire_query_ts_ns"] for q in queries)
             - max(q["wire_query_ts_ns"] for q in queries if q["expected"] == "unanswered")) / 1e9, 3),
        "udp_queries": sum(q["transport"] == "udp" for q in queries),
        "tcp_queries": sum(q["transport"] == "tcp" for q in queries),
        "names": names,
    }
    truth["wire_tcp"] = wire_tcp(pcap)
    return truth


def sc_backlog(ctx, pair, procs, dumps):
    srv = spawn(ctx, pair, "s", "backlog-server")
    procs.append(srv)
    srv.expect("ready", 10)
    dump, pcap = start_capture(ctx, pair, "backlog", dumps)
    snmp_c0, snmp_s0 = read_snmp(pair.ns_c), read_snmp(pair.ns_s)
    ctx.trace.clear()
    cli = spawn(ctx, pair, "c", "backlog-client")
    procs.append(cli)
    held = srv.expect("accepting", 15)
    crec = collect(cli, BACKLOG_CONNECT_TIMEOUT + 20)
    time.sleep(0.1)
    srv.send("stop")
    srec = collect(srv, 10)
    snmp_c1, snmp_s1 = read_snmp(pair.ns_c), read_snmp(pair.ns_s)
    st = finish_capture(dump)
    tr = trace_summary(ctx.trace.read())
    wire = wire_tcp(pcap)
    truth = base_truth("backlog", pair, st)
    nd = {"client": snmp_delta(snmp_c0, snmp_c1), "server": snmp_delta(snmp_s0, snmp_s1)}
    truth["netstat_delta"] = nd
    truth["listen_backlog"] = BACKLOG
    truth["listen_backlog_resumed"] = BACKLOG_RESUMED
    truth["server_tcp_syncookies"] = int(
        pair.exec_s("sysctl", "-n", "net.ipv4.tcp_syncookies").stdout.strip())
    truth["server_held_s"] = held["held_s"]
    truth["trace_status"] = ctx.trace.status
    if len(crec) != BACKLOG_CLIENTS:
        raise Fail(f"backlog: {len(crec)} of {BACKLOG_CLIENTS} clients reported")
    conns = []
    for rec in sorted(crec, key=lambda r: r["client_port"]):
        cp = rec["client_port"]
        sr = next((x for x in srec if x["peer_port"] == cp), {})
        w = next((x for x in wire if x["client"]["port"] == cp), None)
        if w is None:
            raise Fail(f"backlog: client port {cp} not in the capture")
        tc = tr["connections"].get(f"{CLIENT_IP}:{cp}>{SERVER_IP}:{BACKLOG_PORT}")
        traced = (tc["summary"]["syn"] if tc else 0) if ctx.trace.status == "ok" else None
        conns.append({
            "proto": "tcp", "client": {"ip": CLIENT_IP, "port": cp},
            "server": {"ip": SERVER_IP, "port": BACKLOG_PORT}, "expected_conn_state": "SF",
            "connect_s": rec["connect_s"], "started_s": rec["started_s"],
            "client_scheduling": rec["scheduling"],
            "server_accepted_s": sr.get("accepted_s"),
            "app": {"client_sent": rec["app_bytes_sent"],
                    "client_received": rec["app_bytes_received"],
                    "server_echoed": sr.get("echoed")},
            "wire_syns": w["syns"],
            # this connection's SYN retransmissions by the kernel's own count
            # (tcp_retransmit_skb in SYN_SENT), when the tracepoints work
            "kernel_syn_retransmits_traced": traced,
            "syns_sent": None if traced is None else 1 + traced,
            "tcp_info_client": rec["tcp_info"], "wire": w,
        })
    truth["connections"] = conns
    truth["totals"] = {
        "connections": len(conns),
        "retried": sum(c["wire_syns"] > 1 for c in conns),
        "wire_syn_retransmits": sum(c["wire_syns"] - 1 for c in conns),
        "kernel_syn_retransmits": nd["client"].get("TcpExt.TCPSynRetrans", 0),
        "listen_overflows": nd["server"].get("TcpExt.ListenOverflows", 0),
        "listen_drops": nd["server"].get("TcpExt.ListenDrops", 0),
        "syncookies_sent": nd["server"].get("TcpExt.SyncookiesSent", 0),
        "connect_s_sorted": sorted(c["connect_s"] for c in conns),
    }
    return truth


SCENARIO_FUNCS = {"loss": sc_loss, "think": sc_think, "states": sc_states, "dns": sc_dns,
                  "backlog": sc_backlog}


# ================================================================ checks / main
def check_env():
    """Returns None if this machine can run the scenarios, else the reason."""
    if os.geteuid() != 0:
        return "not root (network namespaces, nftables and tcpdump need root)"
    for tool in ("ip", "tcpdump", "nft", "tc", "ethtool"):
        if not shutil.which(tool):
            return f"missing tool: {tool}"
    ns = f"rtgt{os.getpid()}-probe"
    try:
        r = subprocess.run(["ip", "netns", "add", ns], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        if r.returncode != 0:
            return f"cannot create a network namespace: {r.stderr.strip()}"
        for what, cmd in (
                ("nftables", ["ip", "netns", "exec", ns, "nft", "list", "ruleset"]),
                ("veth", ["ip", "-n", ns, "link", "add", "gtp0", "type", "veth", "peer",
                          "name", "gtp1"]),
                ("tc tbf", ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "gtp0",
                            "root", "tbf", *TBF.split()]),
                ("tcpdump NFLOG", ["ip", "netns", "exec", ns, "tcpdump", "-D"])):
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=10)
            if r.returncode != 0:
                return f"{what} unusable in a network namespace: {r.stderr.strip()}"
            if what == "tcpdump NFLOG" and "nflog" not in r.stdout:
                return "tcpdump/libpcap without NFLOG support"
    finally:
        subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return None


def remove_stale():
    """Namespaces / trace instances left by runs that were killed (their pid
    is gone). Only names this script creates (rtgt<pid>...) are touched."""
    r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"rtgt(\d+)-", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            log(f"removing stale namespace {name}")
            Pair.delete_ns(name)
    for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        inst = os.path.join(root, "instances")
        if not os.path.isdir(inst):
            continue
        for name in os.listdir(inst):
            m = re.match(r"rtgt(\d+)$", name)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                try:
                    os.rmdir(os.path.join(inst, name))
                except OSError:
                    pass
        break


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_agent":
        return agent_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only this scenario (repeatable); default: all")
    ap.add_argument("--loss-bytes", type=int, default=3_000_000,
                    help="total bytes the client sends in `loss` (split over 3 connections)")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep OUTDIR/.work (helper logs) even on success")
    ap.add_argument("--check", action="store_true",
                    help="only check that this machine can run the scenarios "
                         "(exit 0, or 77 with the reason on stdout)")
    opts = ap.parse_args()
    if opts.check:
        why = check_env()
        if why:
            print(why)
            return 77
        print("ok")
        return 0
    if not opts.outdir:
        ap.error("OUTDIR is required")
    why = check_env()
    if why:
        log(why)
        return 77
    os.makedirs(opts.outdir, exist_ok=True)
    outdir = os.path.abspath(opts.outdir)
    workdir = os.path.join(outdir, ".work")
    os.makedirs(workdir, exist_ok=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    lockf = open(os.path.join("/tmp", "retina-groundtruth.lock"), "w")
    t_lock = time.time()
    while True:   # tracepoints are global: one run at a time (bounded wait)
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES) or time.time() - t_lock > 300:
                log("could not get /tmp/retina-groundtruth.lock within 300 s")
                return 1
            time.sleep(0.2)
    remove_stale()
    trace = Trace()
    log(f"kernel {platform.release()}; tracepoints: {trace.status}")
    ctx = Ctx(outdir, workdir, trace, opts)
    summary = {}
    rc = 0
    try:
        for name in opts.scenario or SCENARIOS:
            t0 = time.time()
            log(f"scenario {name} ...")
            truth = run_scenario(ctx, name)
            truth["generated_by"] = "scripts/groundtruth/run.py"
            truth["duration_s"] = round(time.time() - t0, 2)
            with open(os.path.join(outdir, f"{name}.truth.json"), "w") as f:
                json.dump(truth, f, indent=1, sort_keys=False)
                f.write("\n")
            summary[name] = truth["duration_s"]
            log(f"scenario {name}: done in {truth['duration_s']} s")
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    except Fail as e:
        log(f"FAILED: {e}")
        rc = 1
    except Exception:  # noqa: BLE001 - report, clean up, keep the logs
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        trace.close()
        if rc == 0 and not opts.keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
        lockf.close()
    if rc == 0:
        log(f"all done: {summary}")
    else:
        log(f"helper logs: {workdir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
