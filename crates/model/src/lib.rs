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
pub use stats::{LogHistogram, ShortSummary, Summary};
pub use tcp::{HandshakeLegs, Pair, RetransCounts, TcpOptions, TcpRecord};
pub use trace::FlowTrace;
pub use worst::{Ranked, WorstFlows};

/// Version of the JSON document layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole analysis of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub capture: CaptureInfo,
    pub protocols: BTreeMap<String, ProtoTotals>,
    /// Kernel drops read from capture-agent bundles or drops.parquet inputs;
    /// null when none were given.
    pub drops: Option<DropsSummary>,
    /// Kernel TCP retransmissions read from capture-agent bundles or
    /// retrans.parquet inputs; null when none were given.
    pub kernel_retransmissions: Option<RetransSummary>,
    /// Capture-wide DNS summary; null when no DNS was seen.
    pub dns: Option<DnsSummary>,
    /// The flows that suffer most, by measure (indexes into `flows`).
    pub worst_flows: WorstFlows,
    /// Activity over time and the RTT distribution, for charts.
    pub timeline: Timeline,
    /// Diagnoses, most severe first.
    pub findings: Vec<Finding>,
    /// The numbers `--fail-on` conditions test (docs/json-schema.md#metrics).
    pub metrics: BTreeMap<String, f64>,
    /// Hubble flow logs read in this run; null when none were given.
    pub hubble: Option<HubbleReport>,
    /// Top talkers, per-subnet aggregates and quantiles over flows, computed
    /// with polars; null when built without the `polars` feature or without flows.
    pub rollups: Option<Rollups>,
    pub flows: Vec<FlowRecord>,
}

/// A small table of a roll-up: column names and rows of values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RollupTable {
    pub columns: Vec<String>,
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

/// `rollups` in the JSON document (docs/json-schema.md#rollups).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rollups {
    pub top_endpoints: RollupTable,
    pub top_pairs: RollupTable,
    pub subnets: RollupTable,
    pub by_proto: RollupTable,
    pub by_server: RollupTable,
    /// The same statistics by the client's and the server's Kubernetes
    /// namespace and workload (`--k8s`, Hubble names); null without names.
    pub by_client_workload: Option<RollupTable>,
    pub by_server_workload: Option<RollupTable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// What was read.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    pub files: Vec<FileRecord>,
    /// Records read from all files.
    pub packets: u64,
    /// Sum of the frames' lengths on the wire.
    pub bytes: u64,
    /// Unix seconds of the first and last packet (null when there are none).
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    /// The same instants in integer nanoseconds (exact).
    pub first_ts_ns: Option<i64>,
    pub last_ts_ns: Option<i64>,
    pub duration_s: f64,
    /// Link types seen, by name, with packet counts.
    pub link_types: Vec<LinkTypeCount>,
    /// True when any input was damaged and analysis covers only what preceded the damage.
    pub partial: bool,
    /// Human-readable warnings: damaged files, skipped packets, unsupported link types.
    pub warnings: Vec<String>,
    /// Frames that produced no flow packet, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Packets whose captured bytes ended before their headers did (snaplen).
    pub truncated_packets: u64,
    pub flows: u64,
    /// Archives (agent bundles, Retina Capture tarballs) the captures came from.
    pub archives: Vec<ArchiveRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    pub path: String,
    /// "pcap" or "pcapng"; null when the file could not be recognized.
    pub format: Option<String>,
    pub compression: Option<String>,
    pub size_bytes: u64,
    pub packets: u64,
    pub bytes: u64,
    pub sections: u32,
    pub interfaces: Vec<InterfaceRecord>,
    /// The file was damaged; packets before the damage were analyzed.
    pub partial: bool,
    /// The error that stopped reading this file, if any.
    pub error: Option<FileError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    /// Byte offset of the damage (in the decompressed stream for gzip input).
    pub offset: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfaceRecord {
    pub linktype: u16,
    pub linktype_name: &'static str,
    pub name: Option<String>,
    pub snaplen: u32,
    pub ts_resolution_ns: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkTypeCount {
    pub linktype: u16,
    pub name: &'static str,
    pub packets: u64,
}

/// Activity in one time bin, for charts (`timeline` in the JSON document).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TimeBin {
    /// Packets of flows (ICMP errors excluded).
    pub packets: u64,
    /// IP bytes sent by clients, and by servers.
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    pub resets: u64,
    pub zero_windows: u64,
    pub syn_retries: u64,
    pub dns_unanswered: u64,
    /// Packets the kernel dropped (lost; the capture agent's drop events).
    pub kernel_drops: u64,
    /// Data RTT samples taken in the bin: count, sum and largest.
    pub rtt_samples: u64,
    pub rtt_sum_ms: f64,
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

/// The capture cut into equal time bins (at most [`MAX_BINS`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// Start of the first bin, Unix seconds.
    pub start_ts: f64,
    pub bin_s: f64,
    pub bins: Vec<TimeBin>,
    /// Data RTT samples of all flows, in logarithmic buckets (for the CDF).
    pub rtt_histogram: LogHistogram,
}

/// Most bins a timeline has: enough detail for a chart, small in JSON.
pub const MAX_BINS: usize = 240;

/// Per-protocol totals over flows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProtoTotals {
    pub flows: u64,
    pub packets: u64,
    pub ip_bytes: u64,
    pub payload_bytes: u64,
}

/// A count per direction of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PerDir {
    pub client: u64,
    pub server: u64,
}

impl PerDir {
    pub fn total(&self) -> u64 {
        self.client + self.server
    }
}

/// How the originator (client) of a flow was decided.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Still open when the capture ended.
    EndOfCapture,
}

/// ICMP errors that quote a flow's packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IcmpErrorRecord {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    /// Address of the host that sent the error.
    pub reporter: IpAddr,
    /// Errors quoting packets sent by the client ("client") or the server ("server").
    pub about: &'static str,
    pub count: u64,
}

/// ICMP details of an ICMP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpInfo {
    /// Type and code of the first message.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    pub echo_id: Option<u16>,
}

/// One bidirectional flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRecord {
    /// Position in the report's flow list (ordered by first packet time).
    pub id: u64,
    pub proto: String,
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: f64,
    pub last_ts: f64,
    pub duration_s: f64,
    pub packets: PerDir,
    /// Sum of the innermost IP packets' total lengths.
    pub ip_bytes: PerDir,
    /// Transport payload on the wire, retransmissions included.
    pub payload_bytes: PerDir,
    pub tunnel: Option<Tunnel>,
    /// Community ID v1 (seed 0) of the flow: the same string Zeek, Suricata
    /// and Arkime log for it, to join their records with ours.
    pub community_id: Option<String>,
    pub role_basis: RoleBasis,
    pub end_reason: EndReason,
    /// IP fragments counted in this flow (first fragments included).
    pub fragments: u64,
    pub icmp: Option<IcmpInfo>,
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
    /// DNS transactions seen in this flow.
    pub dns: Option<DnsFlowRecord>,
    /// Kubernetes names of the client's and server's addresses (`--k8s`,
    /// Hubble flows); null when unknown.
    pub client_k8s: Option<K8sRef>,
    pub server_k8s: Option<K8sRef>,
    /// Packets of this flow the kernel dropped, by reason (from the capture
    /// agent's drop events); null when no drop belongs to it.
    pub drops: Option<DropCounts>,
    /// Retransmit events of this flow from the kernel (the capture agent's
    /// `tcp_retransmit_skb` rows: one per retransmitted skb, which may hold
    /// several segments), to set beside the retransmissions the capture
    /// shows; null without such events.
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
