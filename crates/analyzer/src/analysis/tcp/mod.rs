//! TCP analysis of one flow: handshake and data RTT, server response time,
//! retransmissions by mechanism, out-of-order, capture loss, duplicate ACKs,
//! windows, resets, Zeek conn_state and history.
//!
//! Everything is decided at the capture point from the packets alone. The
//! rules (see docs/tcp-analysis.md) follow tcptrace where it is exact
//! (a segment carrying bytes already seen is a retransmission, whatever the
//! timing) and avoid Wireshark's fixed-time out-of-order guess, which
//! mislabels real retransmissions at sub-millisecond RTT.

mod history;
mod ranges;
mod seq;

use std::collections::VecDeque;

use crate::decode::TcpSummary;

use super::stats::Samples;
pub use crate::report::{HandshakeLegs, Pair, RetransCounts, TcpOptions, TcpRecord};
pub use history::{conn_state, EndpointState, History, Repeating};
use ranges::RangeSet;
pub use seq::SeqSpace;

#[cfg(test)]
mod tests;

/// Linux never retransmits on timeout sooner than 200 ms (TCP_RTO_MIN);
/// 10% less allows for timer slack and capture timestamps.
const RTO_FLOOR_NS: i64 = 180_000_000;
/// Out-of-order window when no RTT is known yet: Wireshark's default.
const DEFAULT_REORDER_NS: i64 = 3_000_000;
/// A tail loss probe comes at most 2 RTT plus Linux's 200 ms single-segment
/// allowance (and timer slack) after the last news from the receiver.
const TLP_MAX_EXTRA_NS: i64 = 250_000_000;
/// In-flight segments remembered for RTT samples; a window's worth.
const MAX_UNACKED: usize = 8192;
/// Retransmissions remembered so a later D-SACK can mark them spurious.
const MAX_RETRANS_LOG: usize = 1024;
/// TSval transmissions remembered for timestamp RTT samples.
const MAX_TSVALS: usize = 4096;
/// Capture gaps tracked per direction awaiting their fill or ACK.
const MAX_HOLES: usize = 1024;

/// How a retransmission was triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Retransmission timeout: nothing from the receiver for at least an RTO.
    Rto,
    /// Fast retransmit / loss recovery: driven by duplicate ACKs or SACK.
    Fast,
    /// Tail loss probe: the last segment resent before an RTO could fire.
    Tlp,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Rto => "rto",
            Mechanism::Fast => "fast",
            Mechanism::Tlp => "tlp",
        }
    }
}

/// Data of the other direction that an ACK revealed the capture missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureLoss {
    /// Estimated segments missed.
    pub segments: u64,
    pub bytes: u64,
    /// Raw sequence number where the first missing range starts.
    pub seq: u32,
}

#[derive(Debug, Clone, Copy)]
struct Seg {
    end: u64,
    ts: i64,
    /// Retransmitted, or sent before a later retransmission: no RTT sample (Karn).
    ambiguous: bool,
}

#[derive(Debug, Clone, Copy)]
struct Hole {
    start: u64,
    end: u64,
    /// When the capture first saw data beyond the hole.
    seen_ns: i64,
    /// TSval of the segment that revealed the hole.
    tsval: Option<u32>,
    /// IPv4 id of that segment (0: none).
    ip_id: u16,
}

#[derive(Debug, Clone, Copy)]
struct RetransLog {
    start: u64,
    end: u64,
    spurious: bool,
}

/// The stream of data one side sends, and what that side advertises.
#[derive(Debug, Default)]
struct Stream {
    seq: SeqSpace,
    /// First sequence number observed (SYN or first segment).
    first: Option<u64>,
    isn: Option<u64>,
    data_start: Option<u64>,
    data_end: Option<u64>,
    /// Highest sequence number + length seen (SYN and FIN count one).
    next: Option<u64>,
    /// Highest cumulative ACK received for this stream.
    acked: Option<u64>,
    /// Everything below this was either seen or counted as capture loss.
    confirmed: Option<u64>,
    /// A tail loss probe was sent since the ACK last advanced.
    tlp_since_progress: bool,
    /// Sequence number of this side's FIN.
    fin_seq: Option<u64>,
    /// Recent packets, to recognize the same packet captured twice.
    recent: VecDeque<Fingerprint>,
    /// IPv4 ids of this side's packets: the last one, and how many steps
    /// between consecutive packets were small increments (or not).
    last_ip_id: Option<u16>,
    ip_id_steps: (u32, u32),
    duplicates: u64,
    seen: RangeSet,
    holes: Vec<Hole>,
    unacked: VecDeque<Seg>,
    retrans_log: VecDeque<RetransLog>,
    recovery: Option<(Mechanism, u64)>,
    /// Duplicate ACKs received for `acked`.
    dup_acks_rcvd: u32,
    /// Highest SACKed byte above the cumulative ACK.
    sack_high: Option<u64>,
    last_ack_progress_ns: Option<i64>,
    /// Last ACK of any kind (duplicate or SACK included) for this stream.
    last_ack_any_ns: Option<i64>,
    last_tx_ns: Option<i64>,
    tsvals: VecDeque<(u32, i64)>,
    max_tsval: Option<u32>,
    last_tsecr_sampled: Option<u32>,
    // What this side advertises, for the other side's stream.
    wscale: Option<u8>,
    window: Option<u64>,
    last_ack_sent: Option<u32>,
    last_win_sent: Option<u16>,
    syn_mss: Option<u16>,
    sack_permitted: bool,
    timestamps: bool,
    max_payload: u32,
    // Counters.
    retrans: RetransCounts,
    data_segments: u64,
    out_of_order: u64,
    capture_lost_segments: u64,
    capture_lost_bytes: u64,
    dup_acks: u64,
    zero_windows: u64,
    zero_window_probes: u64,
    window_full: u64,
    keep_alives: u64,
    resets: u64,
    syns: u64,
    rtt: Samples,
    ts_rtt: Samples,
}

impl Stream {
    /// Bytes of [start, end) already sent: acknowledged or seen on the wire.
    fn already_sent(&self, start: u64, end: u64) -> u64 {
        let floor = self.confirmed.unwrap_or(0);
        let below = if start < floor {
            end.min(floor) - start
        } else {
            0
        };
        below + self.seen.overlap(start.max(floor), end)
    }

    /// Counts bytes acknowledged but never seen below both the ACK and the
    /// highest byte seen (so an ACK captured before its data is not loss),
    /// then forgets the ranges below. Returns the segments counted.
    fn account_capture_loss(&mut self) -> CaptureLoss {
        let (Some(acked), Some(next)) = (self.acked, self.next) else {
            return CaptureLoss::default();
        };
        let top = acked.min(next);
        let floor = self.confirmed.or(self.isn).or(self.first).unwrap_or(top);
        let mut loss = CaptureLoss::default();
        if top > floor {
            let mss = self.mss_estimate();
            for (a, b) in self.seen.gaps(floor, top) {
                if loss.segments == 0 {
                    // Unwrapped values keep the raw number in their low 32 bits.
                    loss.seq = a as u32;
                }
                self.capture_lost_bytes += b - a;
                loss.bytes += b - a;
                loss.segments += (b - a).div_ceil(mss);
            }
            self.capture_lost_segments += loss.segments;
        }
        let confirmed = top.max(floor);
        self.confirmed = Some(confirmed);
        self.seen.prune_below(confirmed);
        loss
    }

    fn mss_estimate(&self) -> u64 {
        u64::from(self.max_payload.max(u32::from(self.syn_mss.unwrap_or(0)))).max(1)
    }

    /// At the end: acknowledged data beyond anything seen was missed by the capture.
    fn finish_capture_loss(&mut self) {
        self.account_capture_loss();
        if let (Some(acked), Some(next)) = (self.acked, self.next) {
            if acked > next {
                let b = acked - next;
                self.capture_lost_bytes += b;
                self.capture_lost_segments += b.div_ceil(self.mss_estimate());
            }
        }
    }

    /// The sender numbers its packets in order: nearly every step between
    /// consecutive IPv4 ids is a small increment (not random ids).
    fn ip_ids_sequential(&self) -> bool {
        let (inc, other) = self.ip_id_steps;
        inc >= 8 && inc >= 9 * other
    }

    fn first_tx_ns(&self, start: u64) -> Option<i64> {
        // The oldest in-flight segment ending after `start` holds its first byte.
        self.unacked.iter().find(|s| s.end > start).map(|s| s.ts)
    }
}

/// Round-trip legs of the three-way handshake at the capture point.
#[derive(Debug, Clone, Copy, Default)]
struct Handshake {
    syn_ns: Option<i64>,
    synack_ns: Option<i64>,
    ack_ns: Option<i64>,
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

/// What identifies one transmission of a segment, to recognize the same
/// packet captured twice (two interfaces, a duplicating network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    ts: i64,
    seq: u32,
    ack: u32,
    len: u32,
    flags: u16,
    window: u16,
    tsval: Option<u32>,
    ip_id: u16,
}

/// Copies without an IP id (IPv6) must be this close in time to count as
/// one packet: the same frame seen on two interfaces of one host.
const DUPLICATE_WINDOW_NS: i64 = 20_000;
/// Copies with the same IPv4 id: the sender never reuses an id that soon.
const DUPLICATE_IP_ID_WINDOW_NS: i64 = 1_000_000_000;
/// Recent packets remembered per direction for duplicate detection.
const RECENT: usize = 8;

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

    /// The same packet seen again (identical headers and IP id, or within
    /// microseconds without one): counted, and left out of the analysis.
    fn duplicate(&mut self, p: &Seen<'_>) -> bool {
        let t = p.tcp;
        let fp = Fingerprint {
            ts: p.ts_ns,
            seq: t.seq,
            ack: t.ack,
            len: p.payload_len,
            flags: t.flags.0,
            window: t.window,
            tsval: t.timestamps.map(|(v, _)| v),
            ip_id: p.ip_id,
        };
        let s = &mut self.streams[p.dir];
        // Without an IP id, identical pure ACKs are normal (duplicate ACKs):
        // only segments that carry something, with the same TSval, within
        // microseconds, are taken for copies.
        let carries = p.payload_len > 0 || t.flags.syn() || t.flags.fin() || t.flags.rst();
        let dup = s.recent.iter().any(|r| {
            let dt = (fp.ts - r.ts).abs();
            Fingerprint { ts: fp.ts, ..*r } == fp
                && if fp.ip_id != 0 {
                    dt <= DUPLICATE_IP_ID_WINDOW_NS
                } else {
                    carries && fp.tsval.is_some() && dt <= DUPLICATE_WINDOW_NS
                }
        });
        if dup {
            s.duplicates += 1;
        } else {
            s.recent.push_back(fp);
            if s.recent.len() > RECENT {
                s.recent.pop_front();
            }
        }
        dup
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
            if hs.synack_ns.is_none() {
                // With SYN retries, the last SYN is the one the SYN-ACK answers.
                hs.syn_ns = Some(ts);
            }
        } else if f.syn() && f.ack() && d == 1 {
            if hs.synack_ns.is_none() {
                hs.synack_ns = Some(ts);
            } else {
                self.synack_retransmissions += 1;
            }
        } else if d == 0 && f.ack() && !f.syn() && hs.synack_ns.is_some() && hs.ack_ns.is_none() {
            let server_isn = self.streams[1].isn;
            let ack = self.streams[1].seq.unwrap(t.ack);
            if server_isn.is_some_and(|isn| ack == isn + 1) {
                hs.ack_ns = Some(ts);
            }
        }
    }

    /// The ACK (and SACK, timestamp echo) in a packet from `d` acknowledges the other stream.
    fn ack(&mut self, p: Seen<'_>) {
        let t = p.tcp;
        let d = p.dir;
        let payload = p.payload_len > 0;
        let (acker, s) = pair(&mut self.streams, d);
        if !s.seq.is_set() {
            return;
        }
        let ack = s.seq.unwrap(t.ack);
        s.last_ack_any_ns = Some(p.ts_ns);
        let pure = !payload && !t.flags.syn() && !t.flags.fin() && !t.flags.rst();
        let window_same = acker.last_win_sent == Some(t.window) && t.window != 0;
        let mut lost = CaptureLoss::default();
        let mut dsacked = 0;
        let mut rtt_sample = None;
        // When the acknowledging side's own sequence jumps past bytes the
        // capture never saw, a missed packet may have carried this ACK first:
        // its timing says nothing.
        let acker_skipped = acker.next.is_some_and(|n| acker.seq.unwrap(t.seq) > n);
        if s.acked.is_none_or(|prev| ack > prev) {
            // RTT: the ACK that covers exactly a segment's end (Karn applies).
            while let Some(seg) = s.unacked.front().copied() {
                if seg.end > ack {
                    break;
                }
                s.unacked.pop_front();
                if seg.end == ack && !seg.ambiguous && !acker_skipped {
                    s.rtt.push(ms(p.ts_ns - seg.ts));
                    rtt_sample = Some(ms(p.ts_ns - seg.ts));
                }
            }
            s.acked = Some(ack);
            lost = s.account_capture_loss();
            s.holes.retain(|h| h.end > ack);
            for h in &mut s.holes {
                h.start = h.start.max(ack);
            }
            s.dup_acks_rcvd = 0;
            s.tlp_since_progress = false;
            s.sack_high = s.sack_high.filter(|&h| h > ack);
            s.last_ack_progress_ns = Some(p.ts_ns);
            if s.recovery.is_some_and(|(_, point)| ack >= point) {
                s.recovery = None;
            }
            // Timestamp RTT: the first transmission of the echoed TSval.
            if let Some((_, tsecr)) = t.timestamps {
                if tsecr != 0 && s.last_tsecr_sampled != Some(tsecr) {
                    if let Some(&(_, sent)) = s.tsvals.iter().find(|(v, _)| *v == tsecr) {
                        s.ts_rtt.push(ms(p.ts_ns - sent));
                        s.last_tsecr_sampled = Some(tsecr);
                    }
                }
            }
        } else if s.acked == Some(ack) {
            let outstanding = s.next.is_some_and(|n| n > ack);
            if pure && window_same && outstanding && acker.last_ack_sent == Some(t.ack) {
                acker.dup_acks += 1;
                s.dup_acks_rcvd += 1;
            }
        }
        // (An older ACK, reordered, carries no information.)
        // SACK blocks: loss evidence above the ACK, or D-SACK below it.
        let acked = s.acked.unwrap_or(ack);
        for &(l, r) in &t.sack_blocks[..usize::from(t.sack_count)] {
            let (l, r) = (s.seq.unwrap(l), s.seq.unwrap(r));
            if r <= acked {
                dsacked += dsack(s, l, r);
            } else if l >= acked {
                s.sack_high = Some(s.sack_high.map_or(r, |h| h.max(r)));
            }
        }
        acker.last_ack_sent = Some(t.ack);
        acker.last_win_sent = Some(t.window);
        for _ in 0..lost.segments {
            self.history.repeating(1 - d, Repeating::Gap);
        }
        self.last_rtt_ms = rtt_sample;
        self.last_loss = lost;
        self.last_dsack = dsacked;
    }

    fn window(&mut self, d: usize, t: &TcpSummary) {
        let f = t.flags;
        let (me, peer) = pair(&mut self.streams, d);
        if f.syn() {
            me.wscale = t.window_scale;
            me.syn_mss = t.mss;
            me.sack_permitted = t.sack_permitted;
            me.timestamps = t.timestamps.is_some();
            me.window = Some(u64::from(t.window));
            return;
        }
        // Scaling applies only when both SYNs offered it.
        let shift = match (me.wscale, peer.wscale) {
            (Some(s), Some(_)) => s.min(14),
            _ => 0,
        };
        me.window = Some(u64::from(t.window) << shift);
        if t.window == 0 && !f.fin() && !f.rst() {
            me.zero_windows += 1;
            self.history.repeating(d, Repeating::ZeroWindow);
        }
    }

    fn data(&mut self, p: Seen<'_>) {
        let t = p.tcp;
        let d = p.dir;
        let f = t.flags;
        let rtt_ns = self.rtt_estimate_ns();
        let (me, peer) = pair(&mut self.streams, d);
        let seq = me.seq.unwrap(t.seq);
        if f.syn() {
            me.isn = Some(seq);
        }
        if p.ip_id != 0 {
            if let Some(last) = me.last_ip_id {
                let step = p.ip_id.wrapping_sub(last);
                if (1..=64).contains(&step) {
                    me.ip_id_steps.0 += 1;
                } else {
                    me.ip_id_steps.1 += 1;
                }
            }
            me.last_ip_id = Some(p.ip_id);
        }
        // A stream starts at its SYN, else at its first segment; a reset
        // (injected ones carry any sequence number) starts nothing.
        if f.syn() || (me.first.is_none() && !f.rst()) {
            me.first = Some(seq);
        }
        if let Some((tsval, _)) = t.timestamps {
            if me
                .max_tsval
                .is_none_or(|m| tsval.wrapping_sub(m) as i32 > 0)
            {
                me.max_tsval = Some(tsval);
                me.tsvals.push_back((tsval, p.ts_ns));
                if me.tsvals.len() > MAX_TSVALS {
                    me.tsvals.pop_front();
                }
            }
        }
        let len = u64::from(p.payload_len);
        let start = seq + u64::from(f.syn());
        let end = start + len;
        let seq_end = end + u64::from(f.fin());
        if f.syn() {
            me.seen.insert(seq, seq + 1);
        }
        let next = me.next;
        if len > 0 {
            me.max_payload = me.max_payload.max(p.payload_len);
            me.data_segments += 1;
            let peer_window_zero = peer.window == Some(0);
            let at_next = next == Some(start);
            let acked_already = me.acked.is_some_and(|a| a >= end);
            if len <= 1 && next == Some(end) && !f.syn() && !f.fin() && !f.rst() && acked_already {
                // seq = next - 1 with 0 or 1 byte: a keep-alive, not data.
                me.keep_alives += 1;
            } else if len == 1 && at_next && peer_window_zero {
                me.zero_window_probes += 1;
            } else {
                self.last_retrans = self::classify(me, start, end, p, rtt_ns, &mut self.history);
            }
            if let Some(window) = peer.window {
                if let Some(acked) = me.acked {
                    if end == acked + window && window > 0 {
                        me.window_full += 1;
                    }
                }
            }
            me.data_start = Some(me.data_start.map_or(start, |s| s.min(start)));
            me.data_end = Some(me.data_end.map_or(end, |e| e.max(end)));
        } else if !f.syn() && !f.rst() && next.is_some_and(|n| start > n) {
            // A FIN or an ACK beyond the highest byte seen: the data between
            // was sent, and the capture has not seen it (yet).
            if me.holes.len() < MAX_HOLES {
                me.holes.push(Hole {
                    start: next.unwrap_or(start),
                    end: start,
                    seen_ns: p.ts_ns,
                    tsval: t.timestamps.map(|(v, _)| v),
                    ip_id: p.ip_id,
                });
            }
        } else if !f.syn()
            && !f.fin()
            && !f.rst()
            && next.is_some_and(|n| start + 1 == n)
            && f.ack()
        {
            // 0-byte segment one below the next sequence number: keep-alive or
            // Linux's zero-window probe (which uses snd_una - 1).
            if peer.window == Some(0) {
                me.zero_window_probes += 1;
            } else if me.acked.is_some() || peer.acked.is_some() {
                me.keep_alives += 1;
            }
        }
        if f.fin() {
            me.seen.insert(end, end + 1);
            me.fin_seq.get_or_insert(end);
        }
        if next.is_none_or(|n| seq_end > n) {
            me.next = Some(seq_end);
        }
        me.seq.note(seq_end);
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
        for s in &mut self.streams {
            s.finish_capture_loss();
        }
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
        TcpRecord {
            conn_state: conn_state(
                self.states[0],
                self.states[1],
                sizes_zero,
                self.history.as_str(),
            ),
            history: self.history.as_str().to_string(),
            handshake_rtt_ms: match (hs.syn_ns, handshake) {
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

/// Payload sequence space the application sent: from after the SYN (or the
/// first data seen) to the FIN (or the furthest data seen or acknowledged),
/// so bytes the capture missed are included.
fn unique_bytes(s: &Stream) -> u64 {
    let start = s.isn.map(|i| i + 1).or(s.data_start);
    let end = s.fin_seq.or_else(|| match (s.data_end, s.acked) {
        (Some(d), Some(a)) => Some(d.max(a)),
        (None, Some(a)) if s.isn.is_some() => Some(a),
        (d, _) => d,
    });
    match (start, end) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 0,
    }
}

fn options(s: &Stream) -> TcpOptions {
    TcpOptions {
        mss: s.syn_mss,
        window_scale: s.wscale,
        sack_permitted: s.sack_permitted,
        timestamps: s.timestamps,
    }
}

/// A D-SACK: the receiver got [l, r) twice, so retransmissions of it were spurious.
fn dsack(s: &mut Stream, l: u64, r: u64) -> u64 {
    let mut n = 0;
    for e in s.retrans_log.iter_mut() {
        if !e.spurious && e.start < r && l < e.end {
            e.spurious = true;
            s.retrans.spurious += 1;
            n += 1;
        }
    }
    n
}

/// Classifies a segment with payload [start, end) of stream `me`.
fn classify(
    me: &mut Stream,
    start: u64,
    end: u64,
    p: Seen<'_>,
    rtt_ns: Option<i64>,
    history: &mut History,
) -> Option<(Mechanism, bool)> {
    let ts = p.ts_ns;
    let ctx = Ctx {
        ts,
        dir: p.dir,
        rtt_ns,
    };
    let already = me.already_sent(start, end);
    let next = me.next.unwrap_or(start);
    let class = if already > 0 {
        let spurious = me.acked.is_some_and(|a| end <= a);
        Some((
            retransmission(me, start, end, spurious, ctx, history),
            spurious,
        ))
    } else if start < next && me.next.is_some() {
        // New bytes below the highest seen fill a hole: network reordering,
        // or a retransmission of a segment lost before the capture point.
        let hole = me
            .holes
            .iter()
            .copied()
            .find(|h| h.start <= start && start < h.end);
        let reordered = match hole {
            Some(h) => {
                let tsval = p.tcp.timestamps.map(|(v, _)| v);
                match (tsval, h.tsval) {
                    // Sent after the data beyond the hole: a retransmission.
                    (Some(v), Some(hv)) if v.wrapping_sub(hv) as i32 > 0 => false,
                    // Sent before it: the network reordered it.
                    (Some(v), Some(hv)) if (v.wrapping_sub(hv) as i32) < 0 => true,
                    // Same tick or no timestamps. A sender that numbers its
                    // packets in order (Linux: per-socket IPv4 ids) says
                    // which was sent first, at any RTT.
                    _ if me.ip_ids_sequential() && p.ip_id != 0 && h.ip_id != 0 => {
                        (p.ip_id.wrapping_sub(h.ip_id) as i16) < 0
                    }
                    // Otherwise time: a retransmission needs at least about an
                    // RTT (loss report + resend); reordering is faster.
                    _ => {
                        let window = rtt_ns.map_or(DEFAULT_REORDER_NS, |r| r / 2);
                        ts - h.seen_ns < window
                    }
                }
            }
            // The hole formed before the capture began or while it missed
            // packets: nothing says reordering, and loss is far more common.
            None => false,
        };
        let class = if reordered {
            me.out_of_order += 1;
            None
        } else {
            Some((retransmission(me, start, end, false, ctx, history), false))
        };
        fill_hole(me, start, end);
        class
    } else if me.next.is_some_and(|n| start > n) {
        // Data beyond the highest seen: a hole the capture has not seen (yet).
        if me.holes.len() < MAX_HOLES {
            me.holes.push(Hole {
                start: next,
                end: start,
                seen_ns: ts,
                // The TSval of the segment that revealed the hole.
                tsval: p.tcp.timestamps.map(|(v, _)| v),
                ip_id: p.ip_id,
            });
        }
        None
    } else {
        None
    };
    if end > next || me.next.is_none() {
        me.unacked.push_back(Seg {
            // The ACK of a segment carrying the FIN covers the FIN too.
            end: end + u64::from(p.tcp.flags.fin()),
            ts,
            ambiguous: false,
        });
        if me.unacked.len() > MAX_UNACKED {
            me.unacked.pop_front();
        }
    }
    me.seen.insert(start, end);
    class
}

fn fill_hole(me: &mut Stream, start: u64, end: u64) {
    let mut rest = Vec::new();
    for h in me.holes.drain(..) {
        if end <= h.start || start >= h.end {
            rest.push(h);
            continue;
        }
        if h.start < start {
            rest.push(Hole { end: start, ..h });
        }
        if end < h.end {
            rest.push(Hole { start: end, ..h });
        }
    }
    me.holes = rest;
}

/// When and from where a segment was seen, and the flow's RTT estimate.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    ts: i64,
    dir: usize,
    rtt_ns: Option<i64>,
}

fn retransmission(
    me: &mut Stream,
    start: u64,
    end: u64,
    spurious: bool,
    ctx: Ctx,
    history: &mut History,
) -> Mechanism {
    let (ts, d) = (ctx.ts, ctx.dir);
    let mech = mechanism(me, start, end, ts, ctx.rtt_ns);
    let r = &mut me.retrans;
    r.segments += 1;
    r.bytes += end - start;
    match mech {
        Mechanism::Rto => r.rto += 1,
        Mechanism::Fast => r.fast += 1,
        Mechanism::Tlp => r.tlp += 1,
    }
    if spurious {
        r.spurious += 1;
    }
    me.retrans_log.push_back(RetransLog {
        start,
        end,
        spurious,
    });
    if me.retrans_log.len() > MAX_RETRANS_LOG {
        me.retrans_log.pop_front();
    }
    // Karn: ACKs arriving now may answer either transmission.
    for s in me.unacked.iter_mut() {
        s.ambiguous = true;
    }
    history.repeating(d, Repeating::Retransmission);
    mech
}

/// Why the sender retransmitted [start, end) at `ts`.
fn mechanism(me: &mut Stream, start: u64, end: u64, ts: i64, rtt_ns: Option<i64>) -> Mechanism {
    let first_tx = me.first_tx_ns(start);
    let last_progress = me.last_ack_progress_ns;
    // Time the sender waited without news: since the later of the data's
    // first transmission and the last ACK that advanced.
    let quiet = [first_tx, last_progress]
        .into_iter()
        .flatten()
        .max()
        .map(|t0| ts - t0);
    let timed_out = quiet.is_some_and(|q| q >= RTO_FLOOR_NS);
    if let Some((mech, point)) = me.recovery {
        if me.acked.is_some_and(|a| a < point) && !timed_out {
            return mech;
        }
    }
    let next = me.next.unwrap_or(end);
    let dupacks = me.dup_acks_rcvd >= 1 && me.acked == Some(start);
    let sacked_above = me.sack_high.is_some_and(|h| h > end);
    // Linux sends at most one probe per ACK advance, after 2 RTT (plus
    // 200 ms with one segment in flight), and never later than the RTO.
    let probe_deadline = 2 * rtt_ns.unwrap_or(0) + TLP_MAX_EXTRA_NS;
    let probe = end >= next && !me.tlp_since_progress && quiet.is_none_or(|q| q <= probe_deadline);
    // Loss evidence makes a fast retransmission only when the resend follows
    // the ACKs that reported it; long after the last ACK it is the timer's.
    let since_ack = me.last_ack_any_ns.map(|t0| ts - t0);
    let ack_clocked = since_ack.is_none_or(|q| q < RTO_FLOOR_NS.max(3 * rtt_ns.unwrap_or(0) / 2));
    let mech = if (dupacks || sacked_above) && ack_clocked {
        Mechanism::Fast
    } else if probe {
        Mechanism::Tlp
    } else if timed_out {
        Mechanism::Rto
    } else {
        // Recovery clocked by ACKs without visible duplicates (RACK).
        Mechanism::Fast
    };
    match mech {
        Mechanism::Tlp => me.tlp_since_progress = true,
        _ => me.recovery = Some((mech, next)),
    }
    mech
}
