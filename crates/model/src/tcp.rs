//! TCP analysis of one flow, as serialized in `flows[].tcp`.

use serde::Serialize;

use crate::stats::{ShortSummary, Summary};

/// Retransmissions of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RetransCounts {
    /// Data segments carrying bytes already sent: every retransmission on
    /// the wire, partial overlaps included, and at a capture downstream of a
    /// loss the segment that fills the hole when it came too late to be
    /// reordering.
    pub segments: u64,
    /// Payload bytes of those segments.
    pub bytes: u64,
    /// Retransmitted on a timeout (nothing from the receiver for at least an
    /// RTO). `rto + fast + tlp == segments`.
    pub rto: u64,
    /// Fast retransmissions and loss recovery (duplicate ACKs, SACK).
    pub fast: u64,
    /// Tail loss probes (the last segment resent before an RTO could fire).
    pub tlp: u64,
    /// Those that were unnecessary (a subset of `segments`): already
    /// acknowledged when sent, or reported as received twice by a D-SACK.
    pub spurious: u64,
}

/// A value per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Pair<T> {
    /// What the client (originator) sent.
    pub client: T,
    /// What the server (responder) sent.
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

/// The two legs of the three-way handshake at the capture point. At a
/// client-side capture the first leg is the network round trip and the
/// second the client's host time; at a server-side capture the other way
/// round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HandshakeLegs {
    /// SYN to SYN-ACK.
    pub syn_to_synack_ms: f64,
    /// SYN-ACK to the handshake's final ACK.
    pub synack_to_ack_ms: f64,
}

/// The TCP options a side offered in its SYN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TcpOptions {
    /// Maximum segment size; null without the option (or without a SYN).
    pub mss: Option<u16>,
    /// Window scale shift; null without the option.
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// TCP timestamps offered.
    pub timestamps: bool,
}

/// TCP analysis of one flow (TCP flows only). How each value is decided is
/// explained in [tcp-analysis.md](tcp-analysis.md). Per-direction values
/// are what that side *sent* (its data, its ACKs, its window
/// advertisements, its resets).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TcpRecord {
    /// Zeek's conn_state: `S0`, `S1`, `SF`, `REJ`, `S2`, `S3`, `RSTO`,
    /// `RSTR`, `RSTOS0`, `RSTRH`, `SH`, `SHR`, `OTH`.
    pub conn_state: &'static str,
    /// Zeek's history: uppercase client, lowercase server; `S` SYN, `H`
    /// SYN-ACK, `A` pure ACK, `D` data, `F` FIN, `R` RST, `T`
    /// retransmission, `G` content gap (capture loss), `W` zero window;
    /// `T`/`G`/`W` repeat at the 1st, 10th, 100th … time; `^` first: the
    /// client is not the first packet's sender.
    pub history: String,
    /// SYN to the handshake's final ACK at the capture point (the last SYN
    /// before the SYN-ACK when the SYN was retried). For a refused
    /// connection (`conn_state` `REJ`): the last SYN to the RST that
    /// answered it, as Wireshark's initial RTT; about one RTT when the host
    /// refused, often much less when a firewall on the path rejected it.
    pub handshake_rtt_ms: Option<f64>,
    /// First SYN to the handshake's final ACK at the capture point: what
    /// the client's `connect()` waited, SYN retries included (a listen
    /// backlog overflow or a SYN lost on the path shows here, not in the
    /// handshake RTT). Null when the handshake was not seen complete.
    pub connect_ms: Option<f64>,
    /// The handshake's two legs.
    pub handshake: Option<HandshakeLegs>,
    /// Data RTT samples of both directions: time from a data segment to the
    /// ACK that covers exactly its end. No sample from a retransmitted
    /// segment or from segments sent before a later retransmission (Karn;
    /// tcptrace's "post-loss ACKs").
    pub rtt_ms: Option<Summary>,
    /// The same, split by the side that sent the data.
    pub rtt_ms_by_dir: Pair<Option<Summary>>,
    /// RTT from TCP timestamps: from the first segment carrying a TSval to
    /// the first ACK echoing it that acknowledges new data. Includes
    /// delayed-ACK time.
    pub ts_rtt_ms: Option<Summary>,
    /// Server response time per request/response turn: from the client's
    /// last data segment of a request to the server's first data segment of
    /// the response.
    pub response_time_ms: Option<ShortSummary>,
    /// Segments with payload, retransmissions included.
    pub data_segments: Pair<u64>,
    /// Retransmitted segments and bytes, by mechanism.
    pub retransmissions: Pair<RetransCounts>,
    /// Segments with new data below the highest sequence number seen that
    /// the network reordered (not retransmissions).
    pub out_of_order: Pair<u64>,
    /// Data the receiver acknowledged but the capture never saw: capture
    /// loss, not network loss. Segments are estimated from the largest
    /// segment size seen.
    pub capture_lost_segments: Pair<u64>,
    /// The bytes of that capture loss.
    pub capture_lost_bytes: Pair<u64>,
    /// Acknowledgments of this side's data too far beyond anything seen to
    /// be data the capture missed (more than four of the receiver's largest
    /// windows, at least 1 MiB): a challenge ACK (RFC 5961), numbers of
    /// another connection. Not counted as capture loss.
    pub out_of_window: Pair<u64>,
    /// Duplicate ACKs sent: pure ACKs repeating the last acknowledgment
    /// number and window while data is outstanding.
    pub dup_acks: Pair<u64>,
    /// Segments advertising a zero receive window.
    pub zero_windows: Pair<u64>,
    /// Probes sent into a zero window (not retransmissions).
    pub zero_window_probes: Pair<u64>,
    /// Data segments that filled the peer's advertised window exactly.
    pub window_full: Pair<u64>,
    /// Keep-alives (sequence number one below the next, 0 or 1 byte, already
    /// acknowledged).
    pub keep_alives: Pair<u64>,
    /// RST segments sent.
    pub resets: Pair<u64>,
    /// Client SYNs beyond the first (connection attempts retried).
    pub syn_retransmissions: u64,
    /// Server SYN-ACKs beyond the first.
    pub synack_retransmissions: u64,
    /// The same packet captured more than once (same IPv4 id and headers;
    /// without an IP id, same TSval within 20 µs for segments that carry
    /// data, SYN, FIN or RST): counted here and left out of every other TCP
    /// figure. Two capture points on one host (`tcpdump -i any` seeing veth
    /// and bridge) cause this.
    pub duplicates: Pair<u64>,
    /// Payload sequence space covered: bytes the application sent, once
    /// each, including any the capture missed.
    pub unique_bytes: Pair<u64>,
    /// What that side's SYN offered.
    pub options: Pair<TcpOptions>,
}
