#!/usr/bin/env python3
"""Traffic helper for scripts/make-testdata.sh (python3 stdlib only).

Runs inside network namespaces created by make-testdata.sh and only ever
talks to the address given on the command line (a 10.99.x.x / fd00:99::x
address living in a namespace the script created).

  traffic.py server --addr ADDR [--ready FILE]
      TCP 8080  HTTP-like: reads one request (until CRLFCRLF), answers with a
                small HTTP/1.1 response, then closes (server sends FIN first).
      TCP 8081  bulk: reads one request, sends BULK_BYTES (200000) bytes, closes.
      TCP 8082  echo: echoes whatever it gets until the peer goes away
                (the client aborts this one with an RST).
      UDP 5300  request/response: answers each datagram with b"pong:" + the
                first 32 bytes of the request and "len=N".
      Nothing listens on TCP 8099 or UDP 5399 (closed ports).

  traffic.py client --addr ADDR --profile full|small|tiny
      Runs a fixed sequence of exchanges against the server, binding every
      client socket to a FIXED source port so the 5-tuples in the captures
      are deterministic (see testdata/README.md for the port table).

  traffic.py ping --addr ADDR --count N --size S
      Fallback ICMP/ICMPv6 echo (raw socket) used only when /usr/bin/ping is
      not installed.
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

HTTP_PORT = 8080
BULK_PORT = 8081
ECHO_PORT = 8082
CLOSED_TCP_PORT = 8099
UDP_PORT = 5300
CLOSED_UDP_PORT = 5399
BULK_BYTES = 200_000
BIG_UDP_BYTES = 3000

# fixed client source ports
SPORT_HTTP = (40001, 40002, 40003)
SPORT_BULK = 40010
SPORT_CLOSED_TCP = 40020
SPORT_ABORT = 40030
SPORT_UDP = 40040
SPORT_CLOSED_UDP = 40050
SPORT_BIG_UDP = 40060

IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_DONT = getattr(socket, "IP_PMTUDISC_DONT", 0)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def log(*a):
    print("[traffic]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- server
def read_request(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def serve_tcp(lsock, handler):
    while True:
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def h_http(conn):
    with conn:
        req = read_request(conn)
        path = b"/"
        if req:
            parts = req.split(b" ")
            if len(parts) > 1:
                path = parts[1]
        body = b"hello from retina-analyze testdata, path=" + path + b"\n"
        resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: " + str(len(body)).encode() +
                b"\r\nConnection: close\r\n\r\n" + body)
        conn.sendall(resp)
        conn.shutdown(socket.SHUT_WR)
        # drain until the client closes too
        while conn.recv(4096):
            pass


def h_bulk(conn):
    with conn:
        read_request(conn)
        # one big write: the kernel cuts it into MSS-sized segments
        conn.sendall(bytes((i * 7 + 3) & 0xFF for i in range(BULK_BYTES)))
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass


def h_echo(conn):
    with conn:
        try:
            while True:
                d = conn.recv(4096)
                if not d:
                    break
                conn.sendall(d)
        except ConnectionResetError:
            pass


def serve_udp(usock):
    while True:
        try:
            data, peer = usock.recvfrom(65535)
        except OSError:
            return
        reply = b"pong:" + data[:32] + b" len=" + str(len(data)).encode()
        usock.sendto(reply, peer)


def cmd_server(args):
    fam = family_of(args.addr)
    socks = []
    for port, handler in ((HTTP_PORT, h_http), (BULK_PORT, h_bulk),
                          (ECHO_PORT, h_echo)):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.addr, port))
        s.listen(16)
        socks.append(s)
        threading.Thread(target=serve_tcp, args=(s, handler), daemon=True).start()
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((args.addr, UDP_PORT))
    if fam == socket.AF_INET:
        u.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    socks.append(u)
    threading.Thread(target=serve_udp, args=(u,), daemon=True).start()
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    log("server up on", args.addr)
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------- client
def tcp_connect(addr, port, sport):
    fam = family_of(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", sport))
    s.settimeout(10)
    s.connect((addr, port))
    return s


def recv_all(s):
    out = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            return bytes(out)
        out += d


def do_http(addr, sport, n):
    s = tcp_connect(addr, HTTP_PORT, sport)
    host = f"[{addr}]" if ":" in addr else addr
    s.sendall(f"GET /item/{n} HTTP/1.1\r\nHost: {host}:{HTTP_PORT}\r\n"
              f"User-Agent: retina-testdata\r\n\r\n".encode())
    data = recv_all(s)
    s.close()
    log(f"http #{n}: {len(data)} bytes")


def do_bulk(addr):
    s = tcp_connect(addr, BULK_PORT, SPORT_BULK)
    s.sendall(b"GET /bulk HTTP/1.1\r\n\r\n")
    data = recv_all(s)
    s.close()
    log(f"bulk: {len(data)} bytes")
    assert len(data) == BULK_BYTES, len(data)


def do_closed_tcp(addr):
    try:
        s = tcp_connect(addr, CLOSED_TCP_PORT, SPORT_CLOSED_TCP)
        s.close()
        log("closed tcp port unexpectedly accepted")
    except ConnectionRefusedError:
        log("closed tcp: refused (RST) as expected")


def do_abort(addr):
    s = tcp_connect(addr, ECHO_PORT, SPORT_ABORT)
    s.sendall(b"hello, about to abort\n")
    got = s.recv(4096)
    log(f"abort: echoed {len(got)} bytes, closing with SO_LINGER 0 -> RST")
    time.sleep(0.05)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def udp_sock(addr, sport):
    fam = family_of(addr)
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind(("", sport))
    u.settimeout(3)
    if fam == socket.AF_INET:
        u.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    return u


def do_udp(addr, count):
    u = udp_sock(addr, SPORT_UDP)
    for i in range(count):
        u.sendto(f"ping {i} from retina-testdata".encode(), (addr, UDP_PORT))
        data, _ = u.recvfrom(65535)
        log(f"udp #{i}: reply {len(data)} bytes")
        time.sleep(0.02)
    u.close()


def do_closed_udp(addr):
    u = udp_sock(addr, SPORT_CLOSED_UDP)
    u.connect((addr, CLOSED_UDP_PORT))
    u.send(b"anyone listening on 5399?")
    try:
        u.recv(65535)
        log("closed udp: unexpected reply")
    except ConnectionRefusedError:
        log("closed udp: ICMP port unreachable -> ECONNREFUSED as expected")
    except socket.timeout:
        log("closed udp: timeout (no ICMP seen?)")
    u.close()


def do_big_udp(addr):
    u = udp_sock(addr, SPORT_BIG_UDP)
    payload = bytes((i * 13 + 1) & 0xFF for i in range(BIG_UDP_BYTES))
    u.sendto(payload, (addr, UDP_PORT))
    data, _ = u.recvfrom(65535)
    log(f"big udp: sent {len(payload)}, reply {len(data)} bytes")
    u.close()


def cmd_client(args):
    a = args.addr
    gap = 0.1
    if args.profile == "tiny":
        do_http(a, SPORT_HTTP[0], 1)
        return
    n_http = 3 if args.profile == "full" else 2
    for i in range(n_http):
        do_http(a, SPORT_HTTP[i], i + 1)
        time.sleep(gap)
    if args.profile == "full":
        do_bulk(a)
        time.sleep(gap)
        do_closed_tcp(a)
        time.sleep(gap)
        do_abort(a)
        time.sleep(gap)
    do_udp(a, 3)
    time.sleep(gap)
    if args.profile == "full":
        do_closed_udp(a)
        time.sleep(gap)
        do_big_udp(a)
        time.sleep(gap)


# ---------------------------------------------------------------- ping fallback
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def cmd_ping(args):
    fam = family_of(args.addr)
    if fam == socket.AF_INET:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        etype = 8
    else:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        etype = 128  # kernel fills in the ICMPv6 checksum
    s.settimeout(2)
    ident = os.getpid() & 0xFFFF
    payload = bytes(i & 0xFF for i in range(args.size))
    for seq in range(1, args.count + 1):
        hdr = struct.pack("!BBHHH", etype, 0, 0, ident, seq)
        c = csum(hdr + payload) if fam == socket.AF_INET else 0
        pkt = struct.pack("!BBHHH", etype, 0, c, ident, seq) + payload
        s.sendto(pkt, (args.addr, 0))
        try:
            s.recv(65535)
        except socket.timeout:
            log(f"ping seq {seq}: timeout")
        time.sleep(0.2)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("server")
    ps.add_argument("--addr", required=True)
    ps.add_argument("--ready")
    pc = sub.add_parser("client")
    pc.add_argument("--addr", required=True)
    pc.add_argument("--profile", choices=["full", "small", "tiny"], default="full")
    pp = sub.add_parser("ping")
    pp.add_argument("--addr", required=True)
    pp.add_argument("--count", type=int, default=3)
    pp.add_argument("--size", type=int, default=56)
    args = p.parse_args()
    {"server": cmd_server, "client": cmd_client, "ping": cmd_ping}[args.cmd](args)


if __name__ == "__main__":
    main()
