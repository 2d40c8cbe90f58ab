//! DNS of one flow and of the whole capture.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::stats::{LogHistogram, ShortSummary};

/// DNS of one flow, as serialized in `flows[].dns`.
#[derive(Debug, Clone, Serialize)]
pub struct DnsFlowRecord {
    pub queries: u64,
    pub responses: u64,
    pub unanswered: u64,
    /// Queries younger than the timeout when the capture ended, without response.
    pub pending_at_end: u64,
    pub retries: u64,
    pub unmatched_responses: u64,
    pub rcodes: BTreeMap<String, u64>,
    pub latency_ms: Option<ShortSummary>,
    /// Queries by name (for the capture-wide top names).
    #[serde(skip)]
    pub names: BTreeMap<String, u64>,
    /// Latency samples of answered queries, ms (for the capture-wide summary).
    #[serde(skip)]
    pub latency_samples: Vec<f64>,
    #[serde(skip)]
    pub unanswered_at: Vec<i64>,
}

/// Capture-wide DNS summary (`dns` in the JSON document).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DnsSummary {
    pub queries: u64,
    pub responses: u64,
    pub unanswered: u64,
    pub pending_at_end: u64,
    pub retries: u64,
    pub rcodes: BTreeMap<String, u64>,
    pub latency_ms: Option<ShortSummary>,
    /// Latency of every answered query, in logarithmic buckets (for charts).
    pub latency_histogram: LogHistogram,
    /// Most queried names.
    pub top_names: Vec<NameCount>,
    /// Per server (resolver): queries, unanswered, latency.
    pub servers: Vec<DnsServer>,
    /// Unix seconds of unanswered queries (first 1000), for timelines.
    pub unanswered_ts: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NameCount {
    pub name: String,
    pub queries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsServer {
    pub ip: IpAddr,
    pub port: u16,
    pub queries: u64,
    pub unanswered: u64,
    pub latency_ms: Option<ShortSummary>,
}
