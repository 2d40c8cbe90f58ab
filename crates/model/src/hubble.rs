//! Hubble flow logs read in a run, and their roll-ups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// A line that could not be read as a flow.
#[derive(Debug, Clone, Serialize)]
pub struct BadLine {
    pub line: u64,
    pub error: String,
}

/// One flow-log file as read.
#[derive(Debug, Clone, Serialize)]
pub struct HubbleFile {
    pub path: PathBuf,
    pub gzip: bool,
    pub lines: u64,
    pub records: u64,
    pub skipped: u64,
    /// The first skipped lines with their reasons (at most [`MAX_BAD_LINES`]).
    pub bad_lines: Vec<BadLine>,
    /// Set when the file could not be read to its end.
    pub error: Option<String>,
}

/// Everything read from the flow-log inputs of a run.
#[derive(Debug, Clone, Serialize)]
pub struct HubbleReport {
    pub files: Vec<HubbleFile>,
    /// Flow records read, over all files.
    pub records: u64,
    /// Lines skipped because they were not flow records.
    pub skipped_lines: u64,
    /// Time of the first and last record (Unix seconds; null without times).
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    /// Roll-ups of the records (null when built without polars).
    pub summary: Option<HubbleSummary>,
}

/// Records, packets and bytes of one group, with verdict and drop-reason counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupRow {
    /// The group: a verdict, a reason, `namespace`, `namespace/workload`, a pod or a node.
    pub key: String,
    pub records: u64,
    /// Packets (Retina's aggregated records count all they stand for).
    pub packets: u64,
    pub bytes: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub retransmissions: u64,
    /// Packets dropped, by reason.
    pub drop_reasons: BTreeMap<String, u64>,
}

/// Traffic between two named endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TalkerRow {
    pub source: String,
    pub destination: String,
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Drops between two named endpoints for one reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DroppedRow {
    pub source: String,
    pub destination: String,
    pub protocol: Option<String>,
    /// The destination service and port (see `hubble.parquet`'s `service`).
    pub service: Option<String>,
    pub reason: String,
    pub records: u64,
    pub packets: u64,
}

/// TCP connection attempts and resets at one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceTcpRow {
    pub service: String,
    /// Distinct client sockets that sent a SYN.
    pub connection_attempts: u64,
    /// Distinct client sockets the service answered with SYN+ACK.
    pub answered: u64,
    /// `connection_attempts - answered`: attempts without a reply in the log.
    pub unanswered: u64,
    /// Records with RST set.
    pub resets: u64,
}

/// DNS responses for one name and response code, or the queries for one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DnsRow {
    pub query: String,
    /// Response code; null for the row counting the name's queries.
    pub rcode: Option<String>,
    pub records: u64,
}

/// Rows kept per roll-up list (largest first).
pub const TOP: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HubbleSummary {
    pub verdicts: Vec<GroupRow>,
    pub drop_reasons: Vec<GroupRow>,
    /// By the source's namespace.
    pub by_namespace: Vec<GroupRow>,
    /// By the source's `namespace/workload` (or pod, or address).
    pub by_workload: Vec<GroupRow>,
    pub by_pod: Vec<GroupRow>,
    /// By observing node.
    pub by_node: Vec<GroupRow>,
    /// Source → destination pairs by bytes, then packets.
    pub top_talkers: Vec<TalkerRow>,
    /// Dropped traffic by source, destination, port and reason.
    pub dropped: Vec<DroppedRow>,
    pub tcp_by_service: Vec<ServiceTcpRow>,
    pub dns: Vec<DnsRow>,
}
