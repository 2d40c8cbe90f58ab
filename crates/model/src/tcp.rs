//! TCP analysis of one flow, as serialized in `flows[].tcp`.

use serde::Serialize;

use crate::stats::{ShortSummary, Summary};

/// Retransmission counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetransCounts {
    /// Data segments carrying bytes already sent (every retransmission).
    pub segments: u64,
    /// Payload bytes of those segments.
    pub bytes: u64,
    /// By mechanism: `rto + fast + tlp == segments`.
    pub rto: u64,
    pub fast: u64,
    pub tlp: u64,
    /// Those that were unnecessary: already acknowledged when sent, or
    /// reported as duplicates by the receiver (D-SACK). A subset of `segments`.
    pub spurious: u64,
}

/// A value per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pair<T> {
    pub client: T,
    pub server: T,
}

impl<T: Copy> Pair<T> {
    /// The value of direction `d` (0: client, 1: server).
    pub fn get(&self, d: usize) -> T {
        if d == 0 {
            self.client
        } else {
            self.server
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HandshakeLegs {
    /// SYN to SYN-ACK at the capture point: the network beyond the capture
    /// point when capturing at the client, the server's host time at the server.
    pub syn_to_synack_ms: f64,
    /// SYN-ACK to the handshake's ACK: the client side's share.
    pub synack_to_ack_ms: f64,
}

/// Options a side offered in its SYN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
}

/// TCP analysis of one flow, as serialized in `flows[].tcp`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TcpRecord {
    pub conn_state: &'static str,
    pub history: String,
    pub handshake_rtt_ms: Option<f64>,
    pub handshake: Option<HandshakeLegs>,
    pub rtt_ms: Option<Summary>,
    pub rtt_ms_by_dir: Pair<Option<Summary>>,
    pub ts_rtt_ms: Option<Summary>,
    pub response_time_ms: Option<ShortSummary>,
    /// Segments carrying payload, retransmissions included.
    pub data_segments: Pair<u64>,
    pub retransmissions: Pair<RetransCounts>,
    pub out_of_order: Pair<u64>,
    pub capture_lost_segments: Pair<u64>,
    pub capture_lost_bytes: Pair<u64>,
    pub dup_acks: Pair<u64>,
    pub zero_windows: Pair<u64>,
    pub zero_window_probes: Pair<u64>,
    pub window_full: Pair<u64>,
    pub keep_alives: Pair<u64>,
    pub resets: Pair<u64>,
    pub syn_retransmissions: u64,
    pub synack_retransmissions: u64,
    /// The same packet captured more than once (left out of the analysis).
    pub duplicates: Pair<u64>,
    pub unique_bytes: Pair<u64>,
    pub options: Pair<TcpOptions>,
}
