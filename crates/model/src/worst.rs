//! Rankings of the flows that suffer most.

use serde::Serialize;

/// One ranked flow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Ranked {
    /// Index into `flows`.
    pub flow: u64,
    /// The measure the list ranks by.
    pub value: f64,
}

/// Rankings of the flows that suffer most: each list holds up to 10 flows,
/// worst first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WorstFlows {
    /// Retransmitted / data segments, both directions (flows with at least
    /// 10 data segments and a retransmission).
    pub retransmission_rate: Vec<Ranked>,
    /// Median data RTT in ms.
    pub rtt_p50_ms: Vec<Ranked>,
    /// Median server response time in ms.
    pub response_time_p50_ms: Vec<Ranked>,
}
