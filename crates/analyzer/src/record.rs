//! Rows the analysis emits while it streams: notable events, packets with
//! their verdict, DNS query outcomes. Flow tables collect them in small
//! buffers (only when a [`Sink`] is attached), and the pipeline hands them
//! to the sink after every packet, so nothing accumulates: the sink (the
//! Parquet writer of `--parquet`) streams them out in row groups.
//!
//! Rows carry the flow's *uid*, fixed when the flow is created; flow ids
//! (`flows[].id`) are only known once every flow has ended and the list is
//! sorted, so the sink maps uids to ids at the end ([`Sink::finish`]).

use crate::analysis::dns::QueryOutcome;
use crate::analysis::tcp::{Mechanism, Verdict};
use crate::report::Report;

/// What an event row is about (`events.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Retransmission,
    SpuriousRetransmission,
    OutOfOrder,
    CaptureLoss,
    ZeroWindow,
    Reset,
    SynRetry,
    Duplicate,
    DnsTimeout,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Retransmission,
        EventKind::SpuriousRetransmission,
        EventKind::OutOfOrder,
        EventKind::CaptureLoss,
        EventKind::ZeroWindow,
        EventKind::Reset,
        EventKind::SynRetry,
        EventKind::Duplicate,
        EventKind::DnsTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Retransmission => "retransmission",
            EventKind::SpuriousRetransmission => "spurious_retransmission",
            EventKind::OutOfOrder => "out_of_order",
            EventKind::CaptureLoss => "capture_loss",
            EventKind::ZeroWindow => "zero_window",
            EventKind::Reset => "reset",
            EventKind::SynRetry => "syn_retry",
            EventKind::Duplicate => "duplicate",
            EventKind::DnsTimeout => "dns_timeout",
        }
    }
}

/// One notable event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub flow_uid: u64,
    pub ts_ns: i64,
    /// Sent by the client (the event is about the client's data or packet).
    pub to_server: bool,
    pub kind: EventKind,
    pub class: Option<Mechanism>,
    pub spurious: Option<bool>,
    pub seq: Option<u32>,
    pub bytes: Option<u64>,
    pub count: u64,
}

/// TCP header fields of a packet row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFields {
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
}

/// One packet of a flow, with the TCP analysis' verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketRow {
    pub flow_uid: u64,
    pub ts_ns: i64,
    pub to_server: bool,
    pub ip_len: u32,
    pub payload_len: u32,
    pub tcp: Option<TcpFields>,
    pub verdict: Option<Verdict>,
    /// Several capture points: the point that saw this copy, and whether it
    /// was the packet's first (distinct) copy.
    pub point: Option<u16>,
    pub distinct: Option<bool>,
}

/// One DNS query's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRow {
    pub flow_uid: u64,
    pub query: QueryOutcome,
}

/// Receives rows while the analysis runs, then the finished report.
pub trait Sink {
    fn event(&mut self, e: &EventRow);
    fn packet(&mut self, p: &PacketRow);
    fn dns(&mut self, d: &DnsRow);
    /// Whether packet rows are wanted (building them costs a little per packet).
    fn wants_packets(&self) -> bool;
}

/// A flow table's rows not yet handed to the sink.
#[derive(Debug, Default)]
pub struct Buffers {
    pub packets_on: bool,
    pub events: Vec<EventRow>,
    pub packets: Vec<PacketRow>,
    pub dns: Vec<DnsRow>,
}

impl Buffers {
    pub fn new(packets_on: bool) -> Buffers {
        Buffers {
            packets_on,
            ..Buffers::default()
        }
    }

    /// Hands every buffered row to `sink`, packets first (time order),
    /// keeping the buffers' capacity.
    pub fn drain_into(&mut self, sink: &mut dyn Sink) {
        for p in self.packets.drain(..) {
            sink.packet(&p);
        }
        for e in self.events.drain(..) {
            sink.event(&e);
        }
        for d in self.dns.drain(..) {
            sink.dns(&d);
        }
    }

    /// A packet row, when packet rows are wanted. `distinct`: with several
    /// capture points, whether no other point had seen the packet yet.
    pub fn packet_rows(
        &mut self,
        flow_uid: u64,
        pkt: &crate::decode::Packet,
        to_server: bool,
        tcp: Option<TcpFields>,
        verdict: Option<Verdict>,
        distinct: Option<bool>,
    ) {
        if !self.packets_on {
            return;
        }
        self.packets.push(PacketRow {
            flow_uid,
            ts_ns: pkt.ts_ns,
            to_server,
            ip_len: pkt.ip_len,
            payload_len: pkt.payload_len,
            tcp,
            verdict,
            point: distinct.map(|_| pkt.point),
            distinct,
        });
    }

    /// The events one TCP packet's verdict stands for.
    pub fn verdict_events(
        &mut self,
        flow_uid: u64,
        ts_ns: i64,
        to_server: bool,
        tcp: &TcpFields,
        payload_len: u32,
        v: &Verdict,
    ) {
        let mut push = |kind, to_server, class, spurious, seq, bytes, count| {
            self.events.push(EventRow {
                flow_uid,
                ts_ns,
                to_server,
                kind,
                class,
                spurious,
                seq,
                bytes,
                count,
            })
        };
        let data = Some(u64::from(payload_len));
        if v.duplicate {
            push(
                EventKind::Duplicate,
                to_server,
                None,
                None,
                Some(tcp.seq),
                data,
                1,
            );
            return;
        }
        if v.retransmission {
            let (class, spurious) = match v.retrans_class {
                Some((m, s)) => (Some(m), Some(s)),
                None => (None, None),
            };
            push(
                EventKind::Retransmission,
                to_server,
                class,
                spurious,
                Some(tcp.seq),
                data,
                1,
            );
        }
        if v.out_of_order {
            push(
                EventKind::OutOfOrder,
                to_server,
                None,
                None,
                Some(tcp.seq),
                data,
                1,
            );
        }
        if v.zero_window {
            push(
                EventKind::ZeroWindow,
                to_server,
                None,
                None,
                Some(tcp.seq),
                None,
                1,
            );
        }
        if v.reset {
            push(
                EventKind::Reset,
                to_server,
                None,
                None,
                Some(tcp.seq),
                None,
                1,
            );
        }
        if v.syn_retry {
            push(
                EventKind::SynRetry,
                to_server,
                None,
                None,
                Some(tcp.seq),
                None,
                1,
            );
        }
        // ACK-borne news is about the other direction's data.
        if v.capture_loss.segments > 0 {
            push(
                EventKind::CaptureLoss,
                !to_server,
                None,
                None,
                Some(v.capture_loss.seq),
                Some(v.capture_loss.bytes),
                v.capture_loss.segments,
            );
        }
        for _ in 0..v.dsack_spurious {
            push(
                EventKind::SpuriousRetransmission,
                !to_server,
                None,
                Some(true),
                None,
                None,
                1,
            );
        }
    }
}

/// Tells a sink the final flow ids: `uid_to_id[uid]` for every flow of
/// `report` (flows carry their uid in `FlowRecord::uid`).
pub fn uid_map(report: &Report) -> std::collections::HashMap<u64, u64> {
    report.flows.iter().map(|f| (f.uid, f.id)).collect()
}
