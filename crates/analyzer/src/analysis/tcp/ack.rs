//! What an ACK tells about the other direction's stream: RTT samples (data,
//! under Karn's rule, and timestamp echo), duplicate ACKs, SACK and D-SACK
//! blocks, the advertised window and zero windows, and the data the capture
//! missed that the ACK reveals.

use super::history::Repeating;
use super::retransmission::dsack;
use super::stream::Stream;
use super::{ms, pair, Seen, TcpAnalyzer};
use crate::decode::TcpSummary;

/// Data of the other direction that an ACK revealed the capture missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureLoss {
    /// Estimated segments missed.
    pub segments: u64,
    pub bytes: u64,
    /// Raw sequence number where the first missing range starts.
    pub seq: u32,
}

/// The largest gap that can be data missed by the capture: four of the
/// receiver's largest windows (ACKs the capture missed too let the range
/// span several), and at least 1 MiB (a window not seen yet).
fn plausible_gap(peer_window: u64) -> u64 {
    peer_window.saturating_mul(4).max(1 << 20)
}

impl Stream {
    /// Counts bytes acknowledged but never seen below both the ACK and the
    /// highest byte seen (so an ACK captured before its data is not loss),
    /// then forgets the ranges below. Returns the segments counted.
    ///
    /// `peer_window` is the largest window the receiving side advertised: a
    /// gap far beyond it cannot be data the sender had in flight (RFC 9293
    /// limits it to the window), so it is counted as out of window, not as
    /// capture loss.
    fn account_capture_loss(&mut self, peer_window: u64) -> CaptureLoss {
        let (Some(acked), Some(next)) = (self.acked, self.next) else {
            return CaptureLoss::default();
        };
        let top = acked.min(next);
        let floor = self.confirmed.or(self.isn).or(self.first).unwrap_or(top);
        let mut loss = CaptureLoss::default();
        if top > floor {
            let mss = self.mss_estimate();
            let bound = plausible_gap(peer_window);
            for (a, b) in self.seen.gaps(floor, top) {
                if b - a > bound {
                    self.out_of_window += 1;
                    continue;
                }
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

    /// At the end: acknowledged data beyond anything seen was missed by the capture.
    pub(super) fn finish_capture_loss(&mut self, peer_window: u64) {
        self.account_capture_loss(peer_window);
        if let (Some(acked), Some(next)) = (self.acked, self.next) {
            let b = acked.saturating_sub(next);
            if b > plausible_gap(peer_window) {
                self.out_of_window += 1;
            } else if b > 0 {
                self.capture_lost_bytes += b;
                self.capture_lost_segments += b.div_ceil(self.mss_estimate());
            }
        }
    }
}

impl TcpAnalyzer {
    /// The ACK (and SACK, timestamp echo) in a packet from `d` acknowledges the other stream.
    pub(super) fn ack(&mut self, p: Seen<'_>) {
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
            lost = s.account_capture_loss(acker.max_window);
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
        // The receiver telling the sender where a hole starts.
        for h in s.holes.iter_mut() {
            if h.dup_ns.is_none() && h.start == ack && p.ts_ns >= h.seen_ns {
                h.dup_ns = Some(p.ts_ns);
            }
        }
        acker.last_ack_sent = Some(t.ack);
        acker.last_win_sent = Some(t.window);
        if lost.segments > 0 {
            self.history
                .repeating_n(1 - d, Repeating::Gap, lost.segments);
        }
        self.last_rtt_ms = rtt_sample;
        self.last_loss = lost;
        self.last_dsack = dsacked;
    }

    pub(super) fn window(&mut self, d: usize, t: &TcpSummary) {
        let f = t.flags;
        let (me, peer) = pair(&mut self.streams, d);
        if f.syn() {
            me.wscale = t.window_scale;
            me.syn_mss = t.mss;
            me.sack_permitted = t.sack_permitted;
            me.timestamps = t.timestamps.is_some();
            me.window = Some(u64::from(t.window));
            me.max_window = me.max_window.max(u64::from(t.window));
            return;
        }
        // Scaling applies only when both SYNs offered it.
        let shift = match (me.wscale, peer.wscale) {
            (Some(s), Some(_)) => s.min(14),
            _ => 0,
        };
        me.window = Some(u64::from(t.window) << shift);
        me.max_window = me.max_window.max(u64::from(t.window) << shift);
        if t.window == 0 && !f.fin() && !f.rst() {
            me.zero_windows += 1;
            self.history.repeating(d, Repeating::ZeroWindow);
        }
    }
}
