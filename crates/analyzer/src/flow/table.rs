//! The flow table of one shard.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use crate::analysis::dns::DnsFlow;
use crate::analysis::tcp::SeqSpace;
use crate::analysis::tcp::{Seen, TcpAnalyzer, Verdict};
use crate::decode::{ipproto, IcmpSummary, Packet, Quoted, TcpSummary, Transport};
use crate::record::{Buffers, DnsRow, EventKind, EventRow, TcpFields};
use crate::report::{
    community_id, ns_to_s, proto_name, EndReason, FlowPath, FlowPoint, FlowRecord, IcmpErrorRecord,
    IcmpInfo, LogHistogram, LostBetween, PerDir, PointDelay, RoleBasis, TimeBin, Translation,
};

use super::points::{Content, Ident, Matcher, PointId, PointSpans, Sighting};
use super::{endpoints, likely_server_port, Direction, FlowKey, Side};
use crate::report::Endpoint;

/// When flows are considered over.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP flow without packets for this long ends (Zeek's default: 5 minutes).
    pub tcp_idle_ns: i64,
    /// UDP and other protocols (Zeek's default: 1 minute).
    pub udp_idle_ns: i64,
    /// ICMP (Zeek's default: 1 minute).
    pub icmp_idle_ns: i64,
    /// A closed TCP flow (FIN both ways, a RST, or a FIN while the other
    /// side has sent nothing) still absorbs stray trailing packets (a
    /// retransmitted FIN, the last ACK) for this long after it closed, as
    /// Zeek's `tcp_close_delay` (5 s); a packet after that begins a new flow.
    pub closed_linger_ns: i64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_idle_ns: 300_000_000_000,
            udp_idle_ns: 60_000_000_000,
            icmp_idle_ns: 60_000_000_000,
            closed_linger_ns: 5_000_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct DirStats {
    packets: u64,
    ip_bytes: u64,
    payload_bytes: u64,
}

#[derive(Debug, Clone, Default)]
struct TcpState {
    /// Initial sequence number of each direction's SYN (index: Direction).
    syn_isn: [Option<u32>; 2],
    fin: [bool; 2],
    rst: bool,
    /// Any packet from each side (index: Direction).
    sent: [bool; 2],
    /// The client sent more than SYNs (it believes the connection is open).
    client_past_syn: bool,
}

/// A connection opened with a SYN, whose originator went on sending while
/// the responder sent nothing (a capture that sees one direction), ends at
/// its first packet this long after its start, as Zeek's attempt timer
/// (`tcp_attempt_delay`) ends it; that packet begins the next record.
const ONE_SIDED_ATTEMPT_NS: i64 = 5_000_000_000;

/// What one capture point saw of a flow: its counts and its own TCP and
/// DNS analysis. A single-point run has one view per flow; with several
/// points each has its own, and the flow reports its primary point's.
#[derive(Debug, Default)]
struct View {
    point: PointId,
    first_ns: i64,
    last_ns: i64,
    dirs: [DirStats; 2],
    icmp_errors: Vec<IcmpErrorRecord>,
    /// TCP analysis, for TCP flows: made at the view's second TCP packet
    /// (see [`View::analyzer`]).
    analyzer: Option<Box<TcpAnalyzer>>,
    /// A TCP view whose analyzer is not made yet.
    lazy_tcp: bool,
    /// Zeek's '^': the originator is not the first packet's sender.
    flipped: bool,
    /// The view's first TCP segment, until the analyzer is made: a flow
    /// that only ever sees one segment (a scan, a SYN flood) keeps ~100
    /// bytes instead of an analyzer of 1.8 KB.
    first: Option<Box<FirstSegment>>,
    dns: Option<Box<DnsFlow>>,
    /// With several points: the primary point's analysis, whose timing
    /// (handshake, RTT, response times) the flow reports.
    timing_from: Option<Box<TcpAnalyzer>>,
    /// DNS rows wait for the flow's end (several points: which view's
    /// queries are reported is decided then).
    defer_dns_rows: bool,
}

/// What the TCP analyzer needs of one segment.
#[derive(Debug, Clone, Copy)]
struct FirstSegment {
    ts_ns: i64,
    dir: usize,
    tcp: TcpSummary,
    payload_len: u32,
    ip_id: u16,
}

impl FirstSegment {
    fn seen(&self) -> Seen<'_> {
        Seen {
            ts_ns: self.ts_ns,
            dir: self.dir,
            tcp: &self.tcp,
            payload_len: self.payload_len,
            ip_id: self.ip_id,
        }
    }
}

impl View {
    fn new(point: PointId, ts: i64, tcp: bool, flipped: bool) -> View {
        View {
            point,
            first_ns: ts,
            last_ns: ts,
            lazy_tcp: tcp,
            flipped,
            ..View::default()
        }
    }

    fn new_analyzer(flipped: bool) -> TcpAnalyzer {
        let mut a = TcpAnalyzer::default();
        if flipped {
            a.flipped();
        }
        a
    }

    /// The view's TCP analyzer, made now if it was not (the first segment
    /// replayed into it: the same state as if it had run from the start).
    fn analyzer(&mut self) -> Option<&mut TcpAnalyzer> {
        if self.lazy_tcp {
            self.lazy_tcp = false;
            let mut a = Box::new(View::new_analyzer(self.flipped));
            if let Some(f) = self.first.take() {
                a.packet(f.seen());
            }
            self.analyzer = Some(a);
        }
        self.analyzer.as_deref_mut()
    }

    /// Takes the view's TCP analyzer (made now if it was not).
    fn take_analyzer(&mut self) -> Option<Box<TcpAnalyzer>> {
        self.analyzer();
        self.analyzer.take()
    }

    /// One TCP segment through the view's analysis. The first is kept and
    /// its verdict told by a scratch analyzer; the analyzer itself is made
    /// at the second.
    fn tcp_packet(&mut self, seen: Seen<'_>) -> Option<Verdict> {
        if self.lazy_tcp && self.first.is_none() {
            let v = View::new_analyzer(self.flipped).packet(seen);
            self.first = Some(Box::new(FirstSegment {
                ts_ns: seen.ts_ns,
                dir: seen.dir,
                tcp: *seen.tcp,
                payload_len: seen.payload_len,
                ip_id: seen.ip_id,
            }));
            return Some(v);
        }
        Some(self.analyzer()?.packet(seen))
    }
}

/// A flow's views when several capture points saw it, and where each
/// transmission was seen ([`Matcher`]).
#[derive(Debug)]
struct Multi {
    views: Vec<View>,
    /// Per view: activity per timeline tick and RTT samples, merged into
    /// the run's timeline for the primary view only, when the flow ends.
    timelines: Vec<BTreeMap<i64, TimeBin>>,
    rtts: Vec<Vec<f64>>,
    matcher: Matcher,
    /// Sequence numbers of each direction, unwrapped once for all points.
    seq: [SeqSpace; 2],
    /// Segment size of each direction (from the peer's MSS option).
    seg: [u32; 2],
    /// Tuples the flow was seen under at other points (address translation).
    translations: Vec<(Endpoint, Endpoint, PointId)>,
    /// The flow's distinct packets: each transmission at the first point
    /// that saw it. Counts and TCP figures come from here; timing (RTT,
    /// response times) from the primary point's own view.
    union: Option<View>,
    union_timeline: BTreeMap<i64, TimeBin>,
    union_rtts: Vec<f64>,
}

impl Multi {
    fn new(spans: PointSpans) -> Multi {
        Multi {
            views: Vec::with_capacity(2),
            timelines: Vec::with_capacity(2),
            rtts: Vec::with_capacity(2),
            matcher: Matcher::new(spans),
            seq: [SeqSpace::default(); 2],
            seg: [0; 2],
            translations: Vec::new(),
            union: None,
            union_timeline: BTreeMap::new(),
            union_rtts: Vec::new(),
        }
    }

    /// The index of `point`'s view, created when new.
    fn view(&mut self, point: PointId, ts: i64, tcp: bool, flipped: bool) -> usize {
        match self.views.iter().position(|v| v.point == point) {
            Some(i) => i,
            None => {
                self.views.push(View::new(point, ts, tcp, flipped));
                self.timelines.push(BTreeMap::new());
                self.rtts.push(Vec::new());
                self.views.len() - 1
            }
        }
    }

    /// The sighting the matcher needs of `pkt`.
    fn sighting(&mut self, pkt: &Packet, dir: usize) -> Sighting {
        let content = match &pkt.transport {
            Transport::Tcp(t) if pkt.payload_len > 0 => {
                let start = self.seq[dir].advance(t.seq);
                let seg = match self.seg[dir] {
                    0 if pkt.src.is_ipv4() => 1448,
                    0 => 1428,
                    s => s,
                };
                let ident = if pkt.src.is_ipv4() && pkt.ip_id != 0 {
                    Some(Ident {
                        start: u32::from(pkt.ip_id),
                        width: pkt.payload_len.div_ceil(seg).max(1),
                        modulus: 1 << 16,
                    })
                } else {
                    t.timestamps.map(|(tsval, _)| Ident {
                        start: tsval,
                        width: 1,
                        modulus: 1 << 32,
                    })
                };
                Content::Data {
                    start,
                    end: start + u64::from(pkt.payload_len),
                    ident,
                }
            }
            Transport::Tcp(t) => {
                if t.flags.syn() {
                    if let Some(mss) = t.mss {
                        // The peer's segments carry at most this (less the
                        // timestamp option both sides use when offered).
                        let opts = if t.timestamps.is_some() { 12 } else { 0 };
                        self.seg[1 - dir] = u32::from(mss).saturating_sub(opts).max(1);
                    }
                }
                let (tsv, tse) = t.timestamps.unwrap_or((0, 0));
                // Duplicate ACKs differ by their SACK blocks only.
                let sack = if t.sack_count > 0 {
                    t.sack_blocks[0]
                } else {
                    (0, 0)
                };
                Content::Other(fingerprint(&[
                    u64::from(pkt.ip_id),
                    u64::from(t.flags.0),
                    u64::from(t.seq),
                    u64::from(t.ack),
                    u64::from(t.window),
                    u64::from(tsv),
                    u64::from(tse),
                    u64::from(sack.0) << 32 | u64::from(sack.1),
                    u64::from(t.sack_count),
                ]))
            }
            other => {
                let icmp = match other {
                    Transport::Icmp(i) => u64::from(i.icmp_type) << 8 | u64::from(i.code),
                    _ => 0,
                };
                Content::Other(fingerprint(&[
                    u64::from(pkt.ip_id),
                    u64::from(pkt.payload_len),
                    u64::from(pkt.content),
                    icmp,
                ]))
            }
        };
        Sighting {
            point: pkt.point,
            clock: pkt.clock,
            dir,
            ts_ns: pkt.ts_ns,
            ip_len: pkt.ip_len,
            payload_len: pkt.payload_len,
            content,
        }
    }
}

/// A primary point that saw at least this share of a flow's transmissions
/// gives its timing to the flow; below, the flow's distinct packets do.
const PRIMARY_TIMING_SHARE: f64 = 0.9;

/// A 64-bit fingerprint of a few fields.
fn fingerprint(fields: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in fields {
        h = (h ^ f).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    h
}

/// Where a view's data RTT samples go: the run's histogram (one point),
/// or the flow's list until its primary point is known.
enum Rtts<'a> {
    Run(&'a mut LogHistogram),
    Flow(&'a mut Vec<f64>),
}

/// One packet in one view: counts, timeline, DNS and TCP analysis (with
/// its event rows when `rec` is given). Returns the TCP verdict.
#[allow(clippy::too_many_arguments)]
fn account(
    view: &mut View,
    pkt: &Packet,
    dir: Direction,
    timeline: &mut BTreeMap<i64, TimeBin>,
    rtts: Rtts<'_>,
    recording: bool,
    mut rec: Option<&mut Buffers>,
    uid: u64,
) -> Option<Verdict> {
    view.first_ns = view.first_ns.min(pkt.ts_ns);
    view.last_ns = view.last_ns.max(pkt.ts_ns);
    let bin = timeline
        .entry(pkt.ts_ns.div_euclid(TIMELINE_TICK_NS))
        .or_default();
    bin.packets += 1;
    match dir {
        Direction::ToServer => bin.bytes_to_server += u64::from(pkt.ip_len),
        Direction::ToClient => bin.bytes_to_client += u64::from(pkt.ip_len),
    }
    let d = &mut view.dirs[dir.index()];
    d.packets += 1;
    d.ip_bytes += u64::from(pkt.ip_len);
    d.payload_bytes += u64::from(pkt.payload_len);
    if let Some(m) = &pkt.dns {
        let d = view.dns.get_or_insert_with(|| {
            let mut d = Box::<DnsFlow>::default();
            d.record = recording;
            d
        });
        d.message(pkt.ts_ns, m);
        if let (Some(rec), false) = (rec.as_deref_mut(), view.defer_dns_rows) {
            take_dns(uid, d, rec);
        }
    }
    let Transport::Tcp(t) = &pkt.transport else {
        return None;
    };
    let v = view.tcp_packet(Seen {
        ts_ns: pkt.ts_ns,
        dir: dir.index(),
        tcp: t,
        payload_len: pkt.payload_len,
        ip_id: pkt.ip_id,
    })?;
    bin.retransmissions += u64::from(v.retransmission);
    bin.out_of_order += u64::from(v.out_of_order);
    bin.resets += u64::from(v.reset);
    bin.zero_windows += u64::from(v.zero_window);
    bin.syn_retries += u64::from(v.syn_retry);
    if let Some(ms) = v.rtt_ms {
        bin.rtt_samples += 1;
        bin.rtt_sum_ms += ms;
        bin.rtt_max_ms = bin.rtt_max_ms.max(ms);
        match rtts {
            Rtts::Run(h) => h.add(ms),
            Rtts::Flow(v) => v.push(ms),
        }
    }
    if let Some(rec) = rec {
        let f = TcpFields {
            flags: t.flags.0,
            seq: t.seq,
            ack: t.ack,
            window: t.window,
        };
        let to_server = dir == Direction::ToServer;
        rec.verdict_events(uid, pkt.ts_ns, to_server, &f, pkt.payload_len, &v);
    }
    Some(v)
}

#[derive(Debug)]
struct Flow {
    /// Fixed at creation, unique in the run (see [`crate::record`]).
    uid: u64,
    key: FlowKey,
    client: Side,
    role: RoleBasis,
    first_ns: i64,
    last_ns: i64,
    tcp: TcpState,
    closed_ns: Option<i64>,
    fragments: u64,
    icmp: Option<IcmpInfo>,
    /// The outer addresses of the first tunnelled packet, client side first.
    outer: Option<Box<(std::net::IpAddr, std::net::IpAddr)>>,
    /// What the (only, or primary) capture point saw.
    view: View,
    /// Several capture points: each one's view, chosen from at the end.
    multi: Option<Box<Multi>>,
}

impl Flow {
    fn new(uid: u64, key: FlowKey, client: Side, role: RoleBasis, ts: i64) -> Flow {
        Flow {
            uid,
            key,
            client,
            role,
            first_ns: ts,
            last_ns: ts,
            tcp: TcpState::default(),
            closed_ns: None,
            fragments: 0,
            icmp: None,
            outer: None,
            view: View {
                first_ns: ts,
                last_ns: ts,
                ..View::default()
            },
            multi: None,
        }
    }

    fn direction(&self, sender: Side) -> Direction {
        if sender == self.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// The flow's record; `end_ns` is when it is known to have ended (for
    /// DNS queries still waiting for an answer).
    fn finish(mut self, end: EndReason, end_ns: i64, mut rec: Option<&mut Buffers>) -> FlowRecord {
        let timing = self.view.timing_from.take().map(|mut a| a.finish());
        let tcp = self.view.take_analyzer().map(|mut a| {
            let before = a.capture_loss_totals();
            let mut r = a.finish();
            if let Some(t) = timing {
                // Several points: the primary point's clock times the flow.
                r.handshake_rtt_ms = t.handshake_rtt_ms;
                r.handshake = t.handshake;
                r.rtt_ms = t.rtt_ms;
                r.rtt_ms_by_dir = t.rtt_ms_by_dir;
                r.ts_rtt_ms = t.ts_rtt_ms;
                r.response_time_ms = t.response_time_ms;
            }
            if let Some(rec) = rec.as_deref_mut() {
                // Loss only the end of the flow reveals (data acknowledged beyond anything seen).
                for (d, (segs, bytes)) in before.into_iter().enumerate() {
                    let segments = r.capture_lost_segments.get(d).saturating_sub(segs);
                    if segments > 0 {
                        rec.events.push(EventRow {
                            flow_uid: self.uid,
                            ts_ns: self.last_ns,
                            to_server: d == 0,
                            kind: EventKind::CaptureLoss,
                            class: None,
                            spurious: None,
                            seq: None,
                            bytes: Some(r.capture_lost_bytes.get(d).saturating_sub(bytes)),
                            count: segments,
                        });
                    }
                }
            }
            r
        });
        let dns = self.view.dns.take().map(|mut d| {
            let r = d.finish(end_ns);
            if let Some(rec) = rec {
                take_dns(self.uid, &mut d, rec);
            }
            r
        });
        let per = |f: fn(&DirStats) -> u64| PerDir {
            client: f(&self.view.dirs[0]),
            server: f(&self.view.dirs[1]),
        };
        let mut client = self.key.endpoint(self.client);
        let mut server = self.key.endpoint(self.client.other());
        if let Some(i) = &self.icmp {
            // ICMP has no ports: like Zeek, report the originator's message
            // type and code in their place (the echo id is in `icmp`).
            client.port = u16::from(i.icmp_type);
            server.port = u16::from(i.code);
        }
        FlowRecord {
            id: 0,
            proto: proto_name(self.key.proto),
            // An ICMP flow named by a reply (the request was not seen): the
            // message went from the server, as the Community ID must see it.
            community_id: match self.icmp {
                Some(i) if matches!((self.key.proto, i.icmp_type), (1, 0) | (58, 129)) => {
                    let (from, to) = (
                        Endpoint {
                            port: client.port,
                            ..server
                        },
                        Endpoint {
                            port: server.port,
                            ..client
                        },
                    );
                    community_id(self.key.proto, from, to)
                }
                _ => community_id(self.key.proto, client, server),
            },
            client,
            server,
            first_ts: ns_to_s(self.first_ns),
            last_ts: ns_to_s(self.last_ns),
            duration_s: ns_to_s(self.last_ns - self.first_ns),
            packets: per(|d| d.packets),
            ip_bytes: per(|d| d.ip_bytes),
            payload_bytes: per(|d| d.payload_bytes),
            tunnel: self.key.tunnel,
            tunnel_endpoints: self
                .outer
                .as_deref()
                .map(|&(client, server)| crate::report::TunnelEndpoints { client, server }),
            vlan: vlan_list(self.key.vlan),
            role_basis: self.role,
            end_reason: end,
            fragments: self.fragments,
            icmp: self.icmp,
            icmp_errors: std::mem::take(&mut self.view.icmp_errors),
            first_ts_ns: self.first_ns,
            uid: self.uid,
            last_ts_ns: self.last_ns,
            tcp,
            dns,
            client_k8s: None,
            server_k8s: None,
            drops: None,
            kernel_retransmissions: None,
            primary_point: None,
            points: Vec::new(),
            path: None,
            lost_between: Vec::new(),
            point_delays: Vec::new(),
            translations: Vec::new(),
        }
    }
}

/// A flow key's VLAN ids as the report lists them: `None` when untagged.
fn vlan_list(v: [u16; 2]) -> Option<Vec<u16>> {
    match v {
        [0, 0] => None,
        [a, 0] => Some(vec![a]),
        [a, b] => Some(vec![a, b]),
    }
}

/// Moves a flow's decided DNS query outcomes into `rec`, with a
/// `dns_timeout` event for each unanswered query.
fn take_dns(uid: u64, d: &mut DnsFlow, rec: &mut Buffers) {
    for q in d.outcomes.drain(..) {
        if q.status == "unanswered" {
            rec.events.push(EventRow {
                flow_uid: uid,
                ts_ns: q.ts_ns,
                to_server: true,
                kind: EventKind::DnsTimeout,
                class: None,
                spurious: None,
                seq: None,
                bytes: None,
                count: 1,
            });
        }
        rec.dns.push(DnsRow {
            flow_uid: uid,
            query: q,
        });
    }
}

/// Decides the originator of a new flow from its first packet.
fn originator(pkt: &Packet, sender: Side) -> (Side, RoleBasis) {
    match &pkt.transport {
        Transport::Tcp(t) if t.flags.syn() && !t.flags.ack() => (sender, RoleBasis::Syn),
        Transport::Tcp(t) if t.flags.syn() && t.flags.ack() => (sender.other(), RoleBasis::SynAck),
        Transport::Icmp(i) if i.echo_id.is_some() => {
            if i.is_request {
                (sender, RoleBasis::EchoRequest)
            } else {
                (sender.other(), RoleBasis::EchoRequest)
            }
        }
        _ => by_ports(pkt.sport, pkt.dport, sender),
    }
}

/// Midstream: the side on a well-known server port is the responder.
fn by_ports(sport: u16, dport: u16, sender: Side) -> (Side, RoleBasis) {
    match (likely_server_port(sport), likely_server_port(dport)) {
        (true, false) => (sender.other(), RoleBasis::ServerPort),
        (false, true) => (sender, RoleBasis::ServerPort),
        _ => (sender, RoleBasis::FirstPacket),
    }
}

/// Timeline resolution: 100 ms, fine enough for a chart of a short capture
/// (a day of capture is 864,000 ticks at most).
pub const TIMELINE_TICK_NS: i64 = 100_000_000;

/// Flows of one shard.
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    timeouts: Timeouts,
    now_ns: i64,
    finished: Finished,
    /// Most flows held at once: the memory high-water mark.
    pub peak_active: usize,
    /// Activity per tick ([`TIMELINE_TICK_NS`]) of capture time.
    pub timeline: BTreeMap<i64, TimeBin>,
    pub rtt_histogram: LogHistogram,
    next_uid: u64,
    uid_step: u64,
    /// Rows for a [`crate::record::Sink`], when one is attached.
    pub rec: Option<Buffers>,
    /// Several capture points: flows keep a view per point.
    multi: Option<MultiConfig>,
    /// Clock offsets between points of different files seen by this
    /// table's flows: the best (smallest-delay) estimate per pair.
    pub clocks: BTreeMap<(PointId, PointId), ClockEstimate>,
    /// Most flows held at once; a new flow beyond it evicts the
    /// longest-idle ones first.
    max_flows: usize,
    /// Flows ended early to stay within `max_flows`.
    pub evicted: u64,
}

/// Finished flow records, kept in chunks allocated once at their full
/// size: records are never copied as they accumulate (a growing vector of
/// 1.6 KB records copies them at every doubling and leaves the old blocks
/// behind, twice the memory of the records themselves).
#[derive(Debug, Default)]
pub struct Finished {
    chunks: Vec<Vec<FlowRecord>>,
    len: usize,
}

/// Records per chunk of [`Finished`] (about 3 MB).
const FINISHED_CHUNK: usize = 2048;

impl Finished {
    fn push(&mut self, r: FlowRecord) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < c.capacity() => c.push(r),
            _ => {
                let mut c = Vec::with_capacity(FINISHED_CHUNK);
                c.push(r);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records in order, as chunks (each freed once moved out).
    pub fn into_chunks(self) -> Vec<Vec<FlowRecord>> {
        self.chunks
    }

    /// The records in order.
    pub fn into_vec(self) -> Vec<FlowRecord> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks {
            v.extend(c);
        }
        v
    }
}

/// What a flow table leaves when the input ends.
#[derive(Debug)]
pub struct TableEnd {
    pub flows: Finished,
    /// Rows not yet handed to a sink.
    pub rec: Option<Buffers>,
    pub clocks: BTreeMap<(PointId, PointId), ClockEstimate>,
    /// Activity per timeline tick, and the data RTT samples.
    pub timeline: BTreeMap<i64, TimeBin>,
    pub rtt_histogram: LogHistogram,
}

/// A clock offset between two points of different files, from one flow or
/// the best of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockEstimate {
    /// Subtract from the second point's times to read them on the first's clock.
    pub offset_ns: i64,
    /// The one-way delay the estimate implies (smaller is better).
    pub delay_ns: i64,
    /// Flows that gave an estimate.
    pub flows: u64,
}

/// Settings of a run with several capture points.
#[derive(Debug, Clone)]
pub struct MultiConfig {
    /// When every point captured.
    pub spans: PointSpans,
    /// How long after its last sighting a transmission is decided (seen
    /// everywhere it will be seen).
    pub window_ns: i64,
}

impl FlowTable {
    pub fn new(timeouts: Timeouts) -> FlowTable {
        FlowTable {
            flows: HashMap::new(),
            timeouts,
            now_ns: i64::MIN,
            finished: Finished::default(),
            peak_active: 0,
            timeline: BTreeMap::new(),
            rtt_histogram: LogHistogram::default(),
            next_uid: 0,
            uid_step: 1,
            rec: None,
            multi: None,
            clocks: BTreeMap::new(),
            max_flows: usize::MAX,
            evicted: 0,
        }
    }

    /// Holds at most `n` flows at once (at least 1).
    pub fn with_max_flows(mut self, n: usize) -> FlowTable {
        self.max_flows = n.max(1);
        self
    }

    /// Ends the longest-idle eighth of the flows (at least one), as
    /// [`EndReason::Evicted`]: a flood of new tuples costs amortized
    /// constant time per flow, and ties break on the flow key, so the
    /// choice does not depend on the hash map's order.
    fn evict(&mut self, now: i64) {
        let n = (self.flows.len() / 8).max(1);
        let mut by_idle: Vec<(i64, i64, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.last_ns, f.first_ns, *k))
            .collect();
        if n < by_idle.len() {
            by_idle.select_nth_unstable(n - 1);
            by_idle.truncate(n);
        }
        by_idle.sort_unstable_by_key(|&(_, first, k)| (first, k));
        for (_, _, k) in by_idle {
            if let Some(f) = self.flows.remove(&k) {
                let rec = self.finish_flow(f, EndReason::Evicted, now.max(self.now_ns));
                self.finished.push(rec);
                self.evicted += 1;
            }
        }
    }

    /// Keeps a view per capture point in every flow (a run with several).
    pub fn with_points(mut self, cfg: MultiConfig) -> FlowTable {
        self.multi = Some(cfg);
        self
    }

    /// Ends `f`: with several points, its primary point's view becomes the
    /// flow's, completed by what only other points saw, and the points'
    /// story (path, loss between them, delays) is told.
    fn finish_flow(&mut self, mut f: Flow, end: EndReason, end_ns: i64) -> FlowRecord {
        let Some(mut m) = f.multi.take() else {
            return f.finish(end, end_ns, self.rec.as_mut());
        };
        m.matcher.finish();
        if m.views.is_empty() {
            return f.finish(end, end_ns, self.rec.as_mut());
        }
        // The primary point: the one that saw the largest share of the
        // flow's transmissions; ties to more packets, then the earliest.
        let primary = (0..m.views.len())
            .max_by(|&a, &b| {
                let share = |i: usize| m.matcher.share(m.views[i].point);
                let n = |i: usize| m.views[i].dirs[0].packets + m.views[i].dirs[1].packets;
                share(a)
                    .total_cmp(&share(b))
                    .then(n(a).cmp(&n(b)))
                    .then(m.views[b].first_ns.cmp(&m.views[a].first_ns))
                    .then(m.views[b].point.cmp(&m.views[a].point))
            })
            .unwrap_or(0);
        let mut summary = m.matcher.summary(m.views[primary].point);
        // Link-local and multicast traffic (neighbour discovery, MLD, mDNS)
        // is not forwarded from point to point, and repeats identical
        // content: each point sees its own link's, and nothing is "lost".
        let local = |ip: &std::net::IpAddr| match ip {
            std::net::IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_link_local(),
            std::net::IpAddr::V6(a) => a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80,
        };
        let (a, b) = (f.key.endpoint(Side::Lo).ip, f.key.endpoint(Side::Hi).ip);
        if local(&a) || local(&b) {
            summary.lost.clear();
            summary.unseen_by_primary = Default::default();
        }
        let pts = m.matcher.points();
        for (i, &a) in pts.iter().enumerate() {
            for &b in &pts[i + 1..] {
                let Some((offset_ns, delay_ns)) = m.matcher.offset(a, b) else {
                    continue;
                };
                if !m.matcher.different_clocks(a, b) {
                    continue;
                }
                let e = ClockEstimate {
                    offset_ns,
                    delay_ns,
                    flows: 1,
                };
                match self.clocks.get_mut(&(a, b)) {
                    None => {
                        self.clocks.insert((a, b), e);
                    }
                    Some(c) => {
                        let flows = c.flows + 1;
                        if e.delay_ns < c.delay_ns {
                            *c = e;
                        }
                        c.flows = flows;
                    }
                }
            }
        }
        let points: Vec<FlowPoint> = {
            let mut v: Vec<&View> = m.views.iter().collect();
            v.sort_by_key(|v| v.point);
            v.iter()
                .map(|v| FlowPoint {
                    point: u32::from(v.point),
                    packets: PerDir {
                        client: v.dirs[0].packets,
                        server: v.dirs[1].packets,
                    },
                    ip_bytes: PerDir {
                        client: v.dirs[0].ip_bytes,
                        server: v.dirs[1].ip_bytes,
                    },
                })
                .collect()
        };
        // Counts and TCP figures: the distinct packets. Timing (RTT,
        // handshake, response and DNS times): the primary point's own
        // clock, when it saw nearly all of the flow; a mix of points would
        // add one-way delays and clock offsets to every interval.
        let timing_from_primary = m.matcher.share(m.views[primary].point) >= PRIMARY_TIMING_SHARE;
        let mut timing = m.views.swap_remove(primary);
        let primary_timeline = std::mem::take(&mut m.timelines[primary]);
        let primary_rtts = std::mem::take(&mut m.rtts[primary]);
        let mut view = m.union.take().unwrap_or_default();
        let mut timeline = std::mem::take(&mut m.union_timeline);
        let mut rtts = std::mem::take(&mut m.union_rtts);
        if timing_from_primary {
            for b in timeline.values_mut() {
                (b.rtt_samples, b.rtt_sum_ms, b.rtt_max_ms) = (0, 0.0, 0.0);
            }
            for (t, b) in &primary_timeline {
                let e = timeline.entry(*t).or_default();
                e.rtt_samples += b.rtt_samples;
                e.rtt_sum_ms += b.rtt_sum_ms;
                e.rtt_max_ms = e.rtt_max_ms.max(b.rtt_max_ms);
            }
            rtts = primary_rtts;
            view.timing_from = timing.take_analyzer();
            if timing.dns.is_some() {
                // DNS latency is timing too: the primary point's record,
                // counts and all (what one resolver-side point saw).
                view.dns = timing.dns.take();
            }
        }
        // ICMP errors: each seen once, wherever (the most any point saw).
        let mut errors = std::mem::take(&mut timing.icmp_errors);
        for v in &m.views {
            for e in &v.icmp_errors {
                match errors.iter_mut().find(|x| {
                    (x.icmp_type, x.code, x.reporter, x.about)
                        == (e.icmp_type, e.code, e.reporter, e.about)
                }) {
                    Some(x) => {
                        x.count = x.count.max(e.count);
                        x.mtu = x.mtu.into_iter().chain(e.mtu).min();
                    }
                    None => errors.push(e.clone()),
                }
            }
        }
        view.icmp_errors = errors;
        for (t, b) in timeline {
            self.timeline.entry(t).or_default().add(&b);
        }
        for ms in &rtts {
            self.rtt_histogram.add(*ms);
        }
        view.point = timing.point;
        let primary_point = view.point;
        f.view = view;
        let seg = m.seg;
        let mut rec = f.finish(end, end_ns, self.rec.as_mut());
        if points.len() < 2 && m.translations.is_empty() {
            // Seen at one point: told like a single-point capture.
            return rec;
        }
        let dir_name = |d: u8| if d == 0 { "client" } else { "server" };
        rec.primary_point = Some(u32::from(primary_point));
        rec.points = points;
        rec.path = Some(FlowPath {
            client: summary.order[0].iter().map(|p| u32::from(*p)).collect(),
            server: summary.order[1].iter().map(|p| u32::from(*p)).collect(),
        });
        rec.lost_between = summary
            .lost
            .iter()
            .map(|l| {
                let seg = u64::from(seg[usize::from(l.dir)].max(1));
                LostBetween {
                    from: u32::from(l.from),
                    to: u32::from(l.to),
                    direction: dir_name(l.dir),
                    packets: l.counts.packets,
                    bytes: l.counts.ip_bytes,
                    payload_bytes: l.counts.payload,
                    segments: if l.counts.payload > 0 {
                        l.counts.payload.div_ceil(seg).max(l.counts.packets)
                    } else {
                        l.counts.packets
                    },
                    kernel_drops: Default::default(),
                }
            })
            .collect();
        rec.point_delays = summary
            .delays
            .iter()
            .map(|d| PointDelay {
                from: u32::from(d.from),
                to: u32::from(d.to),
                direction: dir_name(d.dir),
                samples: d.samples,
                p50_ms: d.p50_ms,
                p99_ms: d.p99_ms,
            })
            .collect();
        let mut tr: BTreeMap<(Endpoint, Endpoint), Vec<u32>> = BTreeMap::new();
        for (c, s, p) in &m.translations {
            tr.entry((*c, *s)).or_default().push(u32::from(*p));
        }
        rec.translations = tr
            .into_iter()
            .filter(|((c, s), _)| (*c, *s) != (rec.client, rec.server))
            .map(|((client, server), mut points)| {
                points.sort_unstable();
                points.dedup();
                Translation {
                    client,
                    server,
                    points,
                }
            })
            .collect();
        rec
    }

    /// Flow uids of this table: `first`, `first + step`, … (shard `i` of
    /// `n` uses `i` and `n`, so uids are unique across shards).
    pub fn with_uids(mut self, first: u64, step: u64) -> FlowTable {
        self.next_uid = first;
        self.uid_step = step.max(1);
        self
    }

    /// Collects event, DNS and (with `packets`) packet rows in [`FlowTable::rec`].
    pub fn with_records(mut self, packets: bool) -> FlowTable {
        self.rec = Some(Buffers::new(packets));
        self
    }

    fn new_uid(&mut self) -> u64 {
        let u = self.next_uid;
        self.next_uid += self.uid_step;
        u
    }

    /// Number of flows currently held.
    pub fn active(&self) -> usize {
        self.flows.len()
    }

    /// Takes the flows finished so far.
    pub fn drain_finished(&mut self) -> Vec<FlowRecord> {
        std::mem::take(&mut self.finished).into_vec()
    }

    /// Ends every flow (end of input) and returns all finished flows.
    pub fn finish(self, end_ns: i64) -> Vec<FlowRecord> {
        self.finish_with_records(end_ns).0.into_vec()
    }

    /// [`FlowTable::finish`], also returning the rows not yet handed to a
    /// sink and the clock offsets the flows told.
    pub fn finish_all(mut self, end_ns: i64) -> TableEnd {
        let (flows, rec) = self.finish_flows(end_ns);
        TableEnd {
            flows,
            rec,
            clocks: std::mem::take(&mut self.clocks),
            timeline: std::mem::take(&mut self.timeline),
            rtt_histogram: std::mem::take(&mut self.rtt_histogram),
        }
    }

    /// [`FlowTable::finish`], also returning the rows not yet handed to a sink.
    pub fn finish_with_records(mut self, end_ns: i64) -> (Finished, Option<Buffers>) {
        self.finish_flows(end_ns)
    }

    fn finish_flows(&mut self, end_ns: i64) -> (Finished, Option<Buffers>) {
        let mut rest: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        rest.sort_by_key(|f| (f.first_ns, f.key));
        for f in rest {
            let end = end_reason_at_eof(&f);
            let rec = self.finish_flow(f, end, end_ns);
            self.finished.push(rec);
        }
        (std::mem::take(&mut self.finished), self.rec.take())
    }

    /// Hands the rows collected so far to `sink`.
    pub fn drain_records(&mut self, sink: &mut dyn crate::record::Sink) {
        if let Some(rec) = self.rec.as_mut() {
            rec.drain_into(sink);
        }
    }

    /// Accounts one packet.
    pub fn process(&mut self, pkt: &Packet) {
        if let Transport::Icmp(icmp) = &pkt.transport {
            if let Some(q) = icmp.quoted {
                self.icmp_error(pkt, icmp, q);
                return;
            }
        }
        let (src, dst) = endpoints(pkt);
        let (key, sender) = FlowKey::new(pkt.proto, src, dst, pkt.tunnel, pkt.vlan);

        let linger = self.timeouts.closed_linger_ns;
        if let Some(existing) = self.flows.get(&key) {
            if starts_new_connection(existing, pkt, sender, linger) {
                let old = self.flows.remove(&key).expect("flow present");
                let end = if old.closed_ns.is_some() {
                    closed_reason(&old)
                } else if one_sided_over(&old, pkt) {
                    EndReason::OneSided
                } else {
                    EndReason::Reused
                };
                let rec = self.finish_flow(old, end, pkt.ts_ns);
                self.finished.push(rec);
            }
        }
        let uid = if self.flows.contains_key(&key) {
            0
        } else {
            if self.flows.len() >= self.max_flows {
                self.evict(pkt.ts_ns);
            }
            self.new_uid()
        };
        let multi = &self.multi;
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = originator(pkt, sender);
            let mut flow = Flow::new(uid, key, client, role, pkt.ts_ns);
            let tcp = key.proto == ipproto::TCP;
            match &multi {
                Some(m) => flow.multi = Some(Box::new(Multi::new(m.spans.clone()))),
                None => flow.view = View::new(pkt.point, pkt.ts_ns, tcp, client != sender),
            }
            flow
        });
        let dir = flow.direction(sender);
        flow.first_ns = flow.first_ns.min(pkt.ts_ns);
        flow.last_ns = flow.last_ns.max(pkt.ts_ns);
        if pkt.fragment.is_some() {
            flow.fragments += 1;
        }
        if let (None, Some((s, d))) = (&flow.outer, pkt.outer) {
            flow.outer = Some(Box::new(if dir == Direction::ToServer {
                (s, d)
            } else {
                (d, s)
            }));
        }
        let to_server = dir == Direction::ToServer;
        let first_sender = flow.client != sender;
        let uid = flow.uid;
        // The flow-level TCP state and ICMP identity see every packet.
        match &pkt.transport {
            Transport::Tcp(t) => {
                flow.tcp.sent[dir.index()] = true;
                if to_server && (!t.flags.syn() || t.flags.ack()) {
                    flow.tcp.client_past_syn = true;
                }
                if t.flags.syn() && flow.tcp.syn_isn[dir.index()].is_none() {
                    flow.tcp.syn_isn[dir.index()] = Some(t.seq);
                }
                if t.flags.fin() {
                    flow.tcp.fin[dir.index()] = true;
                }
                if t.flags.rst() {
                    flow.tcp.rst = true;
                }
                let peer_silent = !flow.tcp.sent[1 - dir.index()];
                let closed =
                    flow.tcp.rst || flow.tcp.fin == [true, true] || (t.flags.fin() && peer_silent);
                if flow.closed_ns.is_none() && closed {
                    flow.closed_ns = Some(pkt.ts_ns);
                }
            }
            // The originator's request names the flow; otherwise the first message.
            Transport::Icmp(i)
                if flow.icmp.is_none()
                    || (i.is_request
                        && !flow.icmp.is_some_and(|x| matches!(x.icmp_type, 8 | 128))) =>
            {
                flow.icmp = Some(IcmpInfo {
                    icmp_type: i.icmp_type,
                    code: i.code,
                    echo_id: i.echo_id,
                });
            }
            _ => {}
        }
        let tcp_fields = match &pkt.transport {
            Transport::Tcp(t) => Some(TcpFields {
                flags: t.flags.0,
                seq: t.seq,
                ack: t.ack,
                window: t.window,
            }),
            _ => None,
        };
        match flow.multi.as_deref_mut() {
            None => {
                let verdict = account(
                    &mut flow.view,
                    pkt,
                    dir,
                    &mut self.timeline,
                    Rtts::Run(&mut self.rtt_histogram),
                    self.rec.is_some(),
                    self.rec.as_mut(),
                    uid,
                );
                if let Some(rec) = self.rec.as_mut() {
                    rec.packet_rows(uid, pkt, to_server, tcp_fields, verdict, None);
                }
            }
            Some(m) => {
                let tcp = key.proto == ipproto::TCP;
                let i = m.view(pkt.point, pkt.ts_ns, tcp, first_sender);
                let sighting = m.sighting(pkt, dir.index());
                let distinct = m.matcher.observe(&sighting);
                if let Some(cfg) = &self.multi {
                    let w = m.matcher.window(cfg.window_ns);
                    m.matcher.expire(pkt.ts_ns, w);
                }
                // The point's own view (its clock, for timing) …
                account(
                    &mut m.views[i],
                    pkt,
                    dir,
                    &mut m.timelines[i],
                    Rtts::Flow(&mut m.rtts[i]),
                    // DNS rows wait for the end: the primary point's are kept.
                    self.rec.is_some(),
                    None,
                    uid,
                );
                // … and, for a packet no other point saw yet, the flow's
                // distinct packets: every transmission once.
                let mut verdict = None;
                if distinct {
                    if m.union.is_none() {
                        let mut u = View::new(pkt.point, pkt.ts_ns, tcp, first_sender);
                        u.defer_dns_rows = true;
                        m.union = Some(u);
                    }
                    if let Some(u) = m.union.as_mut() {
                        verdict = account(
                            u,
                            pkt,
                            dir,
                            &mut m.union_timeline,
                            Rtts::Flow(&mut m.union_rtts),
                            self.rec.is_some(),
                            self.rec.as_mut(),
                            uid,
                        );
                    }
                }
                if let Some(rec) = self.rec.as_mut() {
                    rec.packet_rows(uid, pkt, to_server, tcp_fields, verdict, Some(distinct));
                }
            }
        }
        self.peak_active = self.peak_active.max(self.flows.len());
    }

    /// Notes that `pkt` (already rewritten to the flow's tuple) was seen at
    /// its point under another tuple: address translation.
    pub fn note_translation(&mut self, pkt: &Packet, seen_src: Endpoint, seen_dst: Endpoint) {
        let (src, dst) = endpoints(pkt);
        let (key, sender) = FlowKey::new(pkt.proto, src, dst, pkt.tunnel, pkt.vlan);
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let to_server = flow.client == sender;
        let Some(m) = flow.multi.as_deref_mut() else {
            return;
        };
        let (c, s) = if to_server {
            (seen_src, seen_dst)
        } else {
            (seen_dst, seen_src)
        };
        if !m
            .translations
            .iter()
            .any(|(a, b, p)| *a == c && *b == s && *p == pkt.point)
        {
            m.translations.push((c, s, pkt.point));
        }
    }

    /// Attributes an ICMP error to the flow whose packet it quotes. When that
    /// flow was never seen, a record for it is made so the error is not lost.
    fn icmp_error(&mut self, pkt: &Packet, icmp: &IcmpSummary, q: Quoted) {
        let src = Endpoint {
            ip: q.src,
            port: q.sport,
        };
        let dst = Endpoint {
            ip: q.dst,
            port: q.dport,
        };
        let (key, sender) = FlowKey::new(q.proto, src, dst, pkt.tunnel, pkt.vlan);
        let uid = if self.flows.contains_key(&key) {
            0
        } else {
            self.new_uid()
        };
        let multi = &self.multi;
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = by_ports(q.sport, q.dport, sender);
            let mut f = Flow::new(uid, key, client, role, pkt.ts_ns);
            f.view.point = pkt.point;
            if let Some(m) = &multi {
                f.multi = Some(Box::new(Multi::new(m.spans.clone())));
            }
            f
        });
        let about = if sender == flow.client {
            "client"
        } else {
            "server"
        };
        flow.last_ns = flow.last_ns.max(pkt.ts_ns);
        // With several points, each point's errors count in its view.
        let view = match flow.multi.as_deref_mut() {
            None => &mut flow.view,
            Some(m) => {
                let tcp = key.proto == ipproto::TCP;
                let i = m.view(pkt.point, pkt.ts_ns, tcp, false);
                &mut m.views[i]
            }
        };
        if let Some(e) = view.icmp_errors.iter_mut().find(|e| {
            e.icmp_type == icmp.icmp_type
                && e.code == icmp.code
                && e.reporter == pkt.src
                && e.about == about
        }) {
            e.count += 1;
            e.mtu = e.mtu.into_iter().chain(icmp.mtu).min();
        } else {
            view.icmp_errors.push(IcmpErrorRecord {
                icmp_type: icmp.icmp_type,
                code: icmp.code,
                reporter: pkt.src,
                about,
                count: 1,
                mtu: icmp.mtu,
            });
        }
        self.peak_active = self.peak_active.max(self.flows.len());
    }

    /// Ends the flows idle at capture time `now` (called by the pipeline on
    /// one clock for every shard).
    pub fn sweep(&mut self, now: i64) {
        self.now_ns = now;
        let t = self.timeouts;
        let mut expired: Vec<(FlowKey, EndReason)> = Vec::new();
        for (k, f) in &self.flows {
            let idle = now.saturating_sub(f.last_ns);
            if f.closed_ns.is_some() {
                if idle > t.closed_linger_ns {
                    expired.push((*k, closed_reason(f)));
                }
                continue;
            }
            let limit = match k.proto {
                ipproto::TCP => t.tcp_idle_ns,
                ipproto::ICMP | ipproto::ICMPV6 => t.icmp_idle_ns,
                _ => t.udp_idle_ns,
            };
            if idle > limit {
                expired.push((*k, EndReason::Idle));
            }
        }
        // Deterministic order of finished flows, whatever the hash map's order.
        expired.sort_by_key(|(k, _)| {
            let f = &self.flows[k];
            (f.first_ns, *k)
        });
        for (k, end) in expired {
            if let Some(f) = self.flows.remove(&k) {
                let rec = self.finish_flow(f, end, now);
                self.finished.push(rec);
            }
        }
    }
}

fn closed_reason(f: &Flow) -> EndReason {
    if f.tcp.rst {
        EndReason::Rst
    } else {
        EndReason::Fin
    }
}

fn end_reason_at_eof(f: &Flow) -> EndReason {
    if f.closed_ns.is_some() {
        closed_reason(f)
    } else {
        EndReason::EndOfCapture
    }
}

/// A one-sided connection's attempt is over (see [`ONE_SIDED_ATTEMPT_NS`]).
fn one_sided_over(flow: &Flow, pkt: &Packet) -> bool {
    let client = Direction::ToServer.index();
    flow.tcp.syn_isn[client].is_some()
        && flow.tcp.client_past_syn
        && !flow.tcp.sent[1 - client]
        && pkt.ts_ns - flow.first_ns >= ONE_SIDED_ATTEMPT_NS
}

/// Whether `pkt` starts a new connection on the flow's 5-tuple: any packet
/// more than the linger after the flow closed, a one-sided attempt that is
/// over, and a SYN (without ACK) that is not a retransmission of the SYN the
/// flow already has (after the old one ended, or with another initial
/// sequence number). A SYN from the other side of a flow that has only the
/// first side's SYN is a simultaneous open.
fn starts_new_connection(flow: &Flow, pkt: &Packet, sender: Side, linger: i64) -> bool {
    let Transport::Tcp(t) = &pkt.transport else {
        return false;
    };
    // Closed longer ago than the linger: whatever this is, it is not part
    // of that connection (Zeek deletes it then).
    if flow.closed_ns.is_some_and(|c| pkt.ts_ns - c >= linger) {
        return true;
    }
    if one_sided_over(flow, pkt) {
        return true;
    }
    if !t.flags.syn() || t.flags.ack() {
        return false;
    }
    let dir = flow.direction(sender);
    match flow.tcp.syn_isn[dir.index()] {
        Some(isn) => isn != t.seq || flow.closed_ns.is_some(),
        None => {
            let other_syn = flow.tcp.syn_isn[1 - dir.index()].is_some();
            flow.closed_ns.is_some() || !other_syn
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{TcpFlags, TcpSummary};
    use std::net::IpAddr;

    const S: i64 = 1_000_000_000;

    fn pkt(
        ts: i64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        transport: Transport,
    ) -> Packet {
        let proto = match transport {
            Transport::Tcp(_) => ipproto::TCP,
            _ => ipproto::UDP,
        };
        Packet {
            ts_ns: ts,
            file: 0,
            interface: 0,
            point: 0,
            clock: 0,
            wire_len: 60,
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            proto,
            sport,
            dport,
            ip_len: 40,
            ip_id: 0,
            payload_len: 0,
            tunnel: None,
            vlan: [0; 2],
            outer: None,
            fragment: None,
            transport,
            truncated: false,
            dns: None,
            content: 0,
        }
    }

    fn tcp(flags: u16, seq: u32, ack: u32) -> Transport {
        Transport::Tcp(TcpSummary {
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 1000,
            ..TcpSummary::default()
        })
    }

    const C: [u8; 4] = [10, 0, 0, 1];
    const SRV: [u8; 4] = [10, 0, 0, 2];
    const SYN: u16 = TcpFlags::SYN;
    const ACK: u16 = TcpFlags::ACK;
    const FIN: u16 = TcpFlags::FIN | TcpFlags::ACK;

    /// A complete connection from port `cport` with client ISN `isn`, starting at `t`.
    fn connection(table: &mut FlowTable, t: i64, cport: u16, isn: u32) {
        let steps = [
            (true, SYN, isn, 0),
            (false, SYN | ACK, 7000, isn + 1),
            (true, ACK, isn + 1, 7001),
            (true, FIN, isn + 1, 7001),
            (false, FIN, 7001, isn + 2),
            (true, ACK, isn + 2, 7002),
        ];
        for (i, (from_client, flags, seq, ack)) in steps.into_iter().enumerate() {
            let ts = t + i as i64 * 1000;
            let p = if from_client {
                pkt(ts, C, cport, SRV, 80, tcp(flags, seq, ack))
            } else {
                pkt(ts, SRV, 80, C, cport, tcp(flags, seq, ack))
            };
            table.process(&p);
        }
    }

    #[test]
    fn new_syn_with_another_isn_starts_a_new_flow() {
        let mut t = FlowTable::new(Timeouts::default());
        connection(&mut t, 0, 40000, 100);
        connection(&mut t, S, 40000, 900_000);
        let flows = t.finish(2 * S);
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].end_reason, EndReason::Fin);
        assert!(flows
            .iter()
            .all(|f| f.packets.client == 4 && f.packets.server == 2));
        assert!(flows
            .iter()
            .all(|f| f.tcp.as_ref().unwrap().conn_state == "SF"));
    }

    #[test]
    fn a_retransmitted_syn_stays_in_its_flow() {
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&pkt(0, C, 40000, SRV, 80, tcp(SYN, 5, 0)));
        t.process(&pkt(S, C, 40000, SRV, 80, tcp(SYN, 5, 0)));
        let flows = t.finish(2 * S);
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].tcp.as_ref().unwrap().syn_retransmissions, 1);
        assert_eq!(flows[0].tcp.as_ref().unwrap().conn_state, "S0");
    }

    #[test]
    fn idle_timeout_ends_a_flow() {
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&pkt(0, C, 5000, SRV, 53, Transport::Udp));
        t.sweep(30 * S);
        assert_eq!(t.active(), 1);
        t.sweep(61 * S);
        assert_eq!(t.active(), 0);
        t.process(&pkt(62 * S, C, 5000, SRV, 53, Transport::Udp));
        let flows = t.finish(63 * S);
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].end_reason, EndReason::Idle);
        assert_eq!(flows[1].end_reason, EndReason::EndOfCapture);
    }

    #[test]
    fn every_flow_is_finished_exactly_once() {
        let mut t = FlowTable::new(Timeouts::default());
        let mut done = 0;
        for i in 0..20_000u32 {
            let now = i64::from(i) * S / 10; // ten connections a second
            connection(&mut t, now, 1024 + (i % 60_000) as u16, i * 10);
            if i % 10 == 0 {
                t.sweep(now);
                done += t.drain_finished().len();
            }
        }
        done += t.finish(3000 * S).len();
        assert_eq!(done, 20_000);
    }

    /// Memory follows active flows, not the size of the capture: closed
    /// flows linger 10 s, so ten connections a second keep about 100 held.
    #[test]
    fn peak_active_is_bounded_by_linger() {
        let mut t = FlowTable::new(Timeouts::default());
        for i in 0..5_000u32 {
            let now = i64::from(i) * S / 10;
            connection(&mut t, now, 1024 + i as u16, i * 10);
            t.sweep(now);
        }
        assert!(t.peak_active <= 110, "peak {}", t.peak_active);
    }

    #[test]
    fn icmp_community_id_is_the_same_whichever_message_was_seen() {
        use crate::decode::IcmpSummary;
        let icmp = |t: u8, req: bool| {
            Transport::Icmp(IcmpSummary {
                icmp_type: t,
                code: 0,
                echo_id: Some(7),
                is_request: req,
                quoted: None,
                mtu: None,
            })
        };
        let mut p = pkt(0, [1, 2, 3, 4], 7, [5, 6, 7, 8], 7, icmp(8, true));
        p.proto = ipproto::ICMP;
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&p);
        let request_first = t.finish(S).remove(0);
        let mut p = pkt(0, [5, 6, 7, 8], 7, [1, 2, 3, 4], 7, icmp(0, false));
        p.proto = ipproto::ICMP;
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&p);
        let reply_only = t.finish(S).remove(0);
        // The specification's ICMP vector.
        let spec = "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=";
        assert_eq!(request_first.community_id.as_deref(), Some(spec));
        assert_eq!(reply_only.community_id.as_deref(), Some(spec));
        assert_eq!(reply_only.client.ip, request_first.client.ip);
    }

    #[test]
    fn originator_rules() {
        // First packet a SYN-ACK: its receiver is the client.
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&pkt(0, SRV, 80, C, 40000, tcp(SYN | ACK, 1, 2)));
        let f = &t.finish(S)[0];
        assert_eq!((f.client.port, f.role_basis), (40000, RoleBasis::SynAck));
        assert!(f.tcp.as_ref().unwrap().history.starts_with('^'));
        // Midstream: the side on a well-known port is the server.
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&pkt(0, SRV, 443, C, 50000, tcp(ACK, 1, 2)));
        let f = &t.finish(S)[0];
        assert_eq!((f.server.port, f.role_basis), (443, RoleBasis::ServerPort));
        // Otherwise the first sender.
        let mut t = FlowTable::new(Timeouts::default());
        t.process(&pkt(0, SRV, 40001, C, 50000, Transport::Udp));
        let f = &t.finish(S)[0];
        assert_eq!(
            (f.client.port, f.role_basis),
            (40001, RoleBasis::FirstPacket)
        );
    }
}
