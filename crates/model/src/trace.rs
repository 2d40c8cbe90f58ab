//! Time-sequence traces of chosen TCP flows, for tcptrace-style graphs.

use serde::Serialize;

/// One direction of one flow over time, sequence numbers relative to its start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FlowTrace {
    pub flow: u64,
    /// Whose data is traced: "client" or "server" (the side that sent more).
    pub sender: &'static str,
    /// Unix seconds of the flow's first packet; times below are relative to it.
    pub start_ts: f64,
    /// (time s, first byte, length) of segments sent for the first time.
    pub data: Vec<(f64, f64, f64)>,
    /// The same for retransmissions.
    pub retransmitted: Vec<(f64, f64, f64)>,
    /// (time s, acknowledged byte) from the receiver.
    pub acks: Vec<(f64, f64)>,
    /// (time s, acknowledged byte + advertised window): the receiver's limit,
    /// clipped to 1.25 times the highest data byte.
    pub window: Vec<(f64, f64)>,
}
