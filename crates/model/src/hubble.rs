//! Hubble flow logs read in a run, and their roll-ups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// A line that could not be read as a flow.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BadLine {
    /// Line number (from 1).
    pub line: u64,
    /// Why it is not a flow record.
    pub error: String,
}

/// One flow-log file as read.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HubbleFile {
    /// The path as given.
    pub path: PathBuf,
    /// The file was gzip-compressed (detected by content).
    pub gzip: bool,
    /// Lines read.
    pub lines: u64,
    /// Flow records read.
    pub records: u64,
    /// Lines that were not flow records.
    pub skipped: u64,
    /// The first skipped lines with their reasons (at most 20).
    pub bad_lines: Vec<BadLine>,
    /// What stopped the reading, when the file could not be read to its end.
    pub error: Option<String>,
}

/// Hubble flow logs (`hubble observe -o json` or `-o jsonpb`: one JSON
/// object per line, with or without the `{"flow": …}` wrapper), recognized
/// by content, gzip or not. Retina's flows are read as Retina writes them:
/// verdict 15 is `RETRANSMISSION`, 16 is `DNS`, and the `extensions` object
/// gives `bytes`, `drop_reason` and the `previously_observed_packets`/`_bytes`
/// of aggregated records. Unknown fields are ignored; enums may be names or
/// numbers; 64-bit numbers may be strings. A line that is not a flow record
/// is skipped and counted, and makes the run partial (exit status 3). The
/// records are the `hubble.parquet` table ([schema](schema.md)), held in
/// memory as one Arrow table for the roll-ups: about 1.1 KB per record
/// (500,000 records, 300 MB of JSON, took 4.8 s and 565 MiB on a 2-core
/// machine).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HubbleReport {
    /// Per file read.
    pub files: Vec<HubbleFile>,
    /// Flow records read, over all files.
    pub records: u64,
    /// Lines skipped because they were not flow records.
    pub skipped_lines: u64,
    /// Time of the first record (Unix seconds; null without times).
    pub first_ts: Option<f64>,
    /// Time of the last record.
    pub last_ts: Option<f64>,
    /// Roll-ups computed with polars (null when built without the `polars`
    /// feature).
    pub summary: Option<HubbleSummary>,
}

/// Records, packets and bytes of one group of flow-log records, with
/// verdict and drop-reason counts. Packet counts include Retina's previously
/// observed packets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct GroupRow {
    /// The group: a verdict, a drop reason, the source's namespace, the
    /// source's `namespace/workload` label (else `namespace/pod`, else its
    /// address), the source pod, or the observing node.
    pub key: String,
    /// Flow-log records.
    pub records: u64,
    /// Packets (Retina's aggregated records count all they stand for).
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Packets forwarded.
    pub forwarded: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Packets with Retina's `RETRANSMISSION` verdict.
    pub retransmissions: u64,
    /// Packets dropped, by reason.
    pub drop_reasons: BTreeMap<String, u64>,
}

/// Traffic between two named endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TalkerRow {
    /// Source label.
    pub source: String,
    /// Destination label.
    pub destination: String,
    /// Flow-log records.
    pub records: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Drops between two named endpoints for one reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DroppedRow {
    /// Source workload label.
    pub source: String,
    /// Destination workload label.
    pub destination: String,
    /// Transport protocol, when known.
    pub protocol: Option<String>,
    /// The destination service and port (see `hubble.parquet`'s `service`).
    pub service: Option<String>,
    /// Drop reason.
    pub reason: String,
    /// Flow-log records.
    pub records: u64,
    /// Packets dropped.
    pub packets: u64,
}

/// TCP connection attempts and resets at one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ServiceTcpRow {
    /// `destination_service`, else the destination label, with the port.
    pub service: String,
    /// Distinct client sockets that sent a SYN.
    pub connection_attempts: u64,
    /// Distinct client sockets the service answered with SYN+ACK.
    pub answered: u64,
    /// `connection_attempts - answered`: attempts without a reply in the log.
    pub unanswered: u64,
    /// Records with RST.
    pub resets: u64,
}

/// DNS responses for one name and response code, or the queries for one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DnsRow {
    /// The name asked for.
    pub query: String,
    /// Response code; null for the row counting the name's queries.
    pub rcode: Option<String>,
    /// Flow-log records.
    pub records: u64,
}

/// Rows kept per roll-up list (largest first).
pub const TOP: usize = 20;

/// Roll-ups of the flow-log records: lists, largest first (at most 20 rows
/// each).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HubbleSummary {
    /// By verdict.
    pub verdicts: Vec<GroupRow>,
    /// By drop reason.
    pub drop_reasons: Vec<GroupRow>,
    /// By the source's namespace.
    pub by_namespace: Vec<GroupRow>,
    /// By the source's `namespace/workload` label (else `namespace/pod`,
    /// else its address).
    pub by_workload: Vec<GroupRow>,
    /// By the source pod.
    pub by_pod: Vec<GroupRow>,
    /// By observing node.
    pub by_node: Vec<GroupRow>,
    /// Pairs of labels by bytes, then packets.
    pub top_talkers: Vec<TalkerRow>,
    /// Dropped traffic with its source and destination workloads.
    pub dropped: Vec<DroppedRow>,
    /// Per service: distinct client sockets that sent a SYN, those answered
    /// with SYN+ACK in the log, the difference, and records with RST.
    pub tcp_by_service: Vec<ServiceTcpRow>,
    /// DNS responses by name and response code; rows with a null `rcode`
    /// count the name's queries.
    pub dns: Vec<DnsRow>,
}
