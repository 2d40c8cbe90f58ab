//! Findings: plain-language diagnoses with their evidence.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// An outage, or a likely cause of the incident.
    High,
    /// A problem worth a look.
    Medium,
    /// Context: minor, or how far the numbers can be trusted.
    Low,
    /// Information only (no current finding uses it).
    Info,
}

impl Severity {
    /// The name used in JSON and reports: HIGH, MEDIUM, LOW, INFO.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }
}

/// One diagnosis: what is wrong, the numbers behind it, and the flows it
/// concerns.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Stable identifier of the kind of finding: see the kinds below.
    pub kind: &'static str,
    /// One sentence a person can act on.
    pub summary: String,
    /// The numbers behind it.
    pub evidence: Vec<String>,
    /// How much it concerns, for the order of findings of one severity
    /// (largest first): the flows it concerns (connections, DNS flows); a
    /// DNS rcode finding, its responses; a kernel-drop finding without
    /// capture flows, its packets; a flow-log finding, its records.
    pub impact: u64,
    /// Flows concerned (indexes into `flows`), most affected first, at most 20.
    pub flows: Vec<u64>,
}

/// Limits above which a finding is reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Thresholds {
    /// Retransmitted / data segments on a path. 1% already hurts TCP
    /// throughput noticeably (Mathis: rate ~ 1/sqrt(loss)).
    pub retrans_rate: f64,
    /// A path needs this many data segments before its rate means anything.
    pub min_segments: u64,
    /// Share of segments the capture missed above which numbers are unreliable.
    pub capture_loss_rate: f64,
    /// Server response p50 (ms) above which the server is called slow.
    pub slow_response_ms: f64,
    /// Response time must also exceed the network RTT by this factor.
    pub response_vs_rtt: f64,
    /// Connect time (first SYN to the final ACK, ms) above which a
    /// connection is late even without a SYN retry. Linux sends its first
    /// SYN retry after 1 s: a connect that long is a retry or a path that
    /// slow.
    pub slow_connect_ms: f64,
    /// Share of DNS responses that are NXDOMAIN above which it is reported.
    pub nxdomain_rate: f64,
    /// Drops of one reason that make a kernel-drop finding HIGH (policy,
    /// congestion, routing, MTU) or MEDIUM (bad headers). Ten lost packets
    /// of one cause are a pattern, not a stray packet.
    pub kernel_drops_high: u64,
    /// Likewise for flow-log drops of one reason (Hubble `DROPPED` records).
    pub flow_log_drops_high: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            retrans_rate: 0.01,
            min_segments: 20,
            capture_loss_rate: 0.001,
            slow_response_ms: 200.0,
            response_vs_rtt: 10.0,
            slow_connect_ms: 1000.0,
            nxdomain_rate: 0.2,
            kernel_drops_high: 10,
            flow_log_drops_high: 10,
        }
    }
}
