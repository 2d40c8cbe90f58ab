//! The fuzz targets' bodies (fuzz/fuzz_targets calls them, one per target,
//! and tests/regressions.rs replays every input the fuzzer ever crashed on),
//! and what they share: the path every captured packet takes in the
//! analyzer (frame decoding, IP fragment reassembly, the flow table with its
//! TCP, UDP, DNS and ICMP analysis, and the end of every flow).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use retina_analyzer::context::K8sIndex;
use retina_analyzer::decode::{decode, dns, ipproto, Packet, TcpFlags, TcpSummary, Transport};
use retina_analyzer::flow::{FlowTable, FragmentTracker, Timeouts};
use retina_analyzer::hubble;
use retina_analyzer::source::{agent, archive, read_capture_from, FileInfo, Record};
use retina_capture::abi;
use retina_filter::Filter;
use retina_l7::{Direction, L7Tracker, Limits, Segment};

/// The analysis of a stream of packets, as the pipeline runs it per shard,
/// with a small flow cap so that eviction runs too.
pub struct Analysis {
    table: FlowTable,
    frags: FragmentTracker,
    out: Vec<Packet>,
    last_ts: i64,
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            table: FlowTable::new(Timeouts::default()).with_max_flows(64),
            frags: FragmentTracker::default(),
            out: Vec::new(),
            last_ts: 0,
        }
    }
}

impl Analysis {
    /// One decoded packet through fragment reassembly into the flow table.
    pub fn packet(&mut self, pkt: Packet) {
        self.frags.push(pkt, &mut self.out);
        for p in self.out.drain(..) {
            if p.ts_ns > self.last_ts.saturating_add(1_000_000_000) {
                self.table.sweep(p.ts_ns);
                self.last_ts = p.ts_ns;
            }
            self.table.process(&p);
        }
    }

    /// One captured frame: decoded (skipped frames count nowhere here).
    pub fn record(&mut self, r: &Record<'_>) {
        if let Ok(p) = decode(r.linktype, r.data, r.orig_len, r.ts_ns, 0, r.interface) {
            self.packet(p);
        }
    }

    /// Ends every flow, as at the end of a capture.
    pub fn finish(mut self) -> usize {
        self.frags.finish();
        self.table.finish(self.last_ts).len()
    }
}

/// Reads a capture (pcap or pcapng) from any reader and analyzes it.
/// `size` is what the file's size would be (0: unknown).
pub fn capture_from(input: Box<dyn Read + Send + '_>, size: u64) {
    let info = FileInfo {
        path: PathBuf::from("fuzz.pcap"),
        size,
        ..FileInfo::default()
    };
    let stop = AtomicBool::new(false);
    let mut a = Analysis::default();
    let (_, _err) = read_capture_from(input, info, &stop, &mut |r| a.record(&r));
    a.finish();
}

/// Where targets that must go through a file write it: memory-backed when
/// the machine has /dev/shm.
pub fn scratch() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// pcap and pcapng files (every block type, byte order and time resolution),
/// their frames decoded and analyzed.
pub fn capture(data: &[u8]) {
    capture_from(Box::new(data), data.len() as u64);
}

/// gzip-compressed captures (multi-member streams, damaged deflate data).
pub fn gzip(data: &[u8]) {
    capture_from(Box::new(flate2::read::MultiGzDecoder::new(data)), 0);
}

/// Link types: Ethernet, raw IP (101 and the DLT values 12 and 14), IPv4,
/// IPv6, BSD loopback, OpenBSD loopback, Linux SLL, SLL2, NFLOG, and one
/// the decoder does not know.
const LINKTYPES: [u16; 12] = [1, 101, 12, 14, 228, 229, 0, 108, 113, 276, 239, 147];

/// One frame of each link type the analyzer decodes (Ethernet with VLAN
/// tags, raw IP, Linux SLL and SLL2, BSD and OpenBSD loopback, NFLOG) with
/// whatever is inside (IPv4, IPv6 extension headers, fragments, VXLAN and
/// Geneve tunnels, ICMP quoting packets, DNS): the first byte picks the link
/// type, the rest is the frame, fed as several packets so that flows form.
pub fn frame(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let mut a = crate::Analysis::default();
    // The same bytes as two frames of one flow (and its fragments), then
    // each half as its own frame.
    let mid = rest.len() / 2;
    for (i, frame) in [rest, rest, &rest[..mid], &rest[mid..]]
        .into_iter()
        .enumerate()
    {
        a.record(&Record {
            ts_ns: i as i64 * 1_000_000,
            linktype,
            data: frame,
            orig_len: frame.len() as u32 + u32::from(pick >> 4),
            interface: 0,
            interfaces: 1,
        });
    }
    a.finish();
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// The TCP analyzer (through the flow table) fed arbitrary segment sequences:
/// every 20 bytes are one segment of one of two connections, either
/// direction, with any flags, sequence and acknowledgment numbers (absolute,
/// or relative to the last one sent, so that real-looking streams with
/// jumps of 2^31, overlaps, reordering and wraparound all occur), window,
/// length, options (MSS, window scale, SACK blocks, timestamps), and time
/// steps that may go backwards.
pub fn tcp(data: &[u8]) {
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut a = crate::Analysis::default();
    // Last sequence and acknowledgment number sent, per connection and direction.
    let mut last = [[(0u32, 0u32); 2]; 2];
    let mut ts: i64 = 1_700_000_000_000_000_000;
    for s in data.chunks_exact(20) {
        let dir = usize::from(s[0] & 1);
        let conn = usize::from(s[0] >> 1 & 1);
        let relative = s[0] & 4 != 0;
        let (mut seq, mut ack) = (u32_at(s, 2), u32_at(s, 6));
        if relative {
            let (ls, la) = last[conn][dir];
            seq = ls.wrapping_add(seq % 4096).wrapping_sub(1024);
            ack = la.wrapping_add(ack % 4096).wrapping_sub(1024);
        }
        let payload_len = u32::from(u16_at(s, 12)) % 3000;
        last[conn][dir] = (seq.wrapping_add(payload_len), ack);
        let step = i64::from(s[14]) * 1_000;
        ts = if s[0] & 8 != 0 {
            ts - step
        } else {
            ts + step * 10
        };
        let opts = s[15];
        let mut sack_blocks = [(0u32, 0u32); 4];
        let sack_count = s[17] % 5;
        for (i, b) in sack_blocks
            .iter_mut()
            .take(usize::from(sack_count))
            .enumerate()
        {
            let start = ack.wrapping_add((i as u32 + 1) * u32::from(s[16]) * 100);
            *b = (start, start.wrapping_add(u32::from(s[19]) * 10));
        }
        let tcp = TcpSummary {
            seq,
            ack,
            flags: TcpFlags(u16::from(s[1]) | (u16::from(s[0] & 0x10) << 4)),
            window: u16_at(s, 10),
            mss: (opts & 1 != 0).then_some(u16_at(s, 16)),
            window_scale: (opts & 2 != 0).then_some(s[16]),
            sack_permitted: opts & 4 != 0,
            sack_blocks,
            sack_count,
            timestamps: (opts & 8 != 0).then_some((u32_at(s, 16), u32_at(s, 2))),
            options_truncated: opts & 16 != 0,
        };
        let (src, dst, sport, dport) = if dir == 0 {
            (client, server, 40000 + conn as u16, 80)
        } else {
            (server, client, 80, 40000 + conn as u16)
        };
        a.packet(Packet {
            ts_ns: ts,
            file: 0,
            interface: 0,
            point: 0,
            clock: 0,
            wire_len: payload_len + 54,
            src,
            dst,
            proto: ipproto::TCP,
            sport,
            dport,
            ip_len: payload_len + 40,
            ip_id: u16_at(s, 18),
            payload_len,
            tunnel: None,
            vlan: [0; 2],
            outer: None,
            fragment: None,
            transport: Transport::Tcp(tcp),
            truncated: opts & 32 != 0,
            dns: None,
            content: u32_at(s, 16),
        });
    }
    a.finish();
}

/// DNS messages (compression pointer loops, truncated records, any counts),
/// on and off the DNS port, and the names they carry.
pub fn dns(data: &[u8]) {
    for on_port in [true, false] {
        if let Some(m) = dns::parse(data, on_port) {
            let _ = format!("{m:?}");
        }
    }
}

/// Hubble flow logs (`hubble observe -o jsonpb`), line by line, and what
/// the analyzer learns from them (names, table rows).
pub fn hubble(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut index = K8sIndex::default();
    for line in text.lines() {
        if let Ok(Some(f)) = hubble::parse_line(line) {
            hubble::learn_names(&mut index, &f);
            let _ = hubble::hubble_row(&f, "fuzz.json");
        }
    }
}

/// `kubectl get pods,services,nodes -A -o json` documents (and anything
/// else that parses as JSON), as `--k8s` reads them.
pub fn kubectl(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let mut index = K8sIndex::default();
        index.add_kubectl(&v);
    }
}

/// tar archives, plain or gzip: the capture agent's bundles and Retina
/// Capture tarballs (member names that climb out, links, huge sizes,
/// damaged headers), extracted as the analyzer extracts them.
pub fn archive(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir_in(crate::scratch()) else {
        return;
    };
    let path = dir.path().join("input.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let into = dir.path().join("out");
    let _ = std::fs::create_dir(&into);
    let _ = archive::extract(&path, &into);
}

/// The capture agent's Parquet tables (drops.parquet, retrans.parquet) as
/// the analyzer reads them from a bundle or the command line.
pub fn agent_parquet(data: &[u8]) {
    let Ok(file) = tempfile::NamedTempFile::new_in(crate::scratch()) else {
        return;
    };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    let _ = agent::read(file.path());
    let _ = agent::read_retrans(file.path());
}

/// The records the agent's BPF programs write to its ring buffers (packets,
/// drop and retransmission events), as the agent parses them.
pub fn agent_ringbuf(data: &[u8]) {
    if let Some(p) = abi::Packet::parse(data) {
        assert!(p.data.len() <= data.len());
    }
    match abi::Event::parse(data) {
        Some(abi::Event::Retrans(r)) => {
            let _ = abi::tcp_state_name(r.state);
        }
        Some(abi::Event::Drop(d)) => {
            let _ = format!("{d:?}");
        }
        None => {}
    }
}

/// Filter expressions (the tcpdump/BPF language with Kubernetes terms):
/// parsed, and compiled for flows.
pub fn filter(data: &[u8]) {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::parse(expr) {
        Ok(f) => {
            let _ = f.uses_k8s();
            let _ = f.for_flows();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// HTTP/1.x and TLS recognition and parsing on a TCP flow's segments in any
/// order, with retransmissions, holes and cut payloads: every segment is a
/// 12-byte header (direction, SYN, sequence offset, length) and its payload.
pub fn l7(data: &[u8]) {
    let mut l7 = L7Tracker::new(Limits::default());
    let mut rest = data;
    let mut ts = 0i64;
    while rest.len() >= 12 {
        let (h, tail) = rest.split_at(12);
        let len = usize::from(u16::from_be_bytes([h[10], h[11]])) % 512;
        let (payload, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        ts += i64::from(h[1]) * 1_000_000;
        let dir = if h[0] & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let base = if h[0] & 1 == 0 { 1_000u32 } else { 500_000 };
        l7.segment(&Segment {
            ts_ns: ts,
            dir,
            seq: base.wrapping_add(u32::from_be_bytes([h[2], h[3], h[4], h[5]]) % 65_536),
            ack: (h[0] & 4 != 0).then(|| u32::from_be_bytes([h[6], h[7], h[8], h[9]])),
            syn: h[0] & 2 != 0,
            wire_len: payload.len() as u32 + u32::from(h[0] >> 4),
            payload,
        });
        assert!(l7.memory_bytes() <= Limits::default().heap_bound());
    }
    let _ = l7.finish();
}
