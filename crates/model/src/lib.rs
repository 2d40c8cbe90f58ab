//! The report model of retina-analyze: plain data, serializable, computed
//! once by the analysis and read by every renderer. Field names here are the
//! JSON schema (docs/json-schema.md, generated from these types); bump
//! [`SCHEMA_VERSION`] on any incompatible change.
//!
//! This crate is a leaf: it depends on no code of the analyzer, so the
//! model cannot be shaped by how it is computed, and renderers, sinks and
//! tests can use it alone.

pub mod archive;
pub mod dns;
pub mod drops;
pub mod findings;
pub mod hubble;
pub mod k8s;
pub mod net;
pub mod points;
pub mod schema_doc;
pub mod stats;
pub mod tcp;
pub mod trace;
pub mod worst;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

pub use archive::ArchiveRecord;
pub use dns::{DnsFlowRecord, DnsServer, DnsSummary, NameCount};
pub use drops::{
    DropCounts, DropFamily, DropReason, DropsSummary, EndpointDrops, FlowDrops, RetransSummary,
};
pub use findings::{Finding, Severity, Thresholds};
pub use hubble::{HubbleFile, HubbleReport, HubbleSummary};
pub use k8s::K8sRef;
pub use net::{Endpoint, Tunnel, TunnelKind};
pub use points::{
    ClockOffset, FlowPath, FlowPoint, LostBetween, PointDelay, PointRecord, Translation,
};
pub use stats::{LogHistogram, ShortSummary, Summary};
pub use tcp::{HandshakeLegs, Pair, RetransCounts, TcpOptions, TcpRecord};
pub use trace::FlowTrace;
pub use worst::{Ranked, WorstFlows};

/// Version of the JSON document layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole analysis of one run.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// Layout version of this document (`SCHEMA_VERSION`, currently `1`).
    pub schema_version: u32,
    /// The program that wrote it.
    pub tool: ToolInfo,
    /// What was read.
    pub capture: CaptureInfo,
    /// Per-protocol totals keyed by protocol name (`tcp`, `udp`, `icmp`,
    /// `icmpv6`, …).
    pub protocols: BTreeMap<String, ProtoTotals>,
    /// Kernel packet drops from capture-agent bundles or drops.parquet
    /// inputs; null when no drop table was given.
    pub drops: Option<DropsSummary>,
    /// TCP retransmissions the kernel reported; null when no such table was
    /// given.
    pub kernel_retransmissions: Option<RetransSummary>,
    /// Capture-wide DNS summary; null when no DNS message was seen.
    pub dns: Option<DnsSummary>,
    /// Rankings of the flows that suffer most.
    pub worst_flows: WorstFlows,
    /// Activity over time and the RTT distribution, for charts.
    pub timeline: Timeline,
    /// Diagnoses, most severe first.
    pub findings: Vec<Finding>,
    /// The numbers `--fail-on` tests, by name: see [metrics](#metrics).
    pub metrics: BTreeMap<String, f64>,
    /// Hubble flow logs read in this run; null when none were given.
    pub hubble: Option<HubbleReport>,
    /// Top talkers, per-subnet aggregates and quantiles over flows, computed
    /// with polars; null without flows, or when built without the `polars`
    /// feature.
    pub rollups: Option<Rollups>,
    /// One object per flow, ordered by first packet time.
    pub flows: Vec<FlowRecord>,
}

/// A small table of a roll-up (for pandas:
/// `pd.DataFrame(t["rows"], columns=t["columns"])`). Floats are rounded to
/// the microsecond (milliseconds with 3 decimals); `null` where nothing was
/// measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RollupTable {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of values, in the order of `columns`.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl RollupTable {
    /// The values of column `name` (empty when absent).
    pub fn column(&self, name: &str) -> Vec<&serde_json::Value> {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => self.rows.iter().filter_map(|r| r.get(i)).collect(),
            None => Vec::new(),
        }
    }
}

/// Aggregations over all flows, computed once per run with polars (crate
/// `retina-rollups`) from the same rows as `flows.parquet`.
///
/// Grouped statistics (`by_proto`, `by_server`, `by_*_workload`): the key
/// column(s), `flows`, `bytes`, then for each measure — `handshake_rtt_ms`
/// (the flow's handshake RTT), `data_rtt_ms` (the flow's median data RTT,
/// `tcp.rtt_ms.p50`) and `response_time_ms` (the flow's median server
/// response time) — the number of flows that have it (`…_flows`) and its
/// quantiles across those flows (`…_p50`, `…_p90`, `…_p99`; linear
/// interpolation between flows, like numpy's default). These are quantiles
/// *over flows* (each flow weighs the same), not over packets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Rollups {
    /// The 10 addresses with the most bytes, largest first. Columns: `ip`,
    /// `flows` (flows it takes part in), `bytes_sent`, `bytes_received`,
    /// `bytes` (IP bytes, both directions of its flows), `retrans_sent` (TCP
    /// retransmissions it sent).
    pub top_endpoints: RollupTable,
    /// The 10 client → server address pairs with the most bytes. Columns:
    /// `client_ip`, `server_ip`, `flows`, `bytes`, `retrans_segments` (both
    /// directions).
    pub top_pairs: RollupTable,
    /// The 10 subnets (/24 for IPv4, /64 for IPv6) with the most bytes.
    /// Columns: `subnet` (CIDR), `endpoints` (addresses seen), `flows` (flow
    /// ends in the subnet: a flow inside one subnet counts twice),
    /// `bytes_sent`, `bytes_received`, `bytes`, `retrans_sent`.
    pub subnets: RollupTable,
    /// One row per protocol, most flows first: grouped statistics keyed by
    /// `proto`.
    pub by_proto: RollupTable,
    /// The 10 server addresses with most flows: grouped statistics keyed by
    /// `server_ip`.
    pub by_server: RollupTable,
    /// The 10 client Kubernetes workloads with most flows: grouped
    /// statistics keyed by `client_namespace`, `client_workload` (a null
    /// workload groups addresses that are not pods of a workload: services,
    /// nodes, bare pods). Null when no flow end has a Kubernetes name
    /// (`--k8s`, Hubble flows).
    pub by_client_workload: Option<RollupTable>,
    /// The same by the server's workload (`server_namespace`,
    /// `server_workload`).
    pub by_server_workload: Option<RollupTable>,
}

/// The program that wrote the document.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ToolInfo {
    /// `retina-analyze`.
    pub name: &'static str,
    /// Its version, e.g. `0.1.0`.
    pub version: &'static str,
}

/// What was read.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CaptureInfo {
    /// One object per input file, in command-line order.
    pub files: Vec<FileRecord>,
    /// Records read from all files (every frame, decoded or not).
    pub packets: u64,
    /// Sum of the frames' lengths on the wire (original length).
    pub bytes: u64,
    /// First decoded packet, Unix seconds (null when there is none).
    pub first_ts: Option<f64>,
    /// Last decoded packet (null when there is none).
    pub last_ts: Option<f64>,
    /// `first_ts` in integer nanoseconds (exact).
    pub first_ts_ns: Option<i64>,
    /// `last_ts` in integer nanoseconds (exact).
    pub last_ts_ns: Option<i64>,
    /// `last_ts - first_ts`.
    pub duration_s: f64,
    /// Link types seen, with packet counts.
    pub link_types: Vec<LinkTypeCount>,
    /// True when some input was damaged, unreadable, of an unsupported link
    /// type, or the run was interrupted: the analysis covers only part of the
    /// input. The exit status is then 3 (130 when interrupted).
    pub partial: bool,
    /// Everything the reader of the report should know: damaged files (with
    /// byte offsets), skipped packets and why, unusual file versions.
    pub warnings: Vec<String>,
    /// Frames that produced no flow packet, by reason: `not_ip` (ARP, LLDP,
    /// … — normal), `unsupported_linktype_N`, `malformed`,
    /// `truncated_ip_header`, `fragment_without_first`.
    pub skipped: BTreeMap<String, u64>,
    /// Packets whose captured bytes end before the packet does (a snap
    /// length: normal, and harmless to the analysis, since lengths come from
    /// the IP header).
    pub truncated_packets: u64,
    /// Number of flow records.
    pub flows: u64,
    /// Flows ended early (`end_reason` "evicted") because more than
    /// `--max-flows` were open at once: a scan, a flood, or a limit too low.
    pub evicted_flows: u64,
    /// Archives (agent bundles, Retina Capture tarballs) the captures came
    /// from.
    pub archives: Vec<ArchiveRecord>,
    /// The places that saw packets: each file, or each interface of a file
    /// that names several (pcapng, `tcpdump -i any`).
    pub points: Vec<PointRecord>,
    /// Clock offsets between files, from packets both saw (empty for one file).
    pub clock_offsets: Vec<ClockOffset>,
}

/// One input file.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FileRecord {
    /// The path as given (`ARCHIVE:MEMBER` for a capture inside an archive).
    pub path: String,
    /// `pcap` or `pcapng`; null when the file could not be recognized.
    pub format: Option<String>,
    /// `gzip` when the file was gzip-compressed (detected by content, not
    /// name).
    pub compression: Option<String>,
    /// Size on disk.
    pub size_bytes: u64,
    /// Records read from this file.
    pub packets: u64,
    /// Their wire length.
    pub bytes: u64,
    /// pcapng sections (0 for pcap).
    pub sections: u32,
    /// One per interface (one for pcap).
    pub interfaces: Vec<InterfaceRecord>,
    /// This file was damaged or unreadable.
    pub partial: bool,
    /// What stopped the reading. Every packet before it was analyzed.
    pub error: Option<FileError>,
}

/// Why a file could not be read to its end.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FileError {
    /// Byte offset of the damage (of the decompressed stream for gzip
    /// input); null when unknown.
    pub offset: Option<u64>,
    /// What was wrong.
    pub message: String,
}

/// A capture interface of a file.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InterfaceRecord {
    /// Link type number (LINKTYPE_*).
    pub linktype: u16,
    /// Its name, e.g. `Ethernet`.
    pub linktype_name: &'static str,
    /// Interface name (pcapng), when the file gives it.
    pub name: Option<String>,
    /// Snap length: bytes captured per packet at most.
    pub snaplen: u32,
    /// Timestamp resolution in nanoseconds.
    pub ts_resolution_ns: f64,
}

/// A link type and the packets seen with it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LinkTypeCount {
    /// Link type number (LINKTYPE_*).
    pub linktype: u16,
    /// Its name, e.g. `Ethernet`.
    pub name: &'static str,
    /// Packets with it.
    pub packets: u64,
}

/// Activity in one time bin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TimeBin {
    /// Packets of flows (ICMP errors excluded).
    pub packets: u64,
    /// IP bytes sent by clients.
    pub bytes_to_server: u64,
    /// IP bytes sent by servers.
    pub bytes_to_client: u64,
    /// TCP retransmissions.
    pub retransmissions: u64,
    /// TCP segments the network reordered.
    pub out_of_order: u64,
    /// RST segments.
    pub resets: u64,
    /// Zero-window advertisements.
    pub zero_windows: u64,
    /// Client SYNs beyond the first of a connection.
    pub syn_retries: u64,
    /// DNS queries never answered, by the time the query was sent.
    pub dns_unanswered: u64,
    /// Packets the kernel dropped (lost; the capture agent's drop events).
    pub kernel_drops: u64,
    /// Data RTT samples taken in the bin.
    pub rtt_samples: u64,
    /// Their sum, ms (the mean is `rtt_sum_ms / rtt_samples`).
    pub rtt_sum_ms: f64,
    /// The largest, ms.
    pub rtt_max_ms: f64,
}

impl TimeBin {
    /// Mean data RTT of the bin's samples; None without samples.
    pub fn rtt_mean_ms(&self) -> Option<f64> {
        (self.rtt_samples > 0).then(|| self.rtt_sum_ms / self.rtt_samples as f64)
    }

    pub fn add(&mut self, o: &TimeBin) {
        self.packets += o.packets;
        self.bytes_to_server += o.bytes_to_server;
        self.bytes_to_client += o.bytes_to_client;
        self.retransmissions += o.retransmissions;
        self.out_of_order += o.out_of_order;
        self.resets += o.resets;
        self.zero_windows += o.zero_windows;
        self.syn_retries += o.syn_retries;
        self.dns_unanswered += o.dns_unanswered;
        self.kernel_drops += o.kernel_drops;
        self.rtt_samples += o.rtt_samples;
        self.rtt_sum_ms += o.rtt_sum_ms;
        self.rtt_max_ms = self.rtt_max_ms.max(o.rtt_max_ms);
    }
}

/// Activity over time, for charts: the capture cut into at most 240 bins of
/// a round width (100 ms to a day).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Timeline {
    /// Start of the first bin, Unix seconds.
    pub start_ts: f64,
    /// Width of every bin, seconds.
    pub bin_s: f64,
    /// The bins, in time order.
    pub bins: Vec<TimeBin>,
    /// Every data RTT sample of the capture in logarithmic buckets (for the
    /// CDF).
    pub rtt_histogram: LogHistogram,
}

/// Most bins a timeline has: enough detail for a chart, small in JSON.
pub const MAX_BINS: usize = 240;

/// Totals of one protocol.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ProtoTotals {
    /// Flow records of the protocol.
    pub flows: u64,
    /// Every decoded packet of that innermost protocol, ICMP errors
    /// included.
    pub packets: u64,
    /// Their IP bytes.
    pub ip_bytes: u64,
    /// Their transport payload bytes.
    pub payload_bytes: u64,
}

/// A count per direction of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PerDir {
    /// Sent by the client.
    pub client: u64,
    /// Sent by the server.
    pub server: u64,
}

impl PerDir {
    pub fn total(&self) -> u64 {
        self.client + self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    /// The specification's baseline vectors (community-id-spec, seed 0).
    #[test]
    fn community_id_matches_the_specification() {
        let (a, b) = (ep("1.2.3.4", 1122), ep("5.6.7.8", 3344));
        assert_eq!(
            community_id(6, a, b).unwrap(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            community_id(6, b, a).unwrap(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            community_id(17, a, b).unwrap(),
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="
        );
        let (c, d) = (ep("1.2.3.4", 8), ep("5.6.7.8", 0));
        assert_eq!(
            community_id(1, c, d).unwrap(),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
        );
        let (e, f) = (
            ep("fe80:1:203:405:607:809:a0b:c0d", 128),
            ep("fe80:1011:1213:1415:1617:1819:1a1b:1c1d", 0),
        );
        assert_eq!(
            community_id(58, e, f).unwrap(),
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="
        );
        let (g, h) = (ep("1.2.3.4", 0), ep("5.6.7.8", 0));
        assert_eq!(
            community_id(46, g, h).unwrap(),
            "1:ikv3kmf89luf73WPz1jOs49S768="
        );
    }
}

/// How the originator (client) of a flow was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleBasis {
    /// The client sent the first SYN.
    Syn,
    /// The first packet seen was a SYN-ACK; its receiver is the client.
    SynAck,
    /// ICMP echo request sender.
    EchoRequest,
    /// Midstream: the other side uses a well-known server port.
    ServerPort,
    /// Midstream: the sender of the first packet.
    FirstPacket,
}

/// Why a flow record was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// FIN from both sides.
    Fin,
    /// A reset.
    Rst,
    /// No packet for longer than the idle timeout.
    Idle,
    /// A new connection (SYN with another ISN) on the same 5-tuple.
    Reused,
    /// Opened with a SYN, the originator went on sending and the responder
    /// sent nothing for 5 s (a capture that sees one direction): ended as
    /// Zeek's attempt timer ends it; the next packet begins a new record.
    OneSided,
    /// Still open when the capture ended.
    EndOfCapture,
    /// Ended early, still open, to stay within `--max-flows` (the
    /// longest-idle flows go first; counted in `capture.evicted_flows`).
    Evicted,
}

/// The outer addresses of a tunnelled flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TunnelEndpoints {
    /// The tunnel end on the client's side (the node it sent from).
    pub client: IpAddr,
    /// The tunnel end on the server's side.
    pub server: IpAddr,
}

/// ICMP errors that quote a flow's packets. An error quoting a flow never
/// seen otherwise gets a flow record with zero packets, so it is not lost.
/// ICMP error packets are not counted in any flow's `packets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IcmpErrorRecord {
    /// ICMP type of the errors.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Address of the host that sent the errors.
    pub reporter: IpAddr,
    /// Whose packets they quote: `client` or `server`.
    pub about: &'static str,
    /// Errors of this type, code, reporter and direction.
    pub count: u64,
    /// The smallest next-hop MTU they reported (ICMP "fragmentation needed",
    /// ICMPv6 "packet too big"); absent for other errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// The originator's message of an ICMP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IcmpInfo {
    /// ICMP type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Echo identifier (echo request and reply only).
    pub echo_id: Option<u16>,
}

/// A bidirectional conversation: TCP or UDP 5-tuple, ICMP echo identifier
/// between two hosts, or another IP protocol between two hosts. For VXLAN
/// and Geneve traffic, flows are the *inner* conversations and `tunnel`
/// names the overlay. How long a flow lasts: see [Flow
/// lifetime](#flow-lifetime).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FlowRecord {
    /// Index in this list.
    pub id: u64,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `gre`, `esp`, `sctp` or `ip-proto-N`.
    pub proto: String,
    /// The client (originator): the sender of the SYN (or the receiver of a
    /// SYN-ACK seen first), else the sender of the first packet unless the
    /// other side uses a well-known server port (then it is the server). For
    /// ICMP, `port` holds the type (client) and code (server) of the
    /// originator's message, like Zeek.
    pub client: Endpoint,
    /// The server (responder).
    pub server: Endpoint,
    /// First packet, Unix seconds.
    pub first_ts: f64,
    /// Last packet, Unix seconds.
    pub last_ts: f64,
    /// `last_ts - first_ts`.
    pub duration_s: f64,
    /// Packets (frames) of this flow; IP fragments each count.
    pub packets: PerDir,
    /// Sum of the innermost IP packets' total length (IPv4 total length,
    /// IPv6 40 + payload length), taken from the headers, so snaplen cuts do
    /// not matter.
    pub ip_bytes: PerDir,
    /// Transport payload on the wire: TCP segment data or UDP datagram data
    /// (for ICMP: after the 8-byte header), retransmissions included.
    pub payload_bytes: PerDir,
    /// The overlay the flow was carried in; null when none.
    pub tunnel: Option<Tunnel>,
    /// The tunnel's outer addresses (the nodes, VTEPs or tunnel ends that
    /// carried it), from its first tunnelled packet; absent outside a tunnel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_endpoints: Option<TunnelEndpoints>,
    /// The VLAN ids of its frames, outer first (`[42]`, or `[10, 20]` for
    /// QinQ); absent when untagged. Flows on different VLANs are different
    /// flows, as in Zeek.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vec<u16>>,
    /// [Community ID](https://github.com/corelight/community-id-spec) v1,
    /// seed 0: the identifier Zeek, Suricata, Arkime and Wireshark compute
    /// for the same flow, to join their records with ours (ICMP uses type and
    /// code as the spec says; tested against the spec's vectors and
    /// Wireshark).
    pub community_id: Option<String>,
    /// How the client was decided.
    pub role_basis: RoleBasis,
    /// Why the flow record ended.
    pub end_reason: EndReason,
    /// IP fragments counted in this flow (first fragments included).
    pub fragments: u64,
    /// For ICMP flows: the originator's message.
    pub icmp: Option<IcmpInfo>,
    /// ICMP errors that quote this flow's packets.
    pub icmp_errors: Vec<IcmpErrorRecord>,
    /// First packet time in integer nanoseconds (exact; `first_ts` is a float).
    pub first_ts_ns: i64,
    /// Identity of the flow during the run, before `id` is known (rows
    /// streamed to the table writer carry it); not serialized.
    #[serde(skip)]
    pub uid: u64,
    /// Last packet time in integer nanoseconds (for tables; not serialized).
    #[serde(skip)]
    pub last_ts_ns: i64,
    /// TCP analysis (TCP flows only).
    pub tcp: Option<TcpRecord>,
    /// DNS transactions seen in this flow; null when none.
    pub dns: Option<DnsFlowRecord>,
    /// Kubernetes names of the client's address (`--k8s`, Hubble flows);
    /// null when unknown.
    pub client_k8s: Option<K8sRef>,
    /// Kubernetes names of the server's address; null when unknown.
    pub server_k8s: Option<K8sRef>,
    /// Packets of this flow the kernel dropped, by reason (see
    /// [drops](#drops)); null when no drop belongs to it.
    pub drops: Option<DropCounts>,
    /// Several capture points: the point whose clock times the flow (RTT,
    /// handshake, response and DNS times): the one that saw the largest
    /// share of its transmissions. Counts and the other TCP figures come
    /// from the flow's distinct packets (docs/capture-points.md). Null for a
    /// single point.
    pub primary_point: Option<u32>,
    /// The flow at each capture point (empty for a single point).
    pub points: Vec<FlowPoint>,
    /// The points each direction passed, in order (null for a single point).
    pub path: Option<FlowPath>,
    /// Packets seen at one point and never at the next one downstream.
    pub lost_between: Vec<LostBetween>,
    /// One-way delays between consecutive points.
    pub point_delays: Vec<PointDelay>,
    /// Other tuples the flow was seen under (address translation).
    pub translations: Vec<Translation>,
    /// Retransmit events of this flow from the kernel
    /// (`tcp/tcp_retransmit_skb`), to set beside `tcp.retransmissions` (what
    /// the capture shows). The tracepoint fires once per retransmitted skb
    /// and one skb can carry several segments, so this is at most the
    /// kernel's `total_retrans` of the socket, and can be less than the
    /// segments the capture sees retransmitted. Null without such events for
    /// the flow.
    pub kernel_retransmissions: Option<u64>,
}

/// Community ID v1 of a flow (seed 0). ICMP flows pass their type and code
/// as ports, as the specification says; other portless protocols none.
pub fn community_id(proto: u8, client: Endpoint, server: Endpoint) -> Option<String> {
    let ports = match proto {
        6 | 17 | 132 | 1 | 58 => (Some(client.port), Some(server.port)),
        _ => (None, None),
    };
    community_id::calculate_community_id(0, client.ip, server.ip, ports.0, ports.1, proto, false)
        .ok()
}

/// Seconds since the epoch as a float, as the JSON contract expects.
pub fn ns_to_s(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// Name of an IP protocol as used in `proto`.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        132 => "sctp".into(),
        n => format!("ip-proto-{n}"),
    }
}
