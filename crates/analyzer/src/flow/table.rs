//! The flow table of one shard.

use std::collections::HashMap;

use crate::analysis::dns::DnsFlow;
use crate::analysis::tcp::{Seen, TcpAnalyzer};
use crate::decode::{ipproto, IcmpSummary, Packet, Quoted, Transport};
use crate::report::{
    ns_to_s, proto_name, EndReason, FlowRecord, IcmpErrorRecord, IcmpInfo, PerDir, RoleBasis,
};

use super::{likely_server_port, Direction, Endpoint, FlowKey, Side};

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
    fn new(key: FlowKey, client: Side, role: RoleBasis, ts: i64) -> Flow {
        Flow {
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
    fn finish(self, end: EndReason, end_ns: i64) -> FlowRecord {
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
            tcp: self.analyzer.map(|a| a.finish()),
            dns: self.dns.map(|mut d| d.finish(end_ns)),
        }
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

/// Flows of one shard.
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    timeouts: Timeouts,
    now_ns: i64,
    finished: Vec<FlowRecord>,
    /// Most flows held at once: the memory high-water mark.
    pub peak_active: usize,
}

impl FlowTable {
    pub fn new(timeouts: Timeouts) -> FlowTable {
        FlowTable {
            flows: HashMap::new(),
            timeouts,
            now_ns: i64::MIN,
            finished: Vec::new(),
            peak_active: 0,
        }
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
    pub fn finish(mut self, end_ns: i64) -> Vec<FlowRecord> {
        let mut rest: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        rest.sort_by_key(|f| (f.first_ns, f.key));
        for f in rest {
            let end = end_reason_at_eof(&f);
            self.finished.push(f.finish(end, end_ns));
        }
        self.finished
    }

    /// Accounts one packet.
    pub fn process(&mut self, pkt: &Packet) {
        if let Transport::Icmp(icmp) = &pkt.transport {
            if let Some(q) = icmp.quoted {
                self.icmp_error(pkt, icmp, q);
                return;
            }
        }
        let src = Endpoint {
            ip: pkt.src,
            port: pkt.sport,
        };
        let dst = Endpoint {
            ip: pkt.dst,
            port: pkt.dport,
        };
        let (key, sender) = FlowKey::new(pkt.proto, src, dst, pkt.tunnel);

        if let Some(existing) = self.flows.get(&key) {
            if starts_new_connection(existing, pkt, sender) {
                let old = self.flows.remove(&key).expect("flow present");
                let end = if old.closed_ns.is_some() {
                    closed_reason(&old)
                } else {
                    EndReason::Reused
                };
                self.finished.push(old.finish(end, pkt.ts_ns));
            }
        }
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = originator(pkt, sender);
            let mut flow = Flow::new(key, client, role, pkt.ts_ns);
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
            flow.dns.get_or_insert_default().message(pkt.ts_ns, m);
        }
        match &pkt.transport {
            Transport::Tcp(t) => {
                if let Some(a) = flow.analyzer.as_mut() {
                    a.packet(Seen {
                        ts_ns: pkt.ts_ns,
                        dir: dir.index(),
                        tcp: t,
                        payload_len: pkt.payload_len,
                    });
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
        let flow = self.flows.entry(key).or_insert_with(|| {
            let (client, role) = by_ports(q.sport, q.dport, sender);
            Flow::new(key, client, role, pkt.ts_ns)
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
                self.finished.push(f.finish(end, now));
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
