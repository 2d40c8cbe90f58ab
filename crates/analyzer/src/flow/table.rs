//! The flow table of one shard.

use std::collections::{BTreeMap, HashMap};

use crate::analysis::dns::DnsFlow;
use crate::analysis::tcp::{Seen, TcpAnalyzer};
use crate::decode::{ipproto, IcmpSummary, Packet, Quoted, Transport};
use crate::record::{Buffers, DnsRow, EventKind, EventRow, PacketRow, TcpFields};
use crate::report::{
    community_id, ns_to_s, proto_name, EndReason, FlowRecord, IcmpErrorRecord, IcmpInfo,
    LogHistogram, PerDir, RoleBasis, TimeBin,
};

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
    /// A closed TCP flow (FIN both ways or RST) still absorbs stray trailing
    /// packets (a retransmitted FIN, the last ACK) for this long.
    pub closed_linger_ns: i64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_idle_ns: 300_000_000_000,
            udp_idle_ns: 60_000_000_000,
            icmp_idle_ns: 60_000_000_000,
            closed_linger_ns: 10_000_000_000,
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
    dirs: [DirStats; 2],
    tcp: TcpState,
    closed_ns: Option<i64>,
    fragments: u64,
    icmp: Option<IcmpInfo>,
    icmp_errors: Vec<IcmpErrorRecord>,
    /// TCP analysis, for TCP flows.
    analyzer: Option<Box<TcpAnalyzer>>,
    dns: Option<Box<DnsFlow>>,
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
            dirs: [DirStats::default(); 2],
            tcp: TcpState::default(),
            closed_ns: None,
            fragments: 0,
            icmp: None,
            icmp_errors: Vec::new(),
            analyzer: None,
            dns: None,
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
        let tcp = self.analyzer.take().map(|mut a| {
            let before = a.capture_loss_totals();
            let r = a.finish();
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
        let dns = self.dns.take().map(|mut d| {
            let r = d.finish(end_ns);
            if let Some(rec) = rec {
                take_dns(self.uid, &mut d, rec);
            }
            r
        });
        let per = |f: fn(&DirStats) -> u64| PerDir {
            client: f(&self.dirs[0]),
            server: f(&self.dirs[1]),
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
            role_basis: self.role,
            end_reason: end,
            fragments: self.fragments,
            icmp: self.icmp,
            icmp_errors: self.icmp_errors,
            first_ts_ns: self.first_ns,
            uid: self.uid,
            last_ts_ns: self.last_ns,
            tcp,
            dns,
            client_k8s: None,
            server_k8s: None,
            drops: None,
            kernel_retransmissions: None,
        }
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
    finished: Vec<FlowRecord>,
    /// Most flows held at once: the memory high-water mark.
    pub peak_active: usize,
    /// Activity per tick ([`TIMELINE_TICK_NS`]) of capture time.
    pub timeline: BTreeMap<i64, TimeBin>,
    pub rtt_histogram: LogHistogram,
    next_uid: u64,
    uid_step: u64,
    /// Rows for a [`crate::record::Sink`], when one is attached.
    pub rec: Option<Buffers>,
}

impl FlowTable {
    pub fn new(timeouts: Timeouts) -> FlowTable {
        FlowTable {
            flows: HashMap::new(),
            timeouts,
            now_ns: i64::MIN,
            finished: Vec::new(),
            peak_active: 0,
            timeline: BTreeMap::new(),
            rtt_histogram: LogHistogram::default(),
            next_uid: 0,
            uid_step: 1,
            rec: None,
        }
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
        std::mem::take(&mut self.finished)
    }

    /// Ends every flow (end of input) and returns all finished flows.
    pub fn finish(self, end_ns: i64) -> Vec<FlowRecord> {
        self.finish_with_records(end_ns).0
    }

    /// [`FlowTable::finish`], also returning the rows not yet handed to a sink.
    pub fn finish_with_records(mut self, end_ns: i64) -> (Vec<FlowRecord>, Option<Buffers>) {
        let mut rest: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        rest.sort_by_key(|f| (f.first_ns, f.key));
        for f in rest {
            let end = end_reason_at_eof(&f);
            self.finished.push(f.finish(end, end_ns, self.rec.as_mut()));
        }
        (self.finished, self.rec)
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
        let (key, sender) = FlowKey::new(pkt.proto, src, dst, pkt.tunnel);

        if let Some(existing) = self.flows.get(&key) {
            if starts_new_connection(existing, pkt, sender) {
                let old = self.flows.remove(&key).expect("flow present");
                let end = if old.closed_ns.is_some() {
                    closed_reason(&old)
                } else {
                    EndReason::Reused
                };
                self.finished
                    .push(old.finish(end, pkt.ts_ns, self.rec.as_mut()));
            }
        }
        let uid = if self.flows.contains_key(&key) {
            0
        } else {
            self.new_uid()
        };
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = originator(pkt, sender);
            let mut flow = Flow::new(uid, key, client, role, pkt.ts_ns);
            if key.proto == ipproto::TCP {
                let mut a = Box::<TcpAnalyzer>::default();
                if client != sender {
                    // Zeek's '^': the originator is not the first packet's sender.
                    a.flipped();
                }
                flow.analyzer = Some(a);
            }
            flow
        });
        let dir = flow.direction(sender);
        let bin = self
            .timeline
            .entry(pkt.ts_ns.div_euclid(TIMELINE_TICK_NS))
            .or_default();
        bin.packets += 1;
        match dir {
            Direction::ToServer => bin.bytes_to_server += u64::from(pkt.ip_len),
            Direction::ToClient => bin.bytes_to_client += u64::from(pkt.ip_len),
        }
        let d = &mut flow.dirs[dir.index()];
        d.packets += 1;
        d.ip_bytes += u64::from(pkt.ip_len);
        d.payload_bytes += u64::from(pkt.payload_len);
        flow.first_ns = flow.first_ns.min(pkt.ts_ns);
        flow.last_ns = flow.last_ns.max(pkt.ts_ns);
        if pkt.fragment.is_some() {
            flow.fragments += 1;
        }
        if let Some(m) = &pkt.dns {
            let recording = self.rec.is_some();
            let d = flow.dns.get_or_insert_with(|| {
                let mut d = Box::<DnsFlow>::default();
                d.record = recording;
                d
            });
            d.message(pkt.ts_ns, m);
            if let Some(rec) = self.rec.as_mut() {
                take_dns(flow.uid, d, rec);
            }
        }
        let to_server = dir == Direction::ToServer;
        let mut verdict = None;
        match &pkt.transport {
            Transport::Tcp(t) => {
                if let Some(a) = flow.analyzer.as_mut() {
                    let v = a.packet(Seen {
                        ts_ns: pkt.ts_ns,
                        dir: dir.index(),
                        tcp: t,
                        payload_len: pkt.payload_len,
                        ip_id: pkt.ip_id,
                    });
                    let bin = self
                        .timeline
                        .entry(pkt.ts_ns.div_euclid(TIMELINE_TICK_NS))
                        .or_default();
                    bin.retransmissions += u64::from(v.retransmission);
                    bin.out_of_order += u64::from(v.out_of_order);
                    bin.resets += u64::from(v.reset);
                    bin.zero_windows += u64::from(v.zero_window);
                    bin.syn_retries += u64::from(v.syn_retry);
                    if let Some(ms) = v.rtt_ms {
                        bin.rtt_samples += 1;
                        bin.rtt_sum_ms += ms;
                        bin.rtt_max_ms = bin.rtt_max_ms.max(ms);
                        self.rtt_histogram.add(ms);
                    }
                    verdict = Some(v);
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
                if flow.closed_ns.is_none() && (flow.tcp.rst || flow.tcp.fin == [true, true]) {
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
        if let Some(rec) = self.rec.as_mut() {
            let tcp = match &pkt.transport {
                Transport::Tcp(t) => Some(TcpFields {
                    flags: t.flags.0,
                    seq: t.seq,
                    ack: t.ack,
                    window: t.window,
                }),
                _ => None,
            };
            if let (Some(t), Some(v)) = (&tcp, &verdict) {
                rec.verdict_events(flow.uid, pkt.ts_ns, to_server, t, pkt.payload_len, v);
            }
            if rec.packets_on {
                rec.packets.push(PacketRow {
                    flow_uid: flow.uid,
                    ts_ns: pkt.ts_ns,
                    to_server,
                    ip_len: pkt.ip_len,
                    payload_len: pkt.payload_len,
                    tcp,
                    verdict,
                });
            }
        }
        self.peak_active = self.peak_active.max(self.flows.len());
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
        let (key, sender) = FlowKey::new(q.proto, src, dst, pkt.tunnel);
        let uid = if self.flows.contains_key(&key) {
            0
        } else {
            self.new_uid()
        };
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = by_ports(q.sport, q.dport, sender);
            Flow::new(uid, key, client, role, pkt.ts_ns)
        });
        let about = if sender == flow.client {
            "client"
        } else {
            "server"
        };
        flow.last_ns = flow.last_ns.max(pkt.ts_ns);
        if let Some(e) = flow.icmp_errors.iter_mut().find(|e| {
            e.icmp_type == icmp.icmp_type
                && e.code == icmp.code
                && e.reporter == pkt.src
                && e.about == about
        }) {
            e.count += 1;
        } else {
            flow.icmp_errors.push(IcmpErrorRecord {
                icmp_type: icmp.icmp_type,
                code: icmp.code,
                reporter: pkt.src,
                about,
                count: 1,
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
                self.finished.push(f.finish(end, now, self.rec.as_mut()));
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

/// A SYN (without ACK) that is not a retransmission of the SYN this flow
/// already has starts a new connection on the same 5-tuple: after the old one
/// ended, or when its initial sequence number differs. A SYN from the other
/// side of a flow that has only the first side's SYN is a simultaneous open.
fn starts_new_connection(flow: &Flow, pkt: &Packet, sender: Side) -> bool {
    let Transport::Tcp(t) = &pkt.transport else {
        return false;
    };
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
            fragment: None,
            transport,
            truncated: false,
            dns: None,
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
