//! Roll-ups of Hubble flow logs: the report model. The numbers are computed
//! with polars over the `hubble.parquet` table (see `retina_rollups::hubble`).

use std::collections::BTreeMap;

use serde::Serialize;

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
