#!/usr/bin/env python3
"""Side-by-side TCP metrics: retina-analyze vs tshark vs tcptrace.

    python3 scripts/compare-tcp.py                      # default capture set, markdown to stdout
    python3 scripts/compare-tcp.py -o out.md --json out.json
    python3 scripts/compare-tcp.py FILE [FILE ...]      # only these captures
    python3 scripts/compare-tcp.py --frames FILE        # tshark's per-frame labels (for explaining)
    python3 scripts/compare-tcp.py --ours-frames FILE   # which of our counters each frame changed

For every TCP flow of every capture and for each direction (the side that
SENDS the data / the ACKs / the window), it prints what the three tools say:

  retx     data segments retransmitted. ours: retransmissions.<dir>.segments;
           tshark: frames with payload flagged tcp.analysis.retransmission,
           .fast_retransmission or .spurious_retransmission (shown as
           total[F fast, S spurious]); tcptrace: "rexmt data pkts" (which also
           counts retransmitted SYNs and FINs: shown as "raw→adjusted", the
           adjusted value without the segments that repeat a SYN or FIN
           sequence number and carry no payload, found in tshark's frames).
  rbytes   payload bytes of those segments (tcptrace: "rexmt data bytes",
           SYN/FIN count 1 byte each; adjusted the same way).
  ooo      out-of-order segments. ours: out_of_order; tshark:
           tcp.analysis.out_of_order on frames with payload; tcptrace:
           "outoforder pkts".
  lost     capture loss. ours: capture_lost_bytes (segments); tshark: frames
           flagged "previous segment not captured" in this direction / "ACKed
           unseen segment" on the other side's ACKs; tcptrace: "missed data".
  dupack   duplicate ACKs SENT by this side. ours: dup_acks; tshark:
           tcp.analysis.duplicate_ack frames sent by this side; tcptrace:
           "duplicate acks" of the OTHER column (tcptrace counts them on the
           data direction).
  zwin     zero-window adverts sent (ours zero_windows; tshark zero_window;
           tcptrace "zero win adv").
  zwp      zero-window probes sent (ours zero_window_probes; tshark
           zero_window_probe; tcptrace "zwnd probe pkts").
  ka       keep-alives (ours keep_alives; tshark keep_alive; tcptrace has none).
  dsegs    data segments (ours data_segments; tshark frames with tcp.len>0;
           tcptrace "actual data pkts").
  ubytes   ours unique_bytes (sequence span of the payload) vs tcptrace
           "ttl stream length" (SYN..FIN span, NA without both) and "unique
           bytes sent" (bytes seen at least once).
  rtt      data RTT samples of data SENT by this side: count min max (ms).
           ours: rtt_ms_by_dir; tshark: tcp.analysis.ack_rtt on the other
           side's ACKs whose acked frame (tcp.analysis.acks_frame) carried
           payload; tcptrace: "RTT samples/min/max" (includes the SYN and FIN
           samples; 0.1 ms resolution).
  dups     the same packet captured more than once. ours: tcp.duplicates
           (copies the analyzer recognized and left out of every other
           figure); then this script's own count from tshark's fields: frames
           that repeat an IP datagram (same IPv4 id, or TSval for IPv6,
           identical TCP header, within 10 ms), with payload / without.
           tshark and tcptrace count such copies as retransmissions, data
           segments and duplicate ACKs.
  hs       handshake. ours: handshake_rtt_ms and the legs syn->synack /
           synack->ack; tshark: tcp.analysis.initial_rtt; tcptrace: "RTT from
           3WHS" of a->b (SYN->SYN-ACK) and b->a (SYN-ACK->ACK).

A cell shows "ours | tshark | tcptrace"; cells where the values differ are
marked with "≠". python3 stdlib only; needs tshark and tcptrace in PATH and the
analyzer built (cargo build) or given with --bin.
"""
import argparse
import ipaddress
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))

# The default set: the Zeek TCP traces, captures from other projects whose
# MANIFEST notes mention retransmissions / out-of-order / dup ACKs / zero
# windows, the project's real captures, and the ground-truth captures
# (added in main(): every testdata/groundtruth/*.pcap*, so loss.pcap,
# loss.server.pcap and the receiver's view loss.receiver.pcap, but not the
# NFLOG copy loss.dropped.pcap).
DEFAULT = [
    "corpus:zeek/testing/btest/Traces/tcp/ssh-dups.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/reassembly.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/retransmit-fast009.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/retransmit-timeout.pcapng",
    "corpus:zeek/testing/btest/Traces/tcp/fin_retransmission.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/handshake-reorder.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/missing-syn.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/miss_end_data.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/ctu-64702-888.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/qi_internet_SYNACK_curl_jsonip.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/option-sack.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/rst-inject-rae.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/syn-then-rst.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/timestamp.pcap",
    "corpus:zeek/testing/btest/Traces/tcp/tcp-fast-open.pcap",
    "corpus:zeek/testing/btest/Traces/http/206_example_b.pcap",
    "corpus:zeek/testing/btest/Traces/http/m57-long-49583-80.pcap",
    "corpus:arkime/tests/pcap/wireshark-retrans.pcap",
    "corpus:arkime/tests/pcap/http-post-upload.pcap",
    "corpus:packets/tcp_retransmissions.pcapng",
    "corpus:packets/tcp_dupack.pcapng",
    "corpus:packets/tcp_zerowindowrecovery.pcapng",
    "corpus:packets/tcp_zerowindowdead.pcapng",
    "corpus:packets/inconsistent_printer.pcapng",
    "corpus:tcpdump/tests/pptp.pcap",
    "corpus:suricata-verify/tests/issue-4220-01-ids/1flowB.pcap",
    "corpus:suricata-verify/tests/tcp-rst-unacked-stream-12/TLPW1-tcp-110.37.219.134-10.12.14.101-tcp-990-49254.pcap",
    "corpus:suricata-verify/tests/tcp-empty-sack/tcp-opt.pcap",
    "root:testdata/tcp-udp-ipv4.pcap",
    "root:testdata/ipv6.pcapng",
    "root:testdata/nanosecond.pcap",
]

TSHARK_FIELDS = [
    "frame.number",  # 0
    "frame.time_epoch",  # 1
    "ip.src",  # 2
    "ip.dst",  # 3
    "ipv6.src",  # 4
    "ipv6.dst",  # 5
    "tcp.srcport",  # 6
    "tcp.dstport",  # 7
    "tcp.stream",  # 8
    "tcp.len",  # 9
    "tcp.flags.syn",  # 10
    "tcp.flags.fin",  # 11
    "tcp.flags.reset",  # 12
    "tcp.seq",  # 13
    "tcp.ack",  # 14
    "tcp.window_size_value",  # 15
    "tcp.analysis.retransmission",  # 16
    "tcp.analysis.fast_retransmission",  # 17
    "tcp.analysis.spurious_retransmission",  # 18
    "tcp.analysis.out_of_order",  # 19
    "tcp.analysis.duplicate_ack",  # 20
    "tcp.analysis.zero_window",  # 21
    "tcp.analysis.zero_window_probe",  # 22
    "tcp.analysis.keep_alive",  # 23
    "tcp.analysis.lost_segment",  # 24
    "tcp.analysis.ack_lost_segment",  # 25
    "tcp.analysis.ack_rtt",  # 26
    "tcp.analysis.acks_frame",  # 27
    "tcp.analysis.initial_rtt",  # 28
    "tcp.time_delta",  # 29
    "tcp.options.sack_le",  # 30
    "tcp.options.sack_re",  # 31
    "tcp.options.timestamp.tsval",  # 32
    "tcp.flags.ack",  # 33
    "ip.id",  # 34
    "tcp.checksum",  # 35
]


def resolve(spec):
    if spec.startswith("corpus:"):
        return os.path.join(CORPUS, spec[len("corpus:"):])
    if spec.startswith("root:"):
        return os.path.join(ROOT, spec[len("root:"):])
    return spec


def label(path):
    p = os.path.abspath(path)
    for base, tag in ((CORPUS, "corpus/"), (ROOT, "")):
        if p.startswith(base + os.sep):
            rel = p[len(base) + 1:]
            if tag == "corpus/":
                rel = re.sub(r"^zeek/testing/btest/Traces/", "zeek/", rel)
                rel = re.sub(r"^suricata-verify/tests/", "suricata/", rel)
            return rel
    return path


def norm_ip(s):
    return str(ipaddress.ip_address(s))


def ep_str(ep):
    ip, port = ep
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# ---------------------------------------------------------------------------
# retina-analyze


def run_ours(binary, path):
    out = subprocess.run([binary, path, "--format", "json", "--quiet"],
                         capture_output=True)
    if not out.stdout:
        raise RuntimeError(f"retina-analyze: {out.stderr.decode(errors='replace')}")
    doc = json.loads(out.stdout)
    flows = []
    for f in doc.get("flows", []):
        if f.get("proto") != "tcp" or not f.get("tcp"):
            continue
        c = (norm_ip(f["client"]["ip"]), f["client"]["port"])
        s = (norm_ip(f["server"]["ip"]), f["server"]["port"])
        t = f["tcp"]
        d = {}
        for side in ("client", "server"):
            r = t["retransmissions"][side]
            rtt = (t.get("rtt_ms_by_dir") or {}).get(side)
            d[side] = {
                "retx": r["segments"],
                "rbytes": r["bytes"],
                "mech": f'{r["rto"]}/{r["fast"]}/{r["tlp"]}/{r["spurious"]}',
                "ooo": t["out_of_order"][side],
                "lost_bytes": t["capture_lost_bytes"][side],
                "lost_segs": t["capture_lost_segments"][side],
                "dupack": t["dup_acks"][side],
                "zwin": t["zero_windows"][side],
                "zwp": t["zero_window_probes"][side],
                "ka": t["keep_alives"][side],
                "dsegs": t["data_segments"][side],
                "ubytes": t["unique_bytes"][side],
                "dups": (t.get("duplicates") or {}).get(side),
                "rtt": (rtt["samples"], rtt["min"], rtt["max"]) if rtt else (0, None, None),
            }
        hs = t.get("handshake") or {}
        flows.append({
            "client": c, "server": s, "first_ts": f["first_ts"],
            "packets": f["packets"], "dirs": d,
            "hs_total": t.get("handshake_rtt_ms"),
            "hs_legs": (hs.get("syn_to_synack_ms"), hs.get("synack_to_ack_ms")) if hs else None,
            "syn_retx": t["syn_retransmissions"], "synack_retx": t["synack_retransmissions"],
            "history": t["history"], "conn_state": t["conn_state"],
        })
    return flows


# ---------------------------------------------------------------------------
# tshark


def run_tshark(path):
    cmd = ["tshark", "-r", path, "-n", "-Y", "tcp && !icmp && !icmpv6",
           "-o", "tcp.desegment_tcp_streams:FALSE",
           "-o", "tcp.analyze_sequence_numbers:TRUE",
           "-o", "tcp.calculate_timestamps:TRUE",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
           "-E", "aggregator=,", "-E", "quote=n", "-E", "header=n"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    frames = []
    for line in out.stdout.splitlines():
        v = line.split("\t")
        if len(v) < len(TSHARK_FIELDS):
            v += [""] * (len(TSHARK_FIELDS) - len(v))
        src = v[2] or v[4]
        dst = v[3] or v[5]
        if not src or not v[6] or not v[8]:
            continue
        fr = {
            "no": int(v[0]), "t": float(v[1]),
            "src": (norm_ip(src), int(v[6])), "dst": (norm_ip(dst), int(v[7])),
            "stream": int(v[8]), "len": int(v[9] or 0),
            "syn": v[10] in ("1", "True"), "fin": v[11] in ("1", "True"),
            "rst": v[12] in ("1", "True"), "ackf": v[33] in ("1", "True"),
            "seq": int(v[13] or 0), "ack": int(v[14] or 0), "win": int(v[15] or 0),
            "retx": bool(v[16]), "fast": bool(v[17]), "spur": bool(v[18]),
            "ooo": bool(v[19]), "dupack": bool(v[20]), "zwin": bool(v[21]),
            "zwp": bool(v[22]), "ka": bool(v[23]), "lost": bool(v[24]),
            "acklost": bool(v[25]),
            "ack_rtt": float(v[26]) if v[26] else None,
            "acks_frame": int(v[27]) if v[27] else None,
            "irtt": float(v[28]) if v[28] else None,
            "dt": float(v[29]) if v[29] else None,
            "sack": (v[30], v[31]) if v[30] else None,
            "tsval": int(v[32]) if v[32] else None,
            "ipid": v[34], "csum": v[35],
        }
        frames.append(fr)
    return frames


def tshark_streams(frames):
    """stream -> {a, b, first_t, dirs{ep: counters}, irtt}"""
    by_no = {f["no"]: f for f in frames}
    streams = {}
    for f in frames:
        st = streams.setdefault(f["stream"], {"eps": set(), "first_t": f["t"], "frames": [],
                                              "irtt": None})
        st["eps"].update([f["src"], f["dst"]])
        st["frames"].append(f)
        if f["irtt"] is not None:
            st["irtt"] = f["irtt"]
    for st in streams.values():
        dirs = {}
        for ep in st["eps"]:
            dirs[ep] = dict(retx=0, fast=0, spur=0, rbytes=0, ooo=0, lost=0, acklost=0,
                            dupack=0, zwin=0, zwp=0, ka=0, dsegs=0, ctl_retx=0, ctl_bytes=0,
                            ctl_seen=set(), rtt=[], cdup_data=0, cdup_ack=0,
                            last_copy={})
        for f in st["frames"]:
            d = dirs[f["src"]]
            other = dirs[f["dst"]]
            # The same IP datagram captured again: same IPv4 id (or, for IPv6,
            # same TSval) and identical TCP header fields, within 10 ms.
            ident = f["ipid"] or (str(f["tsval"]) if f["tsval"] is not None else "")
            if ident:
                key = (ident, f["seq"], f["ack"], f["len"], f["syn"], f["fin"], f["rst"],
                       f["win"], f["csum"])
                t0 = d["last_copy"].get(key)
                if t0 is not None and f["t"] - t0 <= 0.010:
                    if f["len"] > 0:
                        d["cdup_data"] += 1
                    else:
                        d["cdup_ack"] += 1
                d["last_copy"][key] = f["t"]
            if f["len"] > 0:
                d["dsegs"] += 1
                if f["retx"] or f["fast"] or f["spur"]:
                    d["retx"] += 1
                    d["rbytes"] += f["len"]
                    d["fast"] += f["fast"]
                    d["spur"] += f["spur"]
                if f["ooo"]:
                    d["ooo"] += 1
            # SYN/FIN sequence numbers sent again: tcptrace counts these in
            # "rexmt data pkts" (and 1 byte each in "rexmt data bytes").
            ctl_again = 0
            for flag in ("syn", "fin"):
                if f[flag]:
                    k = (flag, f["seq"] + (f["len"] if flag == "fin" else 0))
                    if k in d["ctl_seen"]:
                        ctl_again += 1
                    d["ctl_seen"].add(k)
            if ctl_again:
                d["ctl_bytes"] += ctl_again
                if f["len"] == 0:
                    d["ctl_retx"] += 1
            d["lost"] += f["lost"]
            other["acklost"] += f["acklost"]
            d["dupack"] += f["dupack"]
            d["zwin"] += f["zwin"]
            d["zwp"] += f["zwp"]
            d["ka"] += f["ka"]
            if f["ack_rtt"] is not None and f["acks_frame"] in by_no:
                acked = by_no[f["acks_frame"]]
                if acked["len"] > 0:
                    other["rtt"].append(f["ack_rtt"] * 1000.0)
        st["dirs"] = dirs
        st["key"] = frozenset(st["eps"])
    return streams


# ---------------------------------------------------------------------------
# tcptrace

ROW = re.compile(r"^\s+([^:\t]+?):\s*(.*?)\s{2,}([^:\t]+?):\s*(.*?)\s*$")


def parse_host(s):
    s = s.strip()
    ip, port = s.rsplit(":", 1)
    return (norm_ip(ip), int(port))


def run_tcptrace(path):
    out = subprocess.run(["tcptrace", "-l", "-r", "-n", path], capture_output=True, text=True)
    if "did not understand link format" in (out.stdout + out.stderr):
        return None
    conns = []
    cur = None
    hosts = []
    for line in out.stdout.splitlines():
        if re.match(r"^TCP connection \d+:\s*$", line):
            cur = {"ab": {}, "ba": {}}
            hosts = []
            conns.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"^\s+host \w+:\s+(\S+)\s*$", line)
        if m:
            hosts.append(parse_host(m.group(1)))
            if len(hosts) == 2:
                cur["a"], cur["b"] = hosts
            continue
        m = re.match(r"^\s+first packet:\s+(.*)$", line)
        if m:
            cur["first"] = m.group(1)
            continue
        m = ROW.match(line)
        if m and not line.lstrip().startswith("For the following"):
            cur["ab"][m.group(1).strip()] = m.group(2).strip()
            cur["ba"][m.group(3).strip()] = m.group(4).strip()
    return conns


def tt_num(v):
    if v is None:
        return None
    v = v.split()[0] if v else v
    if v in ("NA", "", None):
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def tt_dir(conn, src):
    """tcptrace columns for data SENT by src: (mine, other)."""
    if conn["a"] == src:
        return conn["ab"], conn["ba"]
    return conn["ba"], conn["ab"]


# ---------------------------------------------------------------------------
# comparison


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v != 0 else "0"
    return str(v)


def cell(ours, tsh, tt, same=None):
    vals = [ours, tsh, tt]
    present = [x for x in vals if x is not None and x != "-"]
    if same is None:
        same = len(set(map(str, present))) <= 1
    mark = "" if same else " ≠"
    return f"{fmt(ours)} \\| {fmt(tsh)} \\| {fmt(tt)}{mark}"


def compare_file(binary, path):
    res = {"file": label(path), "path": path, "flows": [], "notes": []}
    ours = run_ours(binary, path)
    frames = run_tshark(path)
    streams = tshark_streams(frames)
    tt = run_tcptrace(path)
    if tt is None:
        res["notes"].append("tcptrace does not read this link type")
        tt = []
    # Order each source's flows per unordered endpoint pair.
    def group(items, key, first):
        g = {}
        for it in sorted(items, key=first):
            g.setdefault(key(it), []).append(it)
        return g
    sg = group(streams.values(), lambda s: s["key"], lambda s: s["first_t"])
    tg = group(tt, lambda c: frozenset([c["a"], c["b"]]), lambda c: 0)
    seen = {}
    for fl in sorted(ours, key=lambda f: f["first_ts"]):
        key = frozenset([fl["client"], fl["server"]])
        k = seen.get(key, 0)
        seen[key] = k + 1
        st = sg.get(key, [None] * (k + 1))
        st = st[k] if k < len(st) else None
        tc = tg.get(key, [])
        tc = tc[k] if k < len(tc) else None
        row = {"client": ep_str(fl["client"]), "server": ep_str(fl["server"]),
               "index": k, "history": fl["history"], "conn_state": fl["conn_state"],
               "dirs": {}}
        for side, src in (("client", fl["client"]), ("server", fl["server"])):
            o = fl["dirs"][side]
            ts = st["dirs"].get(src) if st else None
            mine = other = None
            if tc:
                mine, other = tt_dir(tc, src)
            g = lambda m, k2: tt_num(m.get(k2)) if m else None
            synfin = ts["ctl_retx"] if ts is not None else 0
            synfin_b = ts["ctl_bytes"] if ts is not None else 0
            trexp = g(mine, "rexmt data pkts")
            trexb = g(mine, "rexmt data bytes")
            d = {
                "retx": (o["retx"], ts["retx"] if ts else None, trexp),
                "retx_tt_adj": (trexp - synfin) if trexp is not None else None,
                "rbytes": (o["rbytes"], ts["rbytes"] if ts else None, trexb),
                "rbytes_tt_adj": (trexb - synfin_b) if trexb is not None else None,
                "tshark_fast_spur": (ts["fast"], ts["spur"]) if ts else None,
                "tshark_ctl_retx": synfin,
                "capture_dups": (ts["cdup_data"], ts["cdup_ack"]) if ts else None,
                "dups_ours": o["dups"],
                "mech": o["mech"],
                "ooo": (o["ooo"], ts["ooo"] if ts else None, g(mine, "outoforder pkts")),
                "lost": (o["lost_bytes"], o["lost_segs"],
                         (ts["lost"], ts["acklost"]) if ts else None,
                         g(mine, "missed data")),
                "dupack": (o["dupack"], ts["dupack"] if ts else None, g(other, "duplicate acks")),
                "zwin": (o["zwin"], ts["zwin"] if ts else None, g(mine, "zero win adv")),
                "zwp": (o["zwp"], ts["zwp"] if ts else None, g(mine, "zwnd probe pkts")),
                "ka": (o["ka"], ts["ka"] if ts else None, None),
                "dsegs": (o["dsegs"], ts["dsegs"] if ts else None, g(mine, "actual data pkts")),
                "ubytes": (o["ubytes"], g(mine, "ttl stream length"), g(mine, "unique bytes sent")),
                "rtt_ours": o["rtt"],
                "rtt_tshark": ((len(ts["rtt"]), min(ts["rtt"]), max(ts["rtt"]))
                               if ts and ts["rtt"] else (0, None, None)),
                "rtt_tcptrace": (g(mine, "RTT samples"), g(mine, "RTT min"), g(mine, "RTT max")),
                "tt_3whs": g(mine, "RTT from 3WHS"),
                "tt_synfin": mine.get("SYN/FIN pkts sent") if mine else None,
            }
            row["dirs"][side] = d
        row["hs"] = {
            "ours_total": fl["hs_total"], "ours_legs": fl["hs_legs"],
            "tshark_irtt_ms": st["irtt"] * 1000.0 if st and st["irtt"] is not None else None,
            "tcptrace_legs": (row["dirs"]["client"]["tt_3whs"], row["dirs"]["server"]["tt_3whs"]),
            "syn_retx": fl["syn_retx"], "synack_retx": fl["synack_retx"],
        }
        if st is None:
            res["notes"].append(f"{ep_str(fl['client'])}: no tshark stream")
        if tc is None:
            res["notes"].append(f"{ep_str(fl['client'])}<->{ep_str(fl['server'])} #{k}: no tcptrace connection")
        res["flows"].append(row)
    nt = sum(len(v) for v in tg.values())
    if nt != len(ours):
        res["notes"].append(f"flow count: ours {len(ours)}, tshark {len(streams)}, tcptrace {nt}")
    return res


def retx_cell(d):
    o, t, tt = d["retx"]
    adj = d["retx_tt_adj"]
    fs = d["tshark_fast_spur"]
    ts = "-" if t is None else (f"{t}" + (f" (F{fs[0]} S{fs[1]})" if fs and (fs[0] or fs[1]) else ""))
    ttx = "-" if tt is None else (f"{tt}" if adj == tt else f"{tt}→{adj}")
    same = len({str(x) for x in (o, t, adj) if x is not None}) <= 1
    return f"{o} \\| {ts} \\| {ttx}" + ("" if same else " ≠")


def rbytes_cell(d):
    o, t, tt = d["rbytes"]
    adj = d["rbytes_tt_adj"]
    ttx = "-" if tt is None else (f"{tt}" if adj == tt else f"{tt}→{adj}")
    same = len({str(x) for x in (o, t, adj) if x is not None}) <= 1
    return f"{o} \\| {fmt(t)} \\| {ttx}" + ("" if same else " ≠")


def lost_cell(d):
    ob, osg, t, tt = d["lost"]
    ts = "-" if t is None else f"{t[0]}/{t[1]}"
    same = (tt is None or tt == ob)
    return f"{ob}B/{osg} \\| {ts} \\| {fmt(tt)}" + ("" if same else " ≠")


def rtt_cell(d):
    def f3(x):
        n, lo, hi = x
        if not n:
            return "0"
        return f"{n}: {fmt(lo)}–{fmt(hi)}"
    o = d["rtt_ours"]
    t = d["rtt_tshark"]
    tt = d["rtt_tcptrace"]
    tts = "-" if tt[0] is None else (f"{tt[0]}: {fmt(tt[1])}–{fmt(tt[2])}" if tt[0] else "0")
    same = o[0] == t[0]
    return f"{f3(o)} \\| {f3(t)} \\| {tts}" + ("" if same else " ≠")


def ubytes_cell(d):
    o, span, uniq = d["ubytes"]
    same = span is None or span == o
    return f"{o} \\| {fmt(span)} / {fmt(uniq)}" + ("" if same else " ≠")


def dups_cell(d):
    o = fmt(d["dups_ours"])
    c = d["capture_dups"]
    if not c:
        return f"{o} \\| -"
    cs = f"{c[0]}/{c[1]}"
    return f"**{o} \\| {cs}**" if (d["dups_ours"] or any(c)) else f"{o} \\| {cs}"


def hs_cell(h):
    o = h["ours_total"]
    legs = h["ours_legs"]
    t = h["tshark_irtt_ms"]
    ttl = h["tcptrace_legs"]
    os_ = "-" if o is None else f"{fmt(o)} ({fmt(legs[0])}+{fmt(legs[1])})"
    ts = fmt(round(t, 3) if t is not None else None)
    tts = "-" if not ttl or ttl[0] is None else f"{fmt(ttl[0])}+{fmt(ttl[1])}"
    same = (o is None and t is None) or (o is not None and t is not None and abs(o - t) < 0.0015)
    return f"{os_} \\| {ts} \\| {tts}" + ("" if same else " ≠")


def markdown(results):
    out = []
    out.append("Cells: `ours | tshark | tcptrace`; `≠` marks a difference. Direction = the side "
               "that sends the data (retx, ooo, lost, dsegs, ubytes, rtt) or the ACKs/window "
               "(dupack, zwin). tcptrace `a→b` = raw value → value without SYN/FIN "
               "retransmissions. lost: ours `bytes B/segments` | tshark `previous segment not "
               "captured / ACKed unseen (on the peer's ACKs)` | tcptrace missed data (bytes). "
               "ubytes: ours | tcptrace `ttl stream length / unique bytes sent`. "
               "rtt: `samples: min–max` ms. duplicates: ours `tcp.duplicates` (the same packet "
               "captured again, left out of every other figure) \\| frames that repeat an IP "
               "datagram (same IPv4 id, or TSval, and identical TCP header within 10 ms), with "
               "payload / without (computed by this script from tshark's fields; tshark and "
               "tcptrace count them as data).\n")
    out.append("### Retransmissions, reordering, loss, ACKs\n")
    out.append("| capture | flow | dir | retx segs | retx bytes | ours rto/fast/tlp/spur | ooo | lost | dupack sent | zero win | zw probes | data segs | duplicates: ours \\| copies data/ack |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for fl in r["flows"]:
            name = f'{fl["client"]}→{fl["server"]}' + (f' #{fl["index"]}' if fl["index"] else "")
            for side in ("client", "server"):
                d = fl["dirs"][side]
                out.append("| " + " | ".join([
                    r["file"], name, side, retx_cell(d), rbytes_cell(d), d["mech"],
                    cell(*d["ooo"]), lost_cell(d), cell(*d["dupack"]), cell(*d["zwin"]),
                    cell(*d["zwp"]), cell(*d["dsegs"]),
                    dups_cell(d)]) + " |")
    out.append("")
    out.append("### RTT, handshake, unique bytes\n")
    out.append("| capture | flow | handshake ms: ours total (syn→synack + synack→ack) \\| tshark iRTT \\| tcptrace 3WHS a→b + b→a | dir | data RTT | unique bytes |")
    out.append("|---|---|---|---|---|---|")
    for r in results:
        for fl in r["flows"]:
            name = f'{fl["client"]}→{fl["server"]}' + (f' #{fl["index"]}' if fl["index"] else "")
            for i, side in enumerate(("client", "server")):
                d = fl["dirs"][side]
                out.append("| " + " | ".join([
                    r["file"] if i == 0 else "", name if i == 0 else "",
                    hs_cell(fl["hs"]) if i == 0 else "", side, rtt_cell(d), ubytes_cell(d)]) + " |")
    notes = [(r["file"], n) for r in results for n in r["notes"]]
    if notes:
        out.append("\nNotes:\n")
        for f, n in notes:
            out.append(f"- {f}: {n}")
    return "\n".join(out) + "\n"


def frames_dump(path):
    """tshark's per-frame labels, with seq ranges and timing, for explaining."""
    frames = run_tshark(path)
    streams = tshark_streams(frames)
    for sid, st in sorted(streams.items()):
        print(f"== stream {sid}: " + " <-> ".join(ep_str(e) for e in sorted(st["eps"])))
        last_t = {}
        for f in st["frames"]:
            flags = [n for n in ("retx", "fast", "spur", "ooo", "dupack", "zwin", "zwp", "ka",
                                 "lost", "acklost") if f[n]]
            fl = "".join(c for c, b in (("S", f["syn"]), ("F", f["fin"]), ("R", f["rst"]))
                         if b)
            print(f'{f["no"]:>6} {f["t"]:.6f} {ep_str(f["src"]):>22} {fl:>3} '
                  f'seq {f["seq"]}:{f["seq"] + f["len"]} len {f["len"]} ack {f["ack"]} '
                  f'win {f["win"]}'
                  + (f' tsval {f["tsval"]}' if f["tsval"] is not None else "")
                  + (f' sack {f["sack"][0]}-{f["sack"][1]}' if f["sack"] else "")
                  + (f' ack_rtt {f["ack_rtt"] * 1000:.3f}ms->#{f["acks_frame"]}'
                     if f["ack_rtt"] is not None else "")
                  + (f'  [{",".join(flags)}]' if flags else ""))


COUNTERS = [
    ("retx", lambda t, s: t["retransmissions"][s]["segments"]),
    ("rbytes", lambda t, s: t["retransmissions"][s]["bytes"]),
    ("rto", lambda t, s: t["retransmissions"][s]["rto"]),
    ("fast", lambda t, s: t["retransmissions"][s]["fast"]),
    ("tlp", lambda t, s: t["retransmissions"][s]["tlp"]),
    ("spur", lambda t, s: t["retransmissions"][s]["spurious"]),
    ("ooo", lambda t, s: t["out_of_order"][s]),
    ("lostB", lambda t, s: t["capture_lost_bytes"][s]),
    ("dupack", lambda t, s: t["dup_acks"][s]),
    ("zwin", lambda t, s: t["zero_windows"][s]),
    ("zwp", lambda t, s: t["zero_window_probes"][s]),
    ("ka", lambda t, s: t["keep_alives"][s]),
    ("rtt", lambda t, s: ((t.get("rtt_ms_by_dir") or {}).get(s) or {}).get("samples", 0)),
    ("dups", lambda t, s: (t.get("duplicates") or {}).get(s, 0)),
]


def ours_frames(binary, path, first=1, last=None):
    """Per-frame attribution of our counters: run the analyzer on every prefix
    of the capture (editcap -r) and print which counters each frame changed."""
    import tempfile
    n = int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", path], capture_output=True,
                           text=True).stdout.split()[-1])
    last = min(last or n, n)
    prev = {}
    with tempfile.TemporaryDirectory() as tmp:
        ext = ".pcapng" if "pcapng" in path else ".pcap"
        out = os.path.join(tmp, "prefix" + ext)
        for i in range(first, last + 1):
            subprocess.run(["editcap", "-r", path, out, f"1-{i}"], check=True,
                           capture_output=True)
            doc = json.loads(subprocess.run([binary, out, "--format", "json", "--quiet"],
                                            capture_output=True).stdout)
            cur = {}
            for k, f in enumerate(doc["flows"]):
                if f.get("proto") != "tcp" or not f.get("tcp"):
                    continue
                key = (ep_str((f["client"]["ip"], f["client"]["port"])), ep_str((f["server"]["ip"], f["server"]["port"])), f["first_ts"])
                for side in ("client", "server"):
                    for name, get in COUNTERS:
                        cur[(key, side, name)] = get(f["tcp"], side)
            changes = [f"{k[1]}.{k[2]}{v - prev.get(k, 0):+}" for k, v in cur.items()
                       if v != prev.get(k, 0)]
            if changes:
                print(f"{i:>6} " + " ".join(changes))
            prev = cur


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "retina-analyze"))
    ap.add_argument("-o", "--output")
    ap.add_argument("--json")
    ap.add_argument("--frames", action="store_true",
                    help="print tshark's per-frame analysis of the given files")
    ap.add_argument("--ours-frames", action="store_true",
                    help="per-frame attribution of retina-analyze's counters (runs the "
                         "analyzer on every prefix of the capture; slow on big files)")
    ap.add_argument("--range", default="1-", metavar="FIRST-LAST",
                    help="frames for --ours-frames (default: all)")
    args = ap.parse_args()
    if args.frames:
        for f in args.files:
            frames_dump(resolve(f))
        return
    if args.ours_frames:
        a, _, b = args.range.partition("-")
        for f in args.files:
            ours_frames(args.bin, resolve(f), int(a or 1), int(b) if b else None)
        return
    files = [resolve(f) for f in args.files] if args.files else [resolve(f) for f in DEFAULT]
    if not args.files:
        gt = os.path.join(ROOT, "testdata", "groundtruth")
        if os.path.isdir(gt):
            for n in sorted(os.listdir(gt)):
                if re.search(r"\.pcap(ng)?(\.gz)?$", n) and ".dropped." not in n:
                    files.append(os.path.join(gt, n))
    results = []
    for f in files:
        if not os.path.exists(f):
            print(f"missing: {f}", file=sys.stderr)
            continue
        try:
            results.append(compare_file(args.bin, f))
        except Exception as e:  # keep going: one odd file must not stop the table
            print(f"{label(f)}: {e}", file=sys.stderr)
    md = markdown(results)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(md)
    else:
        sys.stdout.write(md)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=list)


if __name__ == "__main__":
    main()
