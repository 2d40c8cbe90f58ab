//! TCP analysis of one flow: handshake and data RTT, server response time,
//! retransmissions by mechanism, out-of-order, capture loss, duplicate ACKs,
//! windows, resets, Zeek conn_state and history.
//!
//! Everything is decided at the capture point from the packets alone. The
//! rules (see docs/tcp-analysis.md) follow tcptrace where it is exact
//! (a segment carrying bytes already seen is a retransmission, whatever the
//! timing) and avoid Wireshark's fixed-time out-of-order guess, which
//! mislabels real retransmissions at sub-millisecond RTT.
//!
//! Layout: this file holds the analyzer of one flow and its per-packet
//! entry point ([`TcpAnalyzer::packet`]); `stream.rs` a direction's
//! sequence space (what was seen, holes, in-flight segments, duplicate
//! packets); `ack.rs` what ACKs reveal (RTT samples, duplicate ACKs,
//! windows, capture loss); `retransmission.rs` where a retransmission is
//! decided (against out-of-order), its mechanism and whether it was
//! spurious; `history.rs` Zeek's conn_state and history.

mod ack;
mod history;
mod ranges;
mod retransmission;
mod seq;
mod stream;

use crate::decode::TcpSummary;

use super::stats::Samples;
pub use crate::report::{HandshakeLegs, Pair, RetransCounts, TcpOptions, TcpRecord};
pub use ack::CaptureLoss;
pub use history::{conn_state, EndpointState, History, Repeating};
pub use retransmission::Mechanism;
pub use seq::SeqSpace;
use stream::{options, unique_bytes, Stream};

#[cfg(test)]
mod tests;

/// Round-trip legs of the three-way handshake at the capture point.
#[derive(Debug, Clone, Copy, Default)]
struct Handshake {
    /// The client's first SYN (connect time starts here).
    first_syn_ns: Option<i64>,
    syn_ns: Option<i64>,
    synack_ns: Option<i64>,
    ack_ns: Option<i64>,
    /// The server's first RST answering a SYN before any SYN-ACK (a refusal).
    rst_ns: Option<i64>,
}

/// Request/response turn tracking for server response time.
#[derive(Debug, Clone, Copy, Default)]
enum Turn {
    /// No request yet (or a server that speaks first).
    #[default]
    Idle,
    Request {
        last_ns: i64,
    },
    Response,
}

/// TCP analysis state of one flow. Direction index 0 is the client.
#[derive(Debug, Default)]
pub struct TcpAnalyzer {
    streams: [Stream; 2],
    states: [EndpointState; 2],
    history: History,
    handshake: Handshake,
    turn: Turn,
    response: Samples,
    synack_retransmissions: u64,
    /// The data RTT sample the current packet produced, if any.
    last_rtt_ms: Option<f64>,
    /// What the current packet's retransmission, ACK and D-SACK revealed.
    last_retrans: Option<(Mechanism, bool)>,
    last_loss: CaptureLoss,
    last_dsack: u64,
}

/// What the analysis made of one packet (for timelines and traces).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Verdict {
    pub retransmission: bool,
    pub out_of_order: bool,
    pub zero_window: bool,
    pub reset: bool,
    /// A client SYN beyond the first.
    pub syn_retry: bool,
    /// The same packet captured again: left out of the analysis.
    pub duplicate: bool,
    /// A data RTT sample this ACK produced.
    pub rtt_ms: Option<f64>,
    /// For a retransmission: its mechanism, and whether it was already
    /// acknowledged when sent (spurious).
    pub retrans_class: Option<(Mechanism, bool)>,
    /// Capture loss of the other direction's data that this ACK revealed.
    pub capture_loss: CaptureLoss,
    /// Earlier retransmissions of the other direction that this packet's
    /// D-SACK showed spurious.
    pub dsack_spurious: u64,
}

/// What one packet contributes, from the flow's point of view.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub ts_ns: i64,
    /// 0 when sent by the client, 1 by the server.
    pub dir: usize,
    pub tcp: &'a TcpSummary,
    pub payload_len: u32,
    /// IPv4 identification (0 for IPv6 or when unset).
    pub ip_id: u16,
}

fn pair<T>(v: &mut [T; 2], first: usize) -> (&mut T, &mut T) {
    let (a, b) = v.split_at_mut(1);
    if first == 0 {
        (&mut a[0], &mut b[0])
    } else {
        (&mut b[0], &mut a[0])
    }
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

impl TcpAnalyzer {
    /// Marks the flow's originator as decided against the first packet (`^`).
    pub fn flipped(&mut self) {
        self.history.flip();
    }

    /// Current estimate of the round trip through the capture point, in
    /// ns: the handshake (SYN to ACK), or the two directions' smallest data
    /// RTTs added (each is only the loop on one side of the capture point;
    /// next to a host, one of them is just that host's ACK delay).
    /// From the capture point to the sender of direction `d`'s data and
    /// back, from the handshake: SYN-ACK to the final ACK for the client,
    /// SYN to SYN-ACK for the server; `None` without a clean handshake.
    fn sender_leg_ns(&self, d: usize) -> Option<i64> {
        let hs = &self.handshake;
        if self.synack_retransmissions > 0 {
            return None;
        }
        let (a, b) = if d == 0 {
            (hs.synack_ns?, hs.ack_ns?)
        } else {
            (hs.syn_ns?, hs.synack_ns?)
        };
        (b >= a).then_some(b - a)
    }

    fn rtt_estimate_ns(&self) -> Option<i64> {
        // A retransmitted SYN-ACK puts a timeout inside the handshake.
        let hs = match (self.handshake.syn_ns, self.handshake.ack_ns) {
            (Some(s), Some(a)) if a > s && self.synack_retransmissions == 0 => Some(a - s),
            _ => None,
        };
        let [a, b] =
            [&self.streams[0], &self.streams[1]].map(|s| s.rtt.min().map(|ms| (ms * 1e6) as i64));
        let data = match (a, b) {
            (Some(x), Some(y)) => Some(x + y),
            _ => None,
        };
        match (hs, data) {
            (Some(h), Some(d)) => Some(h.min(d)),
            (h, d) => h.or(d).or(a).or(b),
        }
    }

    /// Accounts one TCP packet.
    pub fn packet(&mut self, p: Seen<'_>) -> Verdict {
        let t = p.tcp;
        let f = t.flags;
        let d = p.dir;
        if self.duplicate(&p) {
            return Verdict {
                duplicate: true,
                ..Verdict::default()
            };
        }
        let before = self.counts(d);
        self.last_rtt_ms = None;
        self.last_retrans = None;
        self.last_loss = CaptureLoss::default();
        self.last_dsack = 0;
        let len = u64::from(p.payload_len);
        self.history
            .packet(d, f.syn(), f.ack(), f.fin(), f.rst(), len > 0);
        self.endpoint_state(d, t);
        self.handshake_and_retries(d, p.ts_ns, t);
        if f.ack() {
            self.ack(p);
        }
        self.window(d, t);
        self.data(p);
        if len > 0 {
            self.response_turn(d, p.ts_ns);
        }
        let (me, _) = pair(&mut self.streams, d);
        if f.rst() {
            me.resets += 1;
        }
        me.last_tx_ns = Some(p.ts_ns);
        let after = self.counts(d);
        Verdict {
            retransmission: after.0 > before.0,
            out_of_order: after.1 > before.1,
            zero_window: after.2 > before.2,
            reset: f.rst(),
            syn_retry: after.3 > before.3 && after.3 >= 2,
            duplicate: false,
            rtt_ms: self.last_rtt_ms,
            retrans_class: self.last_retrans,
            capture_loss: self.last_loss,
            dsack_spurious: self.last_dsack,
        }
    }

    /// Counters a packet from `d` can move: retransmissions, out-of-order,
    /// zero windows, SYNs.
    fn counts(&self, d: usize) -> (u64, u64, u64, u64) {
        let s = &self.streams[d];
        (s.retrans.segments, s.out_of_order, s.zero_windows, s.syns)
    }

    fn endpoint_state(&mut self, d: usize, t: &TcpSummary) {
        use EndpointState::*;
        let f = t.flags;
        let (me, peer) = {
            let (a, b) = pair(&mut self.states, d);
            (a, b)
        };
        if f.rst() {
            *me = Reset;
            return;
        }
        if *me == Reset {
            return;
        }
        if f.fin() {
            *me = Closed;
            return;
        }
        if *me == Closed {
            return;
        }
        if f.syn() && !f.ack() {
            if matches!(*me, Inactive) {
                *me = SynSent;
            }
        } else if f.syn() && f.ack() {
            if matches!(*me, Inactive | SynSent) {
                *me = SynAckSent;
            }
        } else {
            match *me {
                Inactive => *me = Partial,
                SynSent if *peer == SynAckSent || *peer == Established => {
                    *me = Established;
                    *peer = Established;
                }
                SynAckSent if *peer == Established => *me = Established,
                _ => {}
            }
        }
    }

    fn handshake_and_retries(&mut self, d: usize, ts: i64, t: &TcpSummary) {
        let f = t.flags;
        let hs = &mut self.handshake;
        if f.syn() && !f.ack() && d == 0 {
            let s = &mut self.streams[0];
            s.syns += 1;
            hs.first_syn_ns.get_or_insert(ts);
            if hs.synack_ns.is_none() {
                // With SYN retries, the last SYN is the one the SYN-ACK (or
                // a refusal's RST) answers.
                hs.syn_ns = Some(ts);
                hs.rst_ns = None;
            }
        } else if f.syn() && f.ack() && d == 1 {
            if hs.synack_ns.is_none() {
                hs.synack_ns = Some(ts);
            } else {
                self.synack_retransmissions += 1;
            }
        } else if d == 1 && f.rst() && hs.syn_ns.is_some() && hs.synack_ns.is_none() {
            hs.rst_ns.get_or_insert(ts);
        } else if d == 0 && f.ack() && !f.syn() && hs.synack_ns.is_some() && hs.ack_ns.is_none() {
            let server_isn = self.streams[1].isn;
            let ack = self.streams[1].seq.unwrap(t.ack);
            if server_isn.is_some_and(|isn| ack == isn + 1) {
                hs.ack_ns = Some(ts);
            }
        }
    }

    /// A turn is client data then server data; the response time runs from
    /// the client's last segment of the request to the server's first of the response.
    fn response_turn(&mut self, d: usize, ts: i64) {
        if d == 0 {
            self.turn = Turn::Request { last_ns: ts };
        } else if let Turn::Request { last_ns } = self.turn {
            self.response.push(ms(ts - last_ns));
            self.turn = Turn::Response;
        }
    }

    /// Capture loss counted so far per direction: (segments, bytes).
    pub fn capture_loss_totals(&self) -> [(u64, u64); 2] {
        self.streams
            .each_ref()
            .map(|s| (s.capture_lost_segments, s.capture_lost_bytes))
    }

    /// The per-flow TCP record.
    pub fn finish(&mut self) -> TcpRecord {
        let windows = [self.streams[0].max_window, self.streams[1].max_window];
        self.streams[0].finish_capture_loss(windows[1]);
        self.streams[1].finish_capture_loss(windows[0]);
        let [c, s] = &self.streams;
        let sizes_zero = c.data_start.is_none() && s.data_start.is_none();
        let hs = self.handshake;
        let handshake = match (hs.syn_ns, hs.synack_ns, hs.ack_ns) {
            (Some(a), Some(b), Some(c)) if a <= b && b <= c => Some(HandshakeLegs {
                syn_to_synack_ms: ms(b - a),
                synack_to_ack_ms: ms(c - b),
            }),
            _ => None,
        };
        let mut all_rtt = c.rtt.clone();
        all_rtt.extend(&s.rtt);
        let mut ts_rtt = c.ts_rtt.clone();
        ts_rtt.extend(&s.ts_rtt);
        let pair_u = |f: fn(&Stream) -> u64| Pair {
            client: f(c),
            server: f(s),
        };
        let state = conn_state(
            self.states[0],
            self.states[1],
            sizes_zero,
            self.history.as_str(),
        );
        TcpRecord {
            conn_state: state,
            history: self.history.as_str().to_string(),
            handshake_rtt_ms: match (hs.syn_ns, handshake, hs.rst_ns) {
                (Some(a), Some(_), _) => hs.ack_ns.map(|c| ms(c - a)),
                // Refused: the SYN to the RST that answered it (Wireshark's
                // initial RTT of such a connection).
                (Some(a), None, Some(r)) if state == "REJ" && r >= a => Some(ms(r - a)),
                _ => None,
            },
            connect_ms: match (hs.first_syn_ns, handshake) {
                (Some(a), Some(_)) => hs.ack_ns.map(|c| ms(c - a)),
                _ => None,
            },
            handshake,
            rtt_ms: all_rtt.summary(),
            rtt_ms_by_dir: Pair {
                client: c.rtt.summary(),
                server: s.rtt.summary(),
            },
            ts_rtt_ms: ts_rtt.summary(),
            response_time_ms: self.response.short(),
            data_segments: pair_u(|x| x.data_segments),
            retransmissions: Pair {
                client: c.retrans,
                server: s.retrans,
            },
            out_of_order: pair_u(|x| x.out_of_order),
            capture_lost_segments: pair_u(|x| x.capture_lost_segments),
            capture_lost_bytes: pair_u(|x| x.capture_lost_bytes),
            out_of_window: pair_u(|x| x.out_of_window),
            dup_acks: pair_u(|x| x.dup_acks),
            zero_windows: pair_u(|x| x.zero_windows),
            zero_window_probes: pair_u(|x| x.zero_window_probes),
            window_full: pair_u(|x| x.window_full),
            keep_alives: pair_u(|x| x.keep_alives),
            resets: pair_u(|x| x.resets),
            syn_retransmissions: c.syns.saturating_sub(1),
            synack_retransmissions: self.synack_retransmissions,
            duplicates: pair_u(|x| x.duplicates),
            unique_bytes: pair_u(unique_bytes),
            options: Pair {
                client: options(c),
                server: options(s),
            },
        }
    }
}
