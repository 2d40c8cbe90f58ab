//! DNS of one flow and of the whole capture.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::stats::{LogHistogram, ShortSummary};

/// DNS transactions of one flow; the meanings are those of [dns](#dns).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DnsFlowRecord {
    /// Query messages.
    pub queries: u64,
    /// Response messages.
    pub responses: u64,
    /// Queries without a response: at least 5 s after they were sent, or
    /// older than their server's timeout (`dns.servers[].timeout_ms`) when
    /// the capture ended.
    pub unanswered: u64,
    /// Queries without a response that were younger than their server's
    /// timeout when the capture ended: they may have been answered after it.
    pub pending_at_end: u64,
    /// Queries sent again with the same id and question before a response.
    pub retries: u64,
    /// Responses that match no query of the flow.
    pub unmatched_responses: u64,
    /// Responses by RCODE name.
    pub rcodes: BTreeMap<String, u64>,
    /// Query to response.
    pub latency_ms: Option<ShortSummary>,
    /// Queries by name (for the capture-wide top names).
    #[serde(skip)]
    pub names: BTreeMap<String, u64>,
    /// Latency samples of answered queries, ms (for the capture-wide summary).
    #[serde(skip)]
    pub latency_samples: Vec<f64>,
    #[serde(skip)]
    pub unanswered_at: Vec<i64>,
    /// Queries still waiting when the flow ended, younger than 5 s then
    /// (sent at, ns; transaction id; name): counted in `pending_at_end`
    /// until the capture's end decides them against their server's timeout.
    #[serde(skip)]
    pub waiting: Vec<(i64, u16, String)>,
    /// Unanswered queries by name (for findings).
    #[serde(skip)]
    pub unanswered_names: BTreeMap<String, u64>,
}

/// Capture-wide DNS. DNS is recognized on UDP and TCP port 53 (and 5353),
/// and on any UDP port when the payload is unmistakably a DNS message (one
/// question, a standard query, counts that fit). Over TCP, segments carrying
/// one whole message are read. Queries are matched to responses within a
/// flow by transaction id and question.
///
/// DNS names are bytes from the wire and untrusted: they are rendered once,
/// when parsed, to ASCII where letters, digits, `-`, `_` and `*` stand as
/// they are and every other byte is written `\DDD` (decimal, the
/// master-file escape dig uses; a dot inside a label is `\046`). No name
/// can carry markup or control characters.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DnsSummary {
    /// Query messages.
    pub queries: u64,
    /// Response messages.
    pub responses: u64,
    /// Queries without a response: at least 5 s after they were sent
    /// (glibc's default per-try timeout), or, still waiting when the capture
    /// ended, older than their server's timeout (`servers[].timeout_ms`).
    pub unanswered: u64,
    /// Queries without a response that were younger than their server's
    /// timeout when the capture ended: they may have been answered after it.
    pub pending_at_end: u64,
    /// Queries sent again with the same id and question before a response
    /// (latency counts from the first).
    pub retries: u64,
    /// Responses by RCODE name (`NOERROR`, `NXDOMAIN`, `SERVFAIL`,
    /// `REFUSED`, …).
    pub rcodes: BTreeMap<String, u64>,
    /// Query to response.
    pub latency_ms: Option<ShortSummary>,
    /// The latency of every answered query in logarithmic buckets, like
    /// `timeline.rtt_histogram` (for charts).
    pub latency_histogram: LogHistogram,
    /// Most queried names first (10).
    pub top_names: Vec<NameCount>,
    /// Per server (resolver): queries, unanswered, latency.
    pub servers: Vec<DnsServer>,
    /// When unanswered queries were sent, Unix seconds (the first 1000), for
    /// timelines.
    pub unanswered_ts: Vec<f64>,
}

/// A name and how often it was asked for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NameCount {
    /// The name asked for (escaped as said above).
    pub name: String,
    /// Queries for it.
    pub queries: u64,
}

/// One DNS server (resolver) and how it answered.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DnsServer {
    /// Its address.
    pub ip: IpAddr,
    /// Its port.
    pub port: u16,
    /// Queries sent to it.
    pub queries: u64,
    /// Of those, unanswered.
    pub unanswered: u64,
    /// Of those, without a response but younger than `timeout_ms` when the
    /// capture ended.
    pub pending_at_end: u64,
    /// How long a query still waiting when the capture ended must have
    /// waited to count as unanswered, ms: `--dns-timeout` when given, else
    /// learned from the capture: ten times this server's p99 response time
    /// (the capture's, when this server answered nothing), at least 1 s and
    /// at most 5 s (glibc's per-try timeout; 5 s without any response to
    /// learn from).
    pub timeout_ms: f64,
    /// Query to response.
    pub latency_ms: Option<ShortSummary>,
}
