#!/usr/bin/env python3
"""Writes hand-built edge-case captures to testdata/edge/ (python3 stdlib only).

    python3 scripts/make-edge-cases.py [OUTDIR]

Everything is deterministic: no randomness, no wall-clock time. Re-running the
script produces byte-identical files. It also (re)writes
testdata/edge/README.md and testdata/edge/expected.json, both GENERATED from
the same packet descriptions used to build the files, so the documented
values (counts, lengths, timestamps, damage offsets) are independent of the
analyzer under test.

Addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32) and 10.x; no traffic is ever sent.
"""
import ipaddress
import json
import os
import struct
import sys
from collections import OrderedDict

BASE_S = 1_700_000_000  # 2023-11-14T22:13:20Z
NS = 1_000_000_000


# =========================================================================
# checksums and protocol builders
# =========================================================================
def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip_obj(a):
    return ipaddress.ip_address(a)


def is_v6(a):
    return ip_obj(a).version == 6


def pseudo(src, dst, proto, length):
    s, d = ip_obj(src).packed, ip_obj(dst).packed
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


_ipid = {}


def next_ipid(src):
    v = _ipid.get(src, 0x1000 + 0x100 * len(_ipid))
    _ipid[src] = v + 1
    return v


def ipv4_header(src, dst, proto, payload_len, ident, ttl=64, df=True,
                mf=False, frag_off8=0, tos=0):
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag_off8
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident,
                      flags, ttl, proto, 0, ip_obj(src).packed,
                      ip_obj(dst).packed)
    c = csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:]


def ipv6_header(src, dst, next_header, payload_len, hlim=64, flow=0):
    return struct.pack("!IHBB16s16s", (6 << 28) | flow, payload_len,
                       next_header, hlim, ip_obj(src).packed,
                       ip_obj(dst).packed)


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload=b"",
                window=64240, options=b""):
    fl = 0
    for ch, bit in (("F", 1), ("S", 2), ("R", 4), ("P", 8), ("A", 16),
                    ("U", 32)):
        if ch in flags:
            fl |= bit
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, fl,
                      window, 0, 0) + options
    seg = hdr + payload
    c = csum(pseudo(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp_datagram(src, dst, sport, dport, payload):
    ln = 8 + len(payload)
    d = struct.pack("!HHHH", sport, dport, ln, 0) + payload
    c = csum(pseudo(src, dst, 17, ln) + d)
    if c == 0:
        c = 0xFFFF
    return d[:6] + struct.pack("!H", c) + d[8:]


def icmp4(typ, code, rest4, body):
    m = struct.pack("!BBH", typ, code, 0) + rest4 + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def icmp6(src, dst, typ, code, rest4, body):
    m = struct.pack("!BBH", typ, code, 0) + rest4 + body
    c = csum(pseudo(src, dst, 58, len(m)) + m)
    return m[:2] + struct.pack("!H", c) + m[4:]


TCP_FLAG_ORDER = "FSRPAU"


# =========================================================================
# L3 packet description: bytes + metadata used for documentation
# =========================================================================
class L3:
    """An IP packet (bytes) plus what the documentation says about it."""

    def __init__(self, data, meta):
        self.data = data
        self.meta = meta


def ip_wrap(src, dst, proto, l4, ttl=64, df=True, ident=None, ext=None,
            ext_desc=None):
    """Put an L4 message into IPv4 or IPv6. ext: list of (nh_code, bytes)
    extension headers for IPv6 (nh_code is the type of the header itself)."""
    if is_v6(src):
        ext = ext or []
        chain = b""
        # each ext header's first byte is its Next Header: patch them
        codes = [c for c, _ in ext] + [proto]
        for i, (c, body) in enumerate(ext):
            chain += bytes([codes[i + 1]]) + body[1:]
        first = codes[0]
        payload = chain + l4
        return ipv6_header(src, dst, first, len(payload), hlim=ttl) + payload
    if ident is None:
        ident = next_ipid(src)
    return ipv4_header(src, dst, proto, len(l4), ident, ttl=ttl, df=df) + l4


def base_meta(src, dst, proto, ip_len, l4_payload, **kw):
    m = OrderedDict(ip="IPv6" if is_v6(src) else "IPv4", src=src, dst=dst,
                    proto=proto, ip_len=ip_len, l4_payload=l4_payload)
    m.update(kw)
    return m


def mk_tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", mss=None,
           ttl=64, ext=None, window=64240):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    seg = tcp_segment(src, dst, sport, dport, seq, ack, flags, payload,
                      window=window, options=opts)
    pkt = ip_wrap(src, dst, 6, seg, ttl=ttl, ext=ext)
    fl = "".join(ch for ch in TCP_FLAG_ORDER if ch in flags)
    return L3(pkt, base_meta(src, dst, "TCP", len(pkt), len(payload),
                             sport=sport, dport=dport, tcp_flags=fl,
                             seq=seq, ack=ack if "A" in flags else None,
                             tcp_hdr_len=20 + len(opts)))


def mk_udp(src, dst, sport, dport, payload, ext=None, ttl=64):
    d = udp_datagram(src, dst, sport, dport, payload)
    pkt = ip_wrap(src, dst, 17, d, ext=ext, ttl=ttl)
    return L3(pkt, base_meta(src, dst, "UDP", len(pkt), len(payload),
                             sport=sport, dport=dport))


def mk_echo(src, dst, ident, seq, payload, reply=False):
    rest = struct.pack("!HH", ident, seq)
    if is_v6(src):
        m = icmp6(src, dst, 129 if reply else 128, 0, rest, payload)
        pkt = ip_wrap(src, dst, 58, m)
        proto = "ICMPv6"
        typ = 129 if reply else 128
    else:
        m = icmp4(0 if reply else 8, 0, rest, payload)
        pkt = ip_wrap(src, dst, 1, m)
        proto = "ICMP"
        typ = 0 if reply else 8
    return L3(pkt, base_meta(src, dst, proto, len(pkt), len(payload),
                             icmp_type=typ, icmp_code=0, icmp_id=ident,
                             icmp_seq=seq))


# =========================================================================
# canned sessions (relative timestamps in ns)
# =========================================================================
def tcp_session(cli, srv, cport, sport, req, resp, t0_ns, isn_c=1000,
                isn_s=5000, ext_c=None, ext_s=None, step_us=None,
                flow_name=None):
    """9-packet TCP session: 3WHS, request, response, ACK, FIN, FIN, ACK.
    Returns list of (ts_ns, L3, dir)."""
    step_us = step_us or [0, 120, 180, 1000, 1350, 1500, 2000, 2150, 2300]
    c, s = isn_c, isn_s
    r, p = len(req), len(resp)
    pk = [
        ("c", mk_tcp(cli, srv, cport, sport, c, 0, "S", mss=1460, ext=ext_c)),
        ("s", mk_tcp(srv, cli, sport, cport, s, c + 1, "SA", mss=1460,
                     ext=ext_s)),
        ("c", mk_tcp(cli, srv, cport, sport, c + 1, s + 1, "A", ext=ext_c)),
        ("c", mk_tcp(cli, srv, cport, sport, c + 1, s + 1, "PA", req,
                     ext=ext_c)),
        ("s", mk_tcp(srv, cli, sport, cport, s + 1, c + 1 + r, "PA", resp,
                     ext=ext_s)),
        ("c", mk_tcp(cli, srv, cport, sport, c + 1 + r, s + 1 + p, "A",
                     ext=ext_c)),
        ("c", mk_tcp(cli, srv, cport, sport, c + 1 + r, s + 1 + p, "FA",
                     ext=ext_c)),
        ("s", mk_tcp(srv, cli, sport, cport, s + 1 + p, c + 2 + r, "FA",
                     ext=ext_s)),
        ("c", mk_tcp(cli, srv, cport, sport, c + 2 + r, s + 2 + p, "A",
                     ext=ext_c)),
    ]
    out = []
    for i, (d, l3) in enumerate(pk):
        l3.meta["flow"] = flow_name or flow_key("TCP", cli, cport, srv, sport)
        l3.meta["dir"] = "c2s" if d == "c" else "s2c"
        out.append((t0_ns + step_us[i] * 1000, l3))
    return out


def flow_key(proto, a, ap, b, bp):
    fa = f"[{a}]:{ap}" if is_v6(a) else f"{a}:{ap}"
    fb = f"[{b}]:{bp}" if is_v6(b) else f"{b}:{bp}"
    return f"{proto} {fa} -> {fb}"


def udp_exchange(cli, srv, cport, sport, pairs, t0_ns, gap_us=400,
                 rtt_us=150):
    """pairs: list of (request_bytes, response_bytes_or_None)."""
    out = []
    key = flow_key("UDP", cli, cport, srv, sport)
    t = t0_ns
    for req, resp in pairs:
        l3 = mk_udp(cli, srv, cport, sport, req)
        l3.meta.update(flow=key, dir="c2s")
        out.append((t, l3))
        if resp is not None:
            l3 = mk_udp(srv, cli, sport, cport, resp)
            l3.meta.update(flow=key, dir="s2c")
            out.append((t + rtt_us * 1000, l3))
        t += gap_us * 1000
    return out


def echo_exchange(cli, srv, ident, count, t0_ns, size=56, gap_us=1000,
                  rtt_us=60):
    out = []
    key = ("ICMPv6" if is_v6(cli) else "ICMP") + \
        f" echo {cli} -> {srv} id=0x{ident:04x}"
    for i in range(count):
        payload = bytes((j + i) & 0xFF for j in range(size))
        t = t0_ns + i * gap_us * 1000
        q = mk_echo(cli, srv, ident, i + 1, payload)
        q.meta.update(flow=key, dir="c2s")
        r = mk_echo(srv, cli, ident, i + 1, payload, reply=True)
        r.meta.update(flow=key, dir="s2c")
        out += [(t, q), (t + rtt_us * 1000, r)]
    return out


# =========================================================================
# link layers
# =========================================================================
def mac_for(ip):
    b = ip_obj(ip).packed
    return b"\x02\x00" + b[-4:]


def mac_str(m):
    return ":".join(f"{x:02x}" for x in m)


def ethertype_of(l3):
    return 0x86DD if (l3[0] >> 4) == 6 else 0x0800


def eth(l3, src_mac=None, dst_mac=None, tags=()):
    """tags: sequence of (tpid, vid, pcp) outermost first."""
    if src_mac is None or dst_mac is None:
        # derive from the IP addresses (IPv4 src at 12, IPv6 at 8)
        if (l3[0] >> 4) == 6:
            s, d = l3[8:24], l3[24:40]
        else:
            s, d = l3[12:16], l3[16:20]
        src_mac = src_mac or b"\x02\x00" + s[-4:]
        dst_mac = dst_mac or b"\x02\x00" + d[-4:]
    hdr = dst_mac + src_mac
    for tpid, vid, pcp in tags:
        hdr += struct.pack("!HH", tpid, (pcp << 13) | vid)
    return hdr + struct.pack("!H", ethertype_of(l3)) + l3


def sll(l3, pkttype, mac):
    # Linux cooked v1: always big-endian
    return struct.pack("!HHH8sH", pkttype, 1, 6, mac + b"\0\0",
                       ethertype_of(l3)) + l3


def null_hdr(l3, af, endian):
    return struct.pack(endian + "I", af) + l3


# =========================================================================
# file writers
# =========================================================================
class Rec:
    """One record as written to a file (after link-layer framing)."""

    def __init__(self, ts_ns, frame, l3=None, iface=0, caplen=None,
                 link=None, note=None, inner=None):
        self.ts_ns = ts_ns
        self.frame = frame
        self.origlen = len(frame)
        self.caplen = len(frame) if caplen is None else min(caplen, len(frame))
        self.l3 = l3
        self.iface = iface
        self.link = link
        self.note = note
        self.inner = inner  # L3 of the encapsulated packet (tunnels)
        self.offset = None  # file offset of the record/block header


def pcap_bytes(recs, endian="<", nsec=False, linktype=1, snaplen=65535,
               magic=None):
    if magic is None:
        magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = bytearray(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0,
                                snaplen, linktype))
    for r in recs:
        r.offset = len(out)
        sec, frac = divmod(r.ts_ns, NS)
        if not nsec:
            assert frac % 1000 == 0, "usec file needs usec-aligned timestamp"
            frac //= 1000
        out += struct.pack(endian + "IIII", sec, frac, r.caplen, r.origlen)
        out += r.frame[:r.caplen]
    return bytes(out)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def ng_opts(e, opts):
    """opts: list of (code, bytes). Adds opt_endofopt if non-empty."""
    if not opts:
        return b""
    out = b""
    for code, val in opts:
        out += struct.pack(e + "HH", code, len(val)) + pad4(val)
    return out + struct.pack(e + "HH", 0, 0)


def ng_block(e, btype, body):
    body = pad4(body)
    tl = 12 + len(body)
    return struct.pack(e + "II", btype, tl) + body + struct.pack(e + "I", tl)


def ng_shb(e, section_len=-1, opts=()):
    body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, section_len)
    return ng_block(e, 0x0A0D0D0A, body + ng_opts(e, list(opts)))


def ng_idb(e, linktype, snaplen, opts=()):
    body = struct.pack(e + "HHI", linktype, 0, snaplen)
    return ng_block(e, 1, body + ng_opts(e, list(opts)))


def ng_epb(e, iface, ts_units, caplen, origlen, data, opts=()):
    body = struct.pack(e + "IIIII", iface, ts_units >> 32,
                       ts_units & 0xFFFFFFFF, caplen, origlen)
    return ng_block(e, 6, body + pad4(data) + ng_opts(e, list(opts)))


def ng_spb(e, origlen, data):
    return ng_block(e, 3, struct.pack(e + "I", origlen) + pad4(data))


def ng_isb(e, iface, ts_units, opts=()):
    body = struct.pack(e + "III", iface, ts_units >> 32, ts_units & 0xFFFFFFFF)
    return ng_block(e, 5, body + ng_opts(e, list(opts)))


def ng_nrb(e, records):
    body = b""
    for rtype, val in records:
        body += struct.pack(e + "HH", rtype, len(val)) + pad4(val)
    body += struct.pack(e + "HH", 0, 0)
    return ng_block(e, 4, body)


def ns_to_units(ts_ns, tsresol):
    """Convert exact ns to the interface's units; asserts exactness."""
    if tsresol & 0x80:
        per_sec = 1 << (tsresol & 0x7F)
    else:
        per_sec = 10 ** tsresol
    num = ts_ns * per_sec
    assert num % NS == 0, (ts_ns, tsresol)
    return num // NS


def opt_str(s):
    return s.encode()


# =========================================================================
# documentation model
# =========================================================================
FILES = OrderedDict()   # name -> dict(desc, recs, extra)


def fmt_ts(ns):
    return f"{ns // NS}.{ns % NS:09d}"


def rec_summary(r):
    m = r.l3.meta if r.l3 is not None else None
    if m is None:
        return r.note or ""
    def hp(a, p):
        if p is None:
            return a
        return f"[{a}]:{p}" if ":" in a else f"{a}:{p}"
    s = f"{m['proto']} {hp(m['src'], m.get('sport'))} > " \
        f"{hp(m['dst'], m.get('dport'))}"
    if m["proto"] == "TCP":
        s += f" [{m['tcp_flags']}] seq={m['seq']}"
        if m["ack"] is not None:
            s += f" ack={m['ack']}"
    if "icmp_type" in m:
        s += f" type={m['icmp_type']} code={m['icmp_code']}"
        if "icmp_id" in m:
            s += f" id=0x{m['icmp_id']:04x} seq={m['icmp_seq']}"
    if m.get("frag"):
        s += f" FRAG({m['frag']})"
    if m.get("ext"):
        s += f" ext=[{m['ext']}]"
    if r.note:
        s += f" -- {r.note}"
    return s


def rec_json(i, r):
    d = OrderedDict(index=i + 1,
                    ts=fmt_ts(r.ts_ns) if r.ts_ns is not None else None,
                    ts_ns=r.ts_ns,
                    caplen=r.caplen, origlen=r.origlen, offset=r.offset)
    if r.iface is not None:
        d["iface"] = r.iface
    if r.link:
        d["link"] = r.link
    if r.l3 is not None:
        d.update(r.l3.meta)
    if r.inner is not None:
        d["inner"] = OrderedDict(r.inner.meta)
    if r.note:
        d["note"] = r.note
    return d


def flow_table(recs):
    """Aggregate by meta['flow'] and dir (for tunnels: the inner packet)."""
    flows = OrderedDict()
    for r in recs:
        l3 = r.inner if r.inner is not None else r.l3
        if l3 is None or "flow" not in l3.meta:
            continue
        m = l3.meta
        f = flows.setdefault(m["flow"], OrderedDict(
            (d, OrderedDict(packets=0, ip_bytes=0, l4_payload_bytes=0))
            for d in ("c2s", "s2c")))
        dd = f[m["dir"]]
        dd["packets"] += 1
        dd["ip_bytes"] += m["ip_len"]
        dd["l4_payload_bytes"] += m["l4_payload"]
    return flows


TITLES = {
    "pcap-be-usec.pcap": "big-endian pcap, usec; 1 IPv4 TCP session",
    "pcap-le-nsec.pcap": "little-endian pcap, nsec; same session",
    "pcap-be-nsec.pcap": "big-endian pcap, nsec; same session",
    "multi-if.pcapng": "pcapng, 3 interfaces (Ethernet/us, raw IP/ns, "
                       "SLL/2^-10 s), NRB, ISB, custom block",
    "multi-section.pcapng": "pcapng, 3 sections (LE Ethernet; LE raw IPv4 + "
                            "NULL; BIG-endian Ethernet)",
    "spb.pcapng": "pcapng Simple Packet Blocks, one longer than snaplen",
    "vlan.pcap": "802.1Q and 802.1ad QinQ; TCP, UDP, IPv6 UDP; padding",
    "geneve.pcap": "Geneve VNI 1234 + option TLV; inner TCP + UDP",
    "ipv6-ext.pcap": "IPv6 extension header chains; atomic and real "
                     "fragments",
    "ipv4-frag.pcap": "IPv4 UDP in 3 fragments, out of order and in order",
    "icmp-errors.pcap": "ICMPv4/v6 errors quoting UDP/TCP; echo",
    "truncated.pcap": "pcap cut in the middle of record 6 (5 good)",
    "corrupt-caplen.pcap": "3 good records then caplen 0x7fffffff",
    "truncated.pcapng": "pcapng cut inside the 4th EPB (3 good)",
    "snaplen-cut.pcap": "snaplen 64: caplen < origlen on every data packet",
    "not-a-capture.txt": "plain text",
    "empty.pcap": "0 bytes",
    "header-only.pcap": "pcap global header only, 0 records",
    "unknown-linktype.pcap": "linktype 147 (USER0), 2 opaque records",
}


def register(name, desc, recs, extra=None, link=None, kind=None):
    FILES[name] = dict(desc=desc, recs=recs, extra=extra or OrderedDict(),
                       link=link, kind=kind)


def write(outdir, name, data):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


# =========================================================================
# the files
# =========================================================================
T0 = BASE_S * NS


def std_tcp(t0, cli="192.0.2.1", srv="192.0.2.2", cport=49152, sport=80,
            **kw):
    req = b"GET /index.html HTTP/1.1\r\nHost: edge.example\r\n\r\n"  # 48 B
    resp = (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
            b"hello, world\n")  # 52 B
    return tcp_session(cli, srv, cport, sport, req, resp, t0, **kw)


def gen_pcap_variants(out):
    sess = std_tcp(T0 + 1_000_000 * 1000)  # BASE+1.000000 s
    for name, endian, nsec, magic_desc in (
            ("pcap-be-usec.pcap", ">", False, "a1 b2 c3 d4 (big-endian, usec)"),
            ("pcap-le-nsec.pcap", "<", True, "4d 3c b2 a1 (little-endian, nsec)"),
            ("pcap-be-nsec.pcap", ">", True, "a1 b2 3c 4d (big-endian, nsec)")):
        recs = []
        for i, (ts, l3) in enumerate(sess):
            if nsec:
                ts += 89 + 100 * i   # sub-microsecond digits
            recs.append(Rec(ts, eth(l3.data), l3, iface=None))
        write(out, name, pcap_bytes(recs, endian, nsec))
        register(name, f"""pcap, magic bytes on disk `{magic_desc}`, version 2.4,
snaplen 65535, linktype 1 (Ethernet). One IPv4 TCP session (9 packets):
3-way handshake (SYN and SYN-ACK carry an MSS option, TCP header 24 bytes),
a 48-byte request, a 52-byte response, ACK, FIN from the client, FIN from the
server, final ACK. ISNs: client 1000, server 5000.""" + (
            "\nThe nanosecond files use the same instants as pcap-be-usec.pcap "
            "plus (89 + 100*i) ns for packet i (0-based), so truncating to "
            "microseconds gives exactly pcap-be-usec.pcap's timestamps."
            if nsec else ""), recs, link="EN10MB(1)")


def gen_multi_if(out):
    e = "<"
    t = T0 + 2 * NS
    # if0 Ethernet usec: TCP session
    tcp = std_tcp(t, cli="192.0.2.10", srv="192.0.2.20", cport=50000,
                  sport=8080)
    # if1 raw IP nsec: IPv4 UDP exchange + IPv6 UDP exchange
    u4 = udp_exchange("198.51.100.1", "198.51.100.2", 40000, 31053,
                      [(b"query-one", b"answer-one!"),
                       (b"query-two", b"answer-two!")],
                      t + 500_123, gap_us=700)
    u6 = udp_exchange("2001:db8:1::1", "2001:db8:1::2", 40001, 31054,
                      [(b"v6 request", b"v6 response")], t + 1_700_321)
    # if2 Linux SLL, tsresol 2^-10: timestamps must be multiples of 2/1024 s
    # to be exact in ns -> use k/512 s
    sll_u = udp_exchange("203.0.113.1", "203.0.113.2", 41000, 9999,
                         [(b"sll hello", b"sll world")], 0)
    sll_e = echo_exchange("203.0.113.1", "203.0.113.2", 0x0abc, 1, 0,
                          size=32)
    step = NS // 512  # 1953125 ns
    sll_pk = sll_u + sll_e
    sll_times = [t + k * step for k in (1, 2, 3, 4)]  # +1.953125 ms ...
    recs = []
    for ts, l3 in tcp:
        recs.append(Rec(ts, eth(l3.data), l3, iface=0, link="EN10MB"))
    for ts, l3 in u4 + u6:
        recs.append(Rec(ts, l3.data, l3, iface=1, link="RAW(101)"))
    for ts, (_, l3) in zip(sll_times, sll_pk):
        ptype = 4 if l3.meta["dir"] == "c2s" else 0  # outgoing / to-us
        recs.append(Rec(ts, sll(l3.data, ptype, mac_for(l3.meta["src"])),
                        l3, iface=2, link="LINUX_SLL(113)",
                        note=f"sll pkttype {ptype}"))
    recs.sort(key=lambda r: (r.ts_ns, r.iface))
    resol = {0: 6, 1: 9, 2: 0x8A}
    body = ng_shb(e, -1, [(4, opt_str("retina-analyze make-edge-cases.py"))])
    body += ng_idb(e, 1, 65535, [(2, opt_str("eth0")), (9, b"\x06")])
    body += ng_idb(e, 101, 65535, [(2, opt_str("raw0")),
                                   (3, opt_str("raw IP, nanosecond")),
                                   (9, b"\x09")])
    body += ng_idb(e, 113, 65535, [(2, opt_str("sll0")), (9, b"\x8a")])
    body += ng_nrb(e, [(1, ip_obj("192.0.2.10").packed + b"client.example\0"),
                       (1, ip_obj("192.0.2.20").packed + b"server.example\0")])
    data = bytearray(body)
    for i, r in enumerate(recs):
        r.offset = len(data)
        opts = []
        if r.iface == 0:
            # epb_flags: direction bits 0-1 (1 inbound, 2 outbound)
            d = 2 if r.l3.meta["dir"] == "c2s" else 1
            opts.append((2, struct.pack(e + "I", d)))
        if i == 0:
            opts.append((1, opt_str("first packet; EPB with comment")))
        units = ns_to_units(r.ts_ns, resol[r.iface])
        data += ng_epb(e, r.iface, units, r.caplen, r.origlen, r.frame, opts)
        r.note = ((r.note + "; ") if r.note else "") + \
            f"ts units={units}"
    # ISB for if0 at the end, unknown/custom block to be skipped
    last = recs[-1].ts_ns
    data += ng_isb(e, 0, ns_to_units(last - last % 1000, 6),
                   [(4, struct.pack(e + "Q", 9)), (5, struct.pack(e + "Q", 0))])
    data += ng_block(e, 0x40000BAD, struct.pack(e + "I", 32473) +
                     b"opaque custom data")
    write(out, "multi-if.pcapng", bytes(data))
    register("multi-if.pcapng", """pcapng, little-endian, one section (section
length -1 = unspecified), three interfaces with different link types and
resolutions:

| if | linktype | if_name | if_tsresol | unit |
|----|----------|---------|------------|------|
| 0 | 1 (Ethernet) | eth0 | 0x06 | 1 us |
| 1 | 101 (raw IP; v4 and v6 by version nibble) | raw0 (+ if_description) | 0x09 | 1 ns |
| 2 | 113 (Linux SLL v1) | sll0 | 0x8a | 2^-10 s = 976562.5 ns |

After the IDBs: one Name Resolution Block (2 IPv4 records). EPBs are sorted
by time across interfaces. Every if0 EPB carries an epb_flags option
(direction: 2 = outbound for c2s, 1 = inbound for s2c); the first EPB also
has an opt_comment. The if2 timestamps are k/512 s after BASE+2 s, so they
are exact in ns (the raw unit count is given in the note column). After the
EPBs: one Interface Statistics Block for if0 (isb_ifrecv=9, isb_ifdrop=0)
and one custom block (type 0x40000BAD, PEN 32473) that readers must skip.
Timestamps in the table are exact (ts = units / units_per_second).""",
             recs, link="mixed")


def gen_multi_section(out):
    # ---- section 1: little-endian, Ethernet, UDP exchange
    t1 = T0 + 3 * NS
    s1 = udp_exchange("192.0.2.30", "192.0.2.31", 33333, 7777,
                      [(b"section one request", b"section one reply")], t1)
    # ---- section 2: little-endian, if0 raw IPv4 (228), if1 NULL (0)
    t2 = T0 + 4 * NS
    s2a = udp_exchange("198.51.100.30", "198.51.100.31", 34444, 7777,
                       [(b"raw ipv4 request", b"raw ipv4 reply")], t2)
    s2b = udp_exchange("192.0.2.40", "192.0.2.41", 35555, 8888,
                       [(b"null af_inet", b"null af_inet reply")],
                       t2 + 1_000_000)
    s2c = udp_exchange("2001:db8:2::1", "2001:db8:2::2", 36666, 8888,
                       [(b"null af 30", b"null af 30 reply")],
                       t2 + 2_000_000)
    s2d = echo_exchange("2001:db8:2::1", "2001:db8:2::2", 0x0024, 1,
                        t2 + 3_000_000, size=16)
    s2e = echo_exchange("2001:db8:2::1", "2001:db8:2::2", 0x0028, 1,
                        t2 + 4_000_000, size=16)
    # ---- section 3: BIG-endian, Ethernet, TCP session
    t3 = T0 + 5 * NS
    s3 = std_tcp(t3, cli="203.0.113.50", srv="203.0.113.51", cport=51000,
                 sport=80)

    recs = []
    data = bytearray()

    def section(e, section_len_mode, idbs, items):
        """items: list of (iface, ts, l3, framefn, note). Returns bytes."""
        blk = bytearray()
        for lt, opts in idbs:
            blk += ng_idb(e, lt, 262144, opts)
        local = []
        for iface, ts, l3, frame, note in items:
            r = Rec(ts, frame, l3, iface=iface, note=note,
                    link={1: "EN10MB", 228: "IPV4(228)",
                          0: "NULL(0)"}[idbs[iface][0]])
            local.append((r, len(blk)))
            blk += ng_epb(e, iface, ns_to_units(ts, 6), r.caplen, r.origlen,
                          frame)
        slen = len(blk) if section_len_mode == "exact" else -1
        shb = ng_shb(e, slen, [(3, opt_str("synthetic"))])
        base = len(data) + len(shb)
        for r, off in local:
            r.offset = base + off
            recs.append(r)
        return shb + blk

    data += section("<", "exact", [(1, [(2, opt_str("s1-eth"))])],
                    [(0, ts, l3, eth(l3.data), "section 1")
                     for ts, l3 in s1])
    items = [(0, ts, l3, l3.data, "section 2 raw IPv4") for ts, l3 in s2a]
    items += [(1, ts, l3, null_hdr(l3.data, 2, "<"), "section 2 NULL AF=2")
              for ts, l3 in s2b]
    items += [(1, ts, l3, null_hdr(l3.data, 30, "<"), "section 2 NULL AF=30")
              for ts, l3 in s2c]
    items += [(1, ts, l3, null_hdr(l3.data, 24, "<"), "section 2 NULL AF=24")
              for ts, l3 in s2d]
    items += [(1, ts, l3, null_hdr(l3.data, 28, "<"), "section 2 NULL AF=28")
              for ts, l3 in s2e]
    data += section("<", "unspecified",
                    [(228, [(2, opt_str("s2-raw4"))]),
                     (0, [(2, opt_str("s2-lo0"))])], items)
    data += section(">", "exact", [(1, [(2, opt_str("s3-eth-bigendian"))])],
                    [(0, ts, l3, eth(l3.data), "section 3 (big-endian)")
                     for ts, l3 in s3])
    write(out, "multi-section.pcapng", bytes(data))
    register("multi-section.pcapng", """pcapng with THREE sections (three SHBs);
interface ids restart at 0 in every section. No if_tsresol anywhere
(default: microseconds).

* Section 1: little-endian, section length = exact byte count, 1 IDB:
  if0 = linktype 1 (Ethernet). One IPv4 UDP request/response.
* Section 2: little-endian, section length = -1 (unspecified), 2 IDBs:
  if0 = linktype 228 (raw IPv4), if1 = linktype 0 (BSD NULL/loopback; 4-byte
  AF header in the section's byte order, i.e. little-endian here). if0 carries
  an IPv4 UDP exchange; if1 carries an IPv4 UDP exchange (AF=2), an IPv6 UDP
  exchange (AF=30, Darwin), an ICMPv6 echo pair with AF=24 (NetBSD/OpenBSD)
  and an ICMPv6 echo pair with AF=28 (FreeBSD).
* Section 3: BIG-endian (SHB byte-order magic written 1a 2b 3c 4d), section
  length exact, 1 IDB: if0 = Ethernet. The standard 9-packet IPv4 TCP session.

The iface column is the interface id within the record's own section.""",
             recs, link="mixed")


def gen_spb(out):
    e = "<"
    snap = 128
    u = udp_exchange("192.0.2.60", "192.0.2.61", 42000, 4242,
                     [(b"spb small request", b"spb small reply"),
                      (bytes(range(256)) * 2 + b"x" * 88, b"ok")], 0)
    recs = []
    data = bytearray(ng_shb(e, -1) + ng_idb(e, 1, snap,
                                            [(2, opt_str("spb0"))]))
    for _, l3 in u:
        frame = eth(l3.data)
        r = Rec(0, frame, l3, iface=0, caplen=snap, link="EN10MB")
        r.ts_ns = None
        r.offset = len(data)
        data += ng_spb(e, r.origlen, frame[:r.caplen])
        recs.append(r)
    write(out, "spb.pcapng", bytes(data))
    register("spb.pcapng", f"""pcapng, little-endian: SHB, one IDB (Ethernet,
snaplen {snap}, if_name spb0), then only Simple Packet Blocks. SPBs carry no
timestamp and no interface id (always interface 0); captured length =
min(original length, snaplen). The third SPB (the 600-byte UDP request) has
original length {recs[2].origlen} > snaplen, so only {snap} bytes are stored:
its IP total length and UDP length fields still say the full size.
One IPv4 UDP flow, 2 request/response pairs (4 packets).""", recs,
             link="EN10MB(1)")


def gen_vlan(out):
    t = T0 + 6 * NS
    tcp = std_tcp(t, cli="192.0.2.70", srv="192.0.2.71", cport=52000,
                  sport=80)
    udp = udp_exchange("198.51.100.70", "198.51.100.71", 43000, 31070,
                       [(b"qinq query 1", b"qinq answer 1"),
                        (b"qinq query 2", b"qinq answer 2")], t + 5_000_000)
    v6 = udp_exchange("2001:db8:70::1", "2001:db8:70::2", 43001, 31071,
                      [(b"udp over vlan 101", b"reply")], t + 7_000_000)
    recs = []
    for ts, l3 in tcp:
        f = eth(l3.data, tags=[(0x8100, 100, 0)])
        note = None
        if len(f) < 60:  # wire minimum (without FCS): zero trailer
            note = f"{60 - len(f)} bytes Ethernet padding"
            f += b"\0" * (60 - len(f))
        recs.append(Rec(ts, f, l3, iface=None, link="EN10MB 802.1Q vid 100",
                        note=note))
    for ts, l3 in udp:
        recs.append(Rec(ts, eth(l3.data, tags=[(0x88A8, 200, 3),
                                               (0x8100, 300, 0)]), l3,
                        iface=None,
                        link="EN10MB 802.1ad vid 200 pcp 3 + 802.1Q vid 300"))
    for ts, l3 in v6:
        recs.append(Rec(ts, eth(l3.data, tags=[(0x8100, 101, 5)]), l3,
                        iface=None, link="EN10MB 802.1Q vid 101 pcp 5"))
    write(out, "vlan.pcap", pcap_bytes(recs, "<", False))
    register("vlan.pcap", """pcap LE usec, Ethernet. The standard 9-packet
IPv4 TCP session on 802.1Q VLAN 100 (TPID 0x8100; frame = 14 + 4 + IP,
except that frames shorter than 60 bytes -- the pure ACK/FIN packets,
58 bytes -- are zero-padded to 60 as seen on a real wire: origlen 60 while
the IP total length is 40, so 2 trailer bytes must NOT be counted as IP or
TCP payload);
an IPv4 UDP flow with 2 request/response pairs double-tagged 802.1ad
(outer TPID 0x88a8 VID 200 PCP 3) + 802.1Q (inner VID 300) (frame = 14 + 8 +
IP); one IPv6 UDP request/response on 802.1Q VLAN 101 PCP 5.""", recs,
             link="EN10MB(1)")


def geneve_hdr(vni, opts=b"", proto=0x6558):
    assert len(opts) % 4 == 0
    return struct.pack("!BBHI", len(opts) // 4, 0, proto, vni << 8) + opts


def gen_geneve(out):
    t = T0 + 7 * NS
    o_src, o_dst = "10.200.0.1", "10.200.0.2"
    opt = struct.pack("!HBB", 0xFF00, 0x01, 1) + b"\xde\xad\xbe\xef"
    tcp = std_tcp(t, cli="192.168.100.1", srv="192.168.100.2", cport=53000,
                  sport=8080)
    udp = udp_exchange("192.168.100.1", "192.168.100.2", 44000, 31161,
                       [(b"inner udp request", b"inner udp response")],
                       t + 5_000_000)
    recs = []
    for ts, inner in tcp + udp:
        m = inner.meta
        inner_frame = eth(inner.data)
        # outer source port: per-inner-flow value (like a flow hash)
        sp = 49300 + (m["sport"] + m["dport"]) % 100
        fwd = m["src"] == "192.168.100.1"
        os_, od = (o_src, o_dst) if fwd else (o_dst, o_src)
        payload = geneve_hdr(1234, opt) + inner_frame
        outer = mk_udp(os_, od, sp, 6081, payload)
        outer.meta.update(flow=flow_key("UDP", os_, sp, od, 6081),
                          dir="tunnel")
        recs.append(Rec(ts, eth(outer.data), outer, iface=None,
                        inner=inner, link="EN10MB",
                        note="geneve vni 1234"))
    write(out, "geneve.pcap", pcap_bytes(recs, "<", False))
    register("geneve.pcap", """pcap LE usec, Ethernet. Outer IPv4
10.200.0.1 <-> 10.200.0.2, UDP dst port 6081 (valid UDP checksum), Geneve
version 0, Opt Len 2 (8 bytes of options), O=0 C=0, protocol 0x6558
(Transparent Ethernet Bridging), VNI 1234, one option TLV: class 0xff00,
type 0x01, length 1 (4 data bytes de ad be ef). Geneve header = 16 bytes.
Outer UDP source port = 49300 + (inner sport + inner dport) % 100 (same in
both directions). Inner: Ethernet + the standard 9-packet IPv4 TCP session
192.168.100.1:53000 -> 192.168.100.2:8080 and one UDP request/response
192.168.100.1:44000 -> 192.168.100.2:31161. Outer frame length = inner frame
length + 14 (eth) + 20 (IPv4) + 8 (UDP) + 16 (Geneve) = inner + 58.
The flow table below counts INNER flows; ip_len in the packet table is the
OUTER IPv4 total length (the inner one is in expected.json).""", recs,
             link="EN10MB(1)")


def hbh_router_alert():
    # NH placeholder, len 0 (8 bytes): Router Alert (5,2,0x0000) + PadN(1,0)
    return b"\0\0" + b"\x05\x02\x00\x00" + b"\x01\x00"


def destopts_padn():
    return b"\0\0" + b"\x01\x04\0\0\0\0"


def srh_one(seg):
    # NH, hdr ext len 2, routing type 4, segments left 0, last entry 0,
    # flags 0, tag 0, segment list [seg]
    return struct.pack("!BBBBBBH", 0, 2, 4, 0, 0, 0, 0) + ip_obj(seg).packed


def frag6(offset8, more, ident):
    return struct.pack("!BBHI", 0, 0, (offset8 << 3) | (1 if more else 0),
                       ident)


def gen_ipv6_ext(out):
    t = T0 + 8 * NS
    c, s = "2001:db8:6::1", "2001:db8:6::2"
    recs = []
    # UDP request with HBH, DestOpts, Routing (SRH, SL=0), atomic Fragment
    ext_full = [(0, hbh_router_alert()), (60, destopts_padn()),
                (43, srh_one(s)), (44, frag6(0, False, 0x11223344))]
    ext_desc = "HBH(8) DST(8) RT-SRH(24) FRAG-atomic(8)"
    key = flow_key("UDP", c, 45000, s, 5000)
    q = mk_udp(c, s, 45000, 5000, b"ext header request!!", ext=ext_full)
    q.meta.update(flow=key, dir="c2s", ext=ext_desc, ext_len=48)
    a = mk_udp(s, c, 5000, 45000, b"ext header response!!!!!",
               ext=[(60, destopts_padn())])
    a.meta.update(flow=key, dir="s2c", ext="DST(8)", ext_len=8)
    recs += [Rec(t, eth(q.data), q, iface=None),
             Rec(t + 200_000, eth(a.data), a, iface=None)]
    # TCP session: client packets carry HBH+DestOpts, server packets plain
    tcp = std_tcp(t + 1_000_000, cli=c, srv=s, cport=45001, sport=80,
                  ext_c=[(0, hbh_router_alert()), (60, destopts_padn())])
    for ts, l3 in tcp:
        if l3.meta["dir"] == "c2s":
            l3.meta.update(ext="HBH(8) DST(8)", ext_len=16)
        recs.append(Rec(ts, eth(l3.data), l3, iface=None))
    # a real 2-fragment IPv6 UDP datagram (2000-byte payload) + plain reply
    payload = bytes((i * 5 + 7) & 0xFF for i in range(2000))
    dgram = udp_datagram(c, s, 45002, 5001, payload)  # 2008 bytes
    ident = 0xDEADBEEF
    parts = [(0, True, dgram[:1448]), (181, False, dgram[1448:])]
    key2 = flow_key("UDP", c, 45002, s, 5001)
    tf = t + 5_000_000
    for i, (off8, more, chunk) in enumerate(parts):
        pl = frag6(off8, more, ident)
        pl = bytes([17]) + pl[1:] + chunk
        pkt = ipv6_header(c, s, 44, len(pl)) + pl
        l3 = L3(pkt, base_meta(c, s, "UDP", len(pkt),
                               0, sport=45002, dport=5001))
        l3.meta.update(flow=key2, dir="c2s",
                       frag=f"id=0x{ident:08x} off={off8 * 8} M={int(more)}",
                       ext="FRAG(8)", ext_len=8)
        l3.meta["l4_payload"] = 2000 if i == 1 else 0
        recs.append(Rec(tf + i * 10_000, eth(pkt), l3, iface=None,
                        note="first fragment (has UDP header)" if i == 0
                        else "last fragment; reassembled UDP payload 2000"))
    r = mk_udp(s, c, 5001, 45002, b"got 2000")
    r.meta.update(flow=key2, dir="s2c")
    recs.append(Rec(tf + 300_000, eth(r.data), r, iface=None))
    write(out, "ipv6-ext.pcap", pcap_bytes(recs, "<", False))
    register("ipv6-ext.pcap", """pcap LE usec, Ethernet, IPv6 only.

1. UDP [2001:db8:6::1]:45000 -> [2001:db8:6::2]:5000. The request carries
   Hop-by-Hop (8 B: Router Alert + PadN) -> Destination Options (8 B, PadN)
   -> Routing (24 B, type 4 SRH, Segments Left 0, one segment = the
   destination) -> Fragment (8 B, ATOMIC: offset 0, M=0, id 0x11223344) ->
   UDP. 48 bytes of extension headers. The reply carries one Destination
   Options header (8 B).
2. The standard 9-packet TCP session [2001:db8:6::1]:45001 -> :80; every
   client->server packet carries HBH (8 B) + Destination Options (8 B);
   server packets have no extension headers.
3. A UDP datagram [2001:db8:6::1]:45002 -> [2001:db8:6::2]:5001 with 2000
   payload bytes (UDP length 2008) sent as TWO real fragments (Fragment
   header id 0xdeadbeef): offset 0 M=1 carrying 1448 bytes (UDP header +
   1440 payload), offset 1448 M=0 carrying 560 bytes; then an unfragmented
   8-byte reply. In the tables the 2000 payload bytes are counted on the
   last fragment (i.e. after reassembly); the UDP checksum is over the whole
   datagram.

ip_len = 40 + IPv6 Payload Length (which includes the extension headers);
l4_payload excludes all extension headers and the L4 header.""", recs,
             link="EN10MB(1)")


def gen_ipv4_frag(out):
    t = T0 + 9 * NS
    c, s = "10.30.0.1", "10.30.0.2"
    payload = bytes((i * 3 + 11) & 0xFF for i in range(3000))
    dgram = udp_datagram(c, s, 5000, 6000, payload)  # 3008 bytes
    key = flow_key("UDP", c, 5000, s, 6000)
    recs = []
    for rnd, (ident, order, label) in enumerate(
            ((0x1000, (2, 0, 1), "out of order (last fragment first)"),
             (0x1001, (0, 1, 2), "in order"))):
        frags = []
        for i, off in enumerate((0, 1480, 2960)):
            chunk = dgram[off:off + 1480]
            more = i < 2
            pkt = ipv4_header(c, s, 17, len(chunk), ident, df=False,
                              mf=more, frag_off8=off // 8) + chunk
            l3 = L3(pkt, base_meta(c, s, "UDP", len(pkt), 0,
                                   sport=5000, dport=6000))
            l3.meta.update(flow=key, dir="c2s",
                           frag=f"id=0x{ident:04x} off={off} MF={int(more)}",
                           ip_id=ident)
            frags.append(l3)
        tb = t + rnd * 10_000_000
        for k, idx in enumerate(order):
            l3 = frags[idx]
            last_arrival = k == 2
            l3.meta["l4_payload"] = 3000 if last_arrival else 0
            recs.append(Rec(tb + k * 20_000, eth(l3.data), l3, iface=None,
                            note=f"datagram {rnd + 1} ({label}), fragment "
                            f"{idx + 1}/3" + ("; completes reassembly"
                                              if last_arrival else "")))
        rep = mk_udp(s, c, 6000, 5000, f"reply to datagram {rnd + 1}".encode())
        rep.meta.update(flow=key, dir="s2c")
        recs.append(Rec(tb + 500_000, eth(rep.data), rep, iface=None))
    write(out, "ipv4-frag.pcap", pcap_bytes(recs, "<", False))
    register("ipv4-frag.pcap", """pcap LE usec, Ethernet. Two UDP datagrams
10.30.0.1:5000 -> 10.30.0.2:6000, each 3000 payload bytes (UDP length 3008,
valid checksum over the whole datagram), each split into 3 IPv4 fragments
(DF=0): offsets 0 / 1480 / 2960, data 1480 / 1480 / 48 bytes, IP total
lengths 1500 / 1500 / 68. Only the first fragment contains the UDP header.
Datagram 1 (IP id 0x1000) arrives LAST fragment first, then first, then
middle; datagram 2 (IP id 0x1001) arrives in order. Each datagram is
answered by a small unfragmented UDP reply. In the tables the 3000 payload
bytes are counted on the fragment whose arrival completes reassembly.""",
             recs, link="EN10MB(1)")


def gen_icmp_errors(out):
    t = T0 + 10 * NS
    recs = []
    # UDP to closed port, answered by port unreachable quoting the FULL packet
    uq = mk_udp("10.40.0.1", "10.40.0.2", 33000, 33434,
                b"is anybody listening?")
    uq.meta.update(flow=flow_key("UDP", "10.40.0.1", 33000, "10.40.0.2",
                                 33434), dir="c2s")
    recs.append(Rec(t, eth(uq.data), uq, iface=None))
    m = icmp4(3, 3, b"\0\0\0\0", uq.data)
    pu = L3(ip_wrap("10.40.0.2", "10.40.0.1", 1, m, df=False),
            base_meta("10.40.0.2", "10.40.0.1", "ICMP", 20 + len(m),
                      len(uq.data), icmp_type=3, icmp_code=3,
                      quotes=uq.meta["flow"]))
    recs.append(Rec(t + 80_000, eth(pu.data), pu, iface=None,
                    note=f"quotes the whole UDP packet ({len(uq.data)} B)"))
    # TCP SYN with TTL 1, router answers time exceeded quoting IP hdr + 8 B
    syn = mk_tcp("10.40.0.1", "203.0.113.9", 44000, 443, 777, 0, "S",
                 mss=1460, ttl=1)
    syn.meta.update(flow=flow_key("TCP", "10.40.0.1", 44000, "203.0.113.9",
                                  443), dir="c2s")
    recs.append(Rec(t + 1_000_000, eth(syn.data, dst_mac=mac_for("10.40.0.254")),
                    syn, iface=None, note="TTL 1"))
    quoted = syn.data[:28]
    m = icmp4(11, 0, b"\0\0\0\0", quoted)
    te = L3(ip_wrap("10.40.0.254", "10.40.0.1", 1, m, df=False),
            base_meta("10.40.0.254", "10.40.0.1", "ICMP", 20 + len(m),
                      len(quoted), icmp_type=11, icmp_code=0,
                      quotes=syn.meta["flow"]))
    recs.append(Rec(t + 1_150_000, eth(te.data), te, iface=None,
                    note="quotes IPv4 header + first 8 bytes of the SYN"))
    # ICMPv6 destination unreachable (port unreachable) quoting IPv6 UDP
    c6, s6 = "2001:db8:40::1", "2001:db8:40::2"
    u6 = mk_udp(c6, s6, 33001, 33435, b"v6 anybody?")
    u6.meta.update(flow=flow_key("UDP", c6, 33001, s6, 33435), dir="c2s")
    recs.append(Rec(t + 2_000_000, eth(u6.data), u6, iface=None))
    m = icmp6(s6, c6, 1, 4, b"\0\0\0\0", u6.data)
    du = L3(ip_wrap(s6, c6, 58, m),
            base_meta(s6, c6, "ICMPv6", 40 + len(m), len(u6.data),
                      icmp_type=1, icmp_code=4, quotes=u6.meta["flow"]))
    recs.append(Rec(t + 2_090_000, eth(du.data), du, iface=None,
                    note=f"quotes the whole IPv6 UDP packet ({len(u6.data)} B)"))
    # plain echo request/reply, v4 and v6
    for ts, l3 in echo_exchange("10.40.0.1", "10.40.0.2", 0x1234, 2,
                                t + 3_000_000):
        recs.append(Rec(ts, eth(l3.data), l3, iface=None))
    for ts, l3 in echo_exchange(c6, s6, 0x5678, 1, t + 5_000_000):
        recs.append(Rec(ts, eth(l3.data), l3, iface=None))
    for r in recs:
        if r.l3.meta.get("quotes"):
            r.l3.meta["flow"] = f"{r.l3.meta['proto']} error " \
                f"{r.l3.meta['src']} -> {r.l3.meta['dst']}"
            r.l3.meta["dir"] = "c2s"
    write(out, "icmp-errors.pcap", pcap_bytes(recs, "<", False))
    register("icmp-errors.pcap", """pcap LE usec, Ethernet.

1. UDP 10.40.0.1:33000 -> 10.40.0.2:33434 (21-byte payload), answered by
   ICMPv4 type 3 code 3 (port unreachable) from 10.40.0.2 quoting the WHOLE
   UDP packet (IP header + UDP header + payload = 49 bytes).
2. TCP SYN 10.40.0.1:44000 -> 203.0.113.9:443 with TTL 1 (MSS option),
   answered by ICMPv4 type 11 code 0 (time exceeded) from router
   10.40.0.254 quoting only the IPv4 header + first 8 bytes of TCP
   (28 bytes: ports and sequence number, no flags).
3. IPv6 UDP [2001:db8:40::1]:33001 -> [2001:db8:40::2]:33435 (11-byte
   payload), answered by ICMPv6 type 1 code 4 (port unreachable) quoting the
   whole IPv6 packet (59 bytes).
4. Plain ICMPv4 echo request/reply x2 (id 0x1234, seq 1,2, 56-byte payload)
   and ICMPv6 echo request/reply x1 (id 0x5678, 56-byte payload).
For ICMP errors, l4_payload = number of quoted bytes after the 8-byte ICMP
header; the `quotes` field (expected.json) names the offending flow. In the
flow table the error messages are listed as their own pseudo-flows.""",
             recs, link="EN10MB(1)")


def gen_damaged(out):
    # ---- truncated.pcap: 5 good records, 6th cut mid-data
    sess = std_tcp(T0 + 11 * NS, cli="192.0.2.90", srv="192.0.2.91",
                   cport=54000, sport=80)
    recs = [Rec(ts, eth(l3.data), l3, iface=None) for ts, l3 in sess[:6]]
    full = pcap_bytes(recs, "<", False)
    sixth = recs[5]
    cut = sixth.offset + 16 + sixth.caplen // 2
    write(out, "truncated.pcap", full[:cut])
    register("truncated.pcap", f"""pcap LE usec, Ethernet. First 6 packets of
the standard TCP session 192.0.2.90:54000 -> 192.0.2.91:80, but the file is
cut in the middle of record 6: N = 5 complete good records. Record 6's
16-byte header is complete (caplen {sixth.caplen}) and starts at byte offset
{sixth.offset}; its data starts at {sixth.offset + 16} and the file ends at
byte {cut} (file size {cut}), i.e. {cut - sixth.offset - 16} of
{sixth.caplen} data bytes are present. Damage starts at offset
{sixth.offset} (the record that cannot be completed).""", recs[:5],
             link="EN10MB(1)",
             extra=OrderedDict(good_records=5, damage_offset=sixth.offset,
                               file_size=cut,
                               partial_record=rec_json(5, sixth)))

    # ---- corrupt-caplen.pcap: 3 good, bogus header (caplen 0x7fffffff), more
    recs = [Rec(ts, eth(l3.data), l3, iface=None) for ts, l3 in sess[:4]]
    good = pcap_bytes(recs[:3], "<", False)
    bad_off = len(good)
    bad = struct.pack("<IIII", BASE_S + 11, 2000, 0x7FFFFFFF, 66)
    rest = pcap_bytes(recs[3:], "<", False)[24:]  # record 4 as it would be
    data = good + bad + rest
    write(out, "corrupt-caplen.pcap", data)
    register("corrupt-caplen.pcap", f"""pcap LE usec, Ethernet, snaplen
65535. 3 valid records (first 3 packets of the TCP session
192.0.2.90:54000 -> 192.0.2.91:80), then at byte offset {bad_off} a record
header with ts = {BASE_S + 11}.002000, caplen = 0x7fffffff (> snaplen, absurd)
and origlen = 66, followed by {len(rest)} more bytes (a well-formed record
header + the 4th packet, which a reader must NOT resynchronise onto).
File size {len(data)}. Expected: 3 packets, then a clean error at offset
{bad_off}.""", recs[:3], link="EN10MB(1)",
             extra=OrderedDict(good_records=3, damage_offset=bad_off,
                               bad_caplen=0x7FFFFFFF, file_size=len(data)))

    # ---- truncated.pcapng: SHB, IDB, 3 EPBs, 4th EPB cut in its data
    e = "<"
    data = bytearray(ng_shb(e, -1) + ng_idb(e, 1, 65535,
                                            [(2, opt_str("eth0"))]))
    recs = [Rec(ts, eth(l3.data), l3, iface=0) for ts, l3 in sess[:4]]
    for r in recs:
        r.offset = len(data)
        data += ng_epb(e, 0, ns_to_units(r.ts_ns, 6), r.caplen, r.origlen,
                       r.frame)
    fourth = recs[3]
    cut = fourth.offset + 28 + 20
    write(out, "truncated.pcapng", bytes(data[:cut]))
    register("truncated.pcapng", f"""pcapng LE: SHB (section length -1), IDB
(Ethernet, if_name eth0, default usec resolution), 3 complete EPBs (first 3
packets of the TCP session 192.0.2.90:54000 -> 192.0.2.91:80), then the 4th
EPB (block starts at byte offset {fourth.offset}, total length
{len(ng_epb(e, 0, 0, fourth.caplen, fourth.origlen, fourth.frame))}) is cut
20 bytes into its packet data: file size {cut}. N = 3 good packets; damage
starts at offset {fourth.offset}.""", recs[:3], link="EN10MB(1)",
             extra=OrderedDict(good_records=3, damage_offset=fourth.offset,
                               file_size=cut))


def gen_snaplen(out):
    t = T0 + 12 * NS
    req = b"POST /upload HTTP/1.1\r\nContent-Length: 440\r\n\r\n"
    req += b"A" * (500 - len(req))
    resp = b"HTTP/1.1 200 OK\r\n\r\n" + b"B" * (1200 - 19)
    sess = tcp_session("192.0.2.100", "192.0.2.101", 55000, 80, req, resp, t)
    recs = [Rec(ts, eth(l3.data), l3, iface=None, caplen=64)
            for ts, l3 in sess]
    write(out, "snaplen-cut.pcap", pcap_bytes(recs, "<", False, snaplen=64))
    register("snaplen-cut.pcap", """pcap LE usec, Ethernet, snaplen 64: every
record has caplen = min(64, frame length) while origlen is the real frame
length. A 9-packet IPv4 TCP session 192.0.2.100:55000 -> 192.0.2.101:80 with
a 500-byte request and a 1200-byte response (the response still fits a
1500 MTU: IP total length 1240). Only the first 10 payload bytes
(64 - 14 - 20 - 20) of the data segments are captured, so payload lengths
and byte counts must come from the IP total length, not from caplen.
The stored TCP checksums are correct for the FULL segments (so they cannot
be verified from the captured bytes).""", recs, link="EN10MB(1)")


def gen_misc(out):
    with open(os.path.join(out, "not-a-capture.txt"), "w") as f:
        f.write("This is not a packet capture.\n"
                "It is a plain text file used to check that the analyzer\n"
                "reports an unrecognised format instead of crashing.\n")
    register("not-a-capture.txt", "Plain ASCII text (3 lines); no capture "
             "magic. Expected: 'unknown format' error.", [], kind="text")
    write(out, "empty.pcap", b"")
    register("empty.pcap", "Zero bytes. Expected: error (no magic) or an "
             "empty result, never a crash.", [], kind="empty")
    write(out, "header-only.pcap", pcap_bytes([], "<", False))
    register("header-only.pcap", "A valid 24-byte pcap global header (LE, "
             "usec, v2.4, snaplen 65535, linktype 1) and no records. "
             "Expected: 0 packets, 0 flows, no error.", [], link="EN10MB(1)")
    recs = [Rec(T0 + 13 * NS, b"USER0 record one: opaque bytes\x00\x01\x02",
                iface=None, note="opaque"),
            Rec(T0 + 13 * NS + 250_000, b"USER0 record two" + bytes(range(16)),
                iface=None, note="opaque")]
    write(out, "unknown-linktype.pcap", pcap_bytes(recs, "<", False,
                                                   linktype=147))
    register("unknown-linktype.pcap", """pcap LE usec with linktype 147
(LINKTYPE_USER0) and 2 records of opaque bytes. Expected: the records are
read (2 packets) but not decoded; no flows; a clear 'unsupported link type'
diagnostic (or error), never a crash.""", recs, link="USER0(147)")


# =========================================================================
# README / expected.json
# =========================================================================
def readme_for(name, info, lines):
    recs = info["recs"]
    path = os.path.join(OUTDIR, name)
    size = os.path.getsize(path)
    lines.append(f"## {name}\n")
    lines.append(f"Size: {size} bytes. Records documented: {len(recs)}.\n")
    lines.append(info["desc"].strip() + "\n")
    for k, v in info["extra"].items():
        if k != "partial_record":
            lines.append(f"* {k}: {v}")
    if info["extra"]:
        lines.append("")
    if not recs:
        return
    has_if = any(r.iface is not None for r in recs)
    hdr = "| # | timestamp (s) | " + ("if | " if has_if else "") + \
        "caplen | origlen | ip_len | l4_payload | packet |"
    lines.append(hdr)
    lines.append("|" + "---|" * (hdr.count("|") - 1))
    for i, r in enumerate(recs):
        ts = fmt_ts(r.ts_ns) if r.ts_ns is not None else "(none: SPB)"
        m = r.l3.meta if r.l3 is not None else {}
        ip_len = m.get("ip_len", "")
        l4 = m.get("l4_payload", "")
        summ = rec_summary(r)
        if r.inner is not None:
            im = r.inner.meta
            summ += f" / inner: {im['proto']} {im['src']}:{im.get('sport', '')}" \
                f" > {im['dst']}:{im.get('dport', '')}"
            if im["proto"] == "TCP":
                summ += f" [{im['tcp_flags']}]"
            summ += f" ip_len={im['ip_len']} payload={im['l4_payload']}"
        if r.link and info["link"] == "mixed":
            summ = f"({r.link}) " + summ
        elif r.link and "vid" in r.link:
            summ = f"({r.link.replace('EN10MB ', '')}) " + summ
        lines.append(f"| {i + 1} | {ts} | " +
                     (f"{r.iface} | " if has_if else "") +
                     f"{r.caplen} | {r.origlen} | {ip_len} | {l4} | {summ} |")
    lines.append("")
    flows = flow_table(recs)
    if flows:
        lines.append("Flows (c2s = first sender -> other side; for "
                     "tunnels: inner flows):\n")
        lines.append("| flow | c2s pkts | c2s ip bytes | c2s payload | "
                     "s2c pkts | s2c ip bytes | s2c payload |")
        lines.append("|---|---|---|---|---|---|---|")
        for k, f in flows.items():
            a, b = f["c2s"], f["s2c"]
            lines.append(f"| {k} | {a['packets']} | {a['ip_bytes']} | "
                         f"{a['l4_payload_bytes']} | {b['packets']} | "
                         f"{b['ip_bytes']} | {b['l4_payload_bytes']} |")
        lines.append("")


README_HEAD = """# testdata/edge — hand-built edge-case captures

GENERATED by `scripts/make-edge-cases.py` (python3 stdlib only, fully
deterministic: re-running produces byte-identical files). Do not edit by
hand; change the script and re-run:

    python3 scripts/make-edge-cases.py        # writes testdata/edge/

`expected.json` holds the same facts in machine-readable form (per file:
records with timestamp, caplen, origlen, byte offset, IP/L4 fields; per-flow
totals; damage offsets).

Conventions used below:

* Timestamps are absolute UNIX epoch seconds, printed with 9 decimals; they
  are exact (for microsecond files the last 3 digits are 000). BASE =
  1700000000 (2023-11-14T22:13:20Z).
* `ip_len` = IPv4 Total Length, or 40 + IPv6 Payload Length (i.e. bytes
  from the start of the IP header; includes IPv6 extension headers).
* `l4_payload` = TCP/UDP payload bytes (after the TCP header incl. options /
  the 8-byte UDP header), ICMP echo data bytes, or for ICMP errors the
  number of quoted bytes. For fragments see the file's notes.
* "c2s" is the direction of the first packet of the flow (the TCP SYN
  sender / UDP requester / ping sender).
* Unless stated otherwise MAC addresses are 02:00 + the last 4 bytes of the
  IP address, IPv4 packets have TTL 64 and DF set, IPv6 hop limit 64, and
  every IP/TCP/UDP/ICMP checksum is valid.
* The "standard 9-packet TCP session": c2s SYN (MSS 1460, TCP hdr 24 B),
  s2c SYN-ACK (MSS), c2s ACK, c2s PSH-ACK with a 48-byte request
  (`GET /index.html HTTP/1.1\\r\\nHost: edge.example\\r\\n\\r\\n`), s2c PSH-ACK with a
  52-byte response, c2s ACK, c2s FIN-ACK, s2c FIN-ACK, c2s ACK; relative
  times 0, 120, 180, 1000, 1350, 1500, 2000, 2150, 2300 us. Client ISN 1000,
  server ISN 5000. Per direction: c2s 6 packets / 48 payload bytes,
  s2c 3 packets / 52 payload bytes. (IPv4: c2s ip bytes 44+40+88+40+40+40
  = 292, s2c 44+92+40 = 176; IPv6 without extension headers: +20 per
  packet.) Relative sequence numbers after the handshake: request 1..48,
  response 1..52; the client FIN is at relative seq 49, the server FIN at 53.

"""



# =========================================================================
# optional cross-check against tshark (python3 make-edge-cases.py --verify)
# =========================================================================
def verify_with_tshark(outdir):
    import subprocess
    fields = ["frame.time_epoch", "frame.len", "frame.cap_len", "ip.len",
              "ipv6.plen", "frame.protocols", "_ws.expert.severity"]
    prefs = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
             "-o", "udp.check_checksum:TRUE"]
    problems = 0
    for name, info in FILES.items():
        if info["kind"] in ("text", "empty"):
            continue
        cmd = ["tshark", "-n", "-r", os.path.join(outdir, name)] + prefs + \
            ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
             "-E", "aggregator=,"] + sum((["-e", f] for f in fields), [])
        p = subprocess.run(cmd, capture_output=True, text=True)
        err = " ".join(l for l in p.stderr.splitlines()
                       if "Running as user" not in l and l.strip())
        rows = [r.split("\t") for r in p.stdout.splitlines()]
        rows = [r for r in rows if not r[5].startswith("pcapng")]
        if name == "multi-if.pcapng" and rows and rows[-1][5] == "data":
            # tshark 4.0 lists the custom block as a pseudo-frame
            print("note     multi-if.pcapng: tshark shows the custom block "
                  "as an extra frame (ignored)")
            rows = rows[:-1]
        recs = info["recs"]
        msgs = []
        if len(rows) != len(recs):
            msgs.append(f"tshark sees {len(rows)} packets, expected {len(recs)}")
        for i, (row, r) in enumerate(zip(rows, recs)):
            ts, flen, clen, iplen, plen, protos, sev = row
            if r.ts_ns is not None and ts != fmt_ts(r.ts_ns):
                msgs.append(f"#{i + 1}: ts {ts} != {fmt_ts(r.ts_ns)}")
            if int(flen) != r.origlen or int(clen) != r.caplen:
                msgs.append(f"#{i + 1}: len {flen}/{clen} != "
                            f"{r.origlen}/{r.caplen}")
            if r.l3 is not None:
                got = int(iplen.split(",")[0]) if iplen and not \
                    protos.startswith("eth:ethertype:ipv6") and \
                    "ipv6" not in protos.split(":")[:4] \
                    else 40 + int(plen.split(",")[0]) if plen else None
                if got != r.l3.meta["ip_len"]:
                    msgs.append(f"#{i + 1}: ip_len {got} != "
                                f"{r.l3.meta['ip_len']}")
            if sev and name not in ("snaplen-cut.pcap", "unknown-linktype.pcap"):
                # severity: 8388608 = error, 6291456 = warning
                if any(int(x) >= 6291456 for x in sev.split(",")):
                    msgs.append(f"#{i + 1}: expert warning/error "
                                f"({protos})")
        status = "OK" if not msgs else "MISMATCH"
        problems += bool(msgs)
        print(f"{status:8s} {name}: {len(rows)} packets"
              + (f"; tshark stderr: {err}" if err else ""))
        for m in msgs:
            print("         ", m)
    return problems

TSHARK_NOTES = """## How tshark 4.0.17 sees these files

`python3 scripts/make-edge-cases.py --verify` checks every documented
record against tshark (timestamps to the ns, frame and capture lengths,
outer IP length, no expert warnings/errors with checksum validation on).
All files pass. Things tshark/capinfos do that a test author should know:

* multi-if.pcapng: tshark lists the custom block (type 0x40000BAD) as a
  20th "frame" (protocols `data`); it is not a packet, 19 is correct. The
  2^-10 s interface is displayed with ms precision in the default column,
  but `frame.time_epoch` is exact.
* spb.pcapng: SPB frames have no timestamp.
* truncated.pcap: 5 packets, then "appears to have been cut short in the
  middle of a packet."
* corrupt-caplen.pcap: 3 packets, then "appears to be damaged or corrupt.
  (pcap: File has 2147483647-byte packet, bigger than maximum of 262144)".
* truncated.pcapng: 3 packets, then "appears to have been cut short in the
  middle of a packet."
* snaplen-cut.pcap: data segments are flagged "[Packet size limited during
  capture]"; checksums cannot be verified.
* unknown-linktype.pcap: 2 frames shown undecoded (no DLT_USER mapping).
* empty.pcap: tshark prints nothing and exits 0 (0 packets); capinfos
  oddly identifies the 0-byte file as "Endace ERF capture".
* not-a-capture.txt: "isn't a capture file in a format TShark understands."
* ipv4-frag.pcap / ipv6-ext.pcap: tshark reassembles the fragments and
  validates the UDP checksum of the whole datagram (Good).
"""


def main():
    global OUTDIR
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [a for a in sys.argv[1:] if a != "--verify"]
    OUTDIR = args[0] if args else os.path.join(repo, "testdata", "edge")
    os.makedirs(OUTDIR, exist_ok=True)
    gen_pcap_variants(OUTDIR)
    gen_multi_if(OUTDIR)
    gen_multi_section(OUTDIR)
    gen_spb(OUTDIR)
    gen_vlan(OUTDIR)
    gen_geneve(OUTDIR)
    gen_ipv6_ext(OUTDIR)
    gen_ipv4_frag(OUTDIR)
    gen_icmp_errors(OUTDIR)
    gen_damaged(OUTDIR)
    gen_snaplen(OUTDIR)
    gen_misc(OUTDIR)

    lines = [README_HEAD]
    lines.append("## Index\n")
    lines.append("| file | bytes | records | what |")
    lines.append("|---|---|---|---|")
    for name, info in FILES.items():
        size = os.path.getsize(os.path.join(OUTDIR, name))
        first = TITLES[name]
        lines.append(f"| [{name}](#{name.replace('.', '')}) | {size} | "
                     f"{len(info['recs'])} | {first} |")
    lines.append("")
    doc = OrderedDict()
    for name, info in FILES.items():
        readme_for(name, info, lines)
        recs = info["recs"]
        doc[name] = OrderedDict(
            size=os.path.getsize(os.path.join(OUTDIR, name)),
            records=len(recs),
            packets=[rec_json(i, r) for i, r in enumerate(recs)],
            flows=flow_table(recs),
            **info["extra"])
    lines.append(TSHARK_NOTES)
    with open(os.path.join(OUTDIR, "README.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    with open(os.path.join(OUTDIR, "expected.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for name in FILES:
        print(f"{os.path.getsize(os.path.join(OUTDIR, name)):8d}  {name}")
    if "--verify" in sys.argv[1:]:
        sys.exit(1 if verify_with_tshark(OUTDIR) else 0)


if __name__ == "__main__":
    main()
