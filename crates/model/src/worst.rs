//! Rankings of the flows that suffer most.

use serde::Serialize;

/// One ranked flow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ranked {
    /// Index into `flows`.
    pub flow: u64,
    pub value: f64,
}

/// The worst flows by each measure, worst first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorstFlows {
    /// Retransmitted / data segments, both directions (flows with retransmissions).
    pub retransmission_rate: Vec<Ranked>,
    /// Median data RTT in ms.
    pub rtt_p50_ms: Vec<Ranked>,
    /// Median server response time in ms.
    pub response_time_p50_ms: Vec<Ranked>,
}
