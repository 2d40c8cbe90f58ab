//! One direction's sequence space: the stream of data one side sends and
//! what that side advertises, the byte ranges seen, the holes the capture
//! has not (yet) seen, the segments in flight, and the same packet
//! captured twice.

use std::collections::VecDeque;

use super::ranges::RangeSet;
use super::retransmission::{classify, Mechanism, RetransLog, Timing};
use super::seq::SeqSpace;
use super::{pair, RetransCounts, Seen, TcpAnalyzer, TcpOptions};
use crate::analysis::stats::Samples;

/// TSval transmissions remembered for timestamp RTT samples.
const MAX_TSVALS: usize = 4096;

/// Capture gaps tracked per direction awaiting their fill or ACK.
pub(super) const MAX_HOLES: usize = 1024;

/// Copies without an IP id (IPv6) must be this close in time to count as
/// one packet: the same frame seen on two interfaces of one host.
const DUPLICATE_WINDOW_NS: i64 = 20_000;

/// Copies with the same IPv4 id: the sender never reuses an id that soon.
const DUPLICATE_IP_ID_WINDOW_NS: i64 = 1_000_000_000;

/// Recent packets remembered per direction for duplicate detection.
const RECENT: usize = 8;

#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    pub(super) end: u64,
    pub(super) ts: i64,
    /// Retransmitted, or sent before a later retransmission: no RTT sample (Karn).
    pub(super) ambiguous: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Hole {
    pub(super) start: u64,
    pub(super) end: u64,
    /// When the capture first saw data beyond the hole.
    pub(super) seen_ns: i64,
    /// TSval of the segment that revealed the hole.
    pub(super) tsval: Option<u32>,
    /// IPv4 id of that segment (0: none).
    pub(super) ip_id: u16,
    /// When an ACK from the receiver at the hole's start (the receiver
    /// telling the sender what is missing) first passed the capture point.
    pub(super) dup_ns: Option<i64>,
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

/// The stream of data one side sends, and what that side advertises.
#[derive(Debug, Default)]
pub(super) struct Stream {
    pub(super) seq: SeqSpace,
    /// First sequence number observed (SYN or first segment).
    pub(super) first: Option<u64>,
    pub(super) isn: Option<u64>,
    pub(super) data_start: Option<u64>,
    data_end: Option<u64>,
    /// Highest sequence number + length seen (SYN and FIN count one).
    pub(super) next: Option<u64>,
    /// Highest cumulative ACK received for this stream.
    pub(super) acked: Option<u64>,
    /// Everything below this was either seen or counted as capture loss.
    pub(super) confirmed: Option<u64>,
    /// A tail loss probe was sent since the ACK last advanced.
    pub(super) tlp_since_progress: bool,
    /// Sequence number of this side's FIN.
    fin_seq: Option<u64>,
    /// Recent packets, to recognize the same packet captured twice.
    recent: VecDeque<Fingerprint>,
    /// IPv4 ids of this side's packets: the last one, and how many steps
    /// between consecutive packets were small increments (or not).
    last_ip_id: Option<u16>,
    ip_id_steps: (u32, u32),
    pub(super) duplicates: u64,
    pub(super) seen: RangeSet,
    pub(super) holes: Vec<Hole>,
    pub(super) unacked: VecDeque<Seg>,
    pub(super) retrans_log: VecDeque<RetransLog>,
    pub(super) recovery: Option<(Mechanism, u64)>,
    /// Duplicate ACKs received for `acked`.
    pub(super) dup_acks_rcvd: u32,
    /// Highest SACKed byte above the cumulative ACK.
    pub(super) sack_high: Option<u64>,
    pub(super) last_ack_progress_ns: Option<i64>,
    /// Last ACK of any kind (duplicate or SACK included) for this stream.
    pub(super) last_ack_any_ns: Option<i64>,
    pub(super) last_tx_ns: Option<i64>,
    pub(super) tsvals: VecDeque<(u32, i64)>,
    max_tsval: Option<u32>,
    pub(super) last_tsecr_sampled: Option<u32>,
    // What this side advertises, for the other side's stream.
    pub(super) wscale: Option<u8>,
    pub(super) window: Option<u64>,
    /// The largest window this side advertised (scaled).
    pub(super) max_window: u64,
    pub(super) last_ack_sent: Option<u32>,
    pub(super) last_win_sent: Option<u16>,
    pub(super) syn_mss: Option<u16>,
    pub(super) sack_permitted: bool,
    pub(super) timestamps: bool,
    max_payload: u32,
    // Counters.
    pub(super) retrans: RetransCounts,
    pub(super) data_segments: u64,
    pub(super) out_of_order: u64,
    pub(super) capture_lost_segments: u64,
    pub(super) capture_lost_bytes: u64,
    /// Acknowledgments of this stream too far beyond anything seen to be
    /// data the capture missed (a challenge ACK, another connection's numbers).
    pub(super) out_of_window: u64,
    pub(super) dup_acks: u64,
    pub(super) zero_windows: u64,
    pub(super) zero_window_probes: u64,
    pub(super) window_full: u64,
    pub(super) keep_alives: u64,
    pub(super) resets: u64,
    pub(super) syns: u64,
    pub(super) rtt: Samples,
    pub(super) ts_rtt: Samples,
}

impl Stream {
    /// Bytes of [start, end) already sent: acknowledged or seen on the wire.
    pub(super) fn already_sent(&self, start: u64, end: u64) -> u64 {
        let floor = self.confirmed.unwrap_or(0);
        let below = if start < floor {
            end.min(floor) - start
        } else {
            0
        };
        below + self.seen.overlap(start.max(floor), end)
    }

    pub(super) fn mss_estimate(&self) -> u64 {
        u64::from(self.max_payload.max(u32::from(self.syn_mss.unwrap_or(0)))).max(1)
    }

    /// The sender numbers its packets in order: nearly every step between
    /// consecutive IPv4 ids is a small increment (not random ids).
    pub(super) fn ip_ids_sequential(&self) -> bool {
        let (inc, other) = self.ip_id_steps;
        inc >= 8 && inc >= 9 * other
    }

    pub(super) fn first_tx_ns(&self, start: u64) -> Option<i64> {
        // The oldest in-flight segment ending after `start` holds its first byte.
        self.unacked.iter().find(|s| s.end > start).map(|s| s.ts)
    }
}

impl TcpAnalyzer {
    /// The same packet seen again (identical headers and IP id, or within
    /// microseconds without one): counted, and left out of the analysis.
    pub(super) fn duplicate(&mut self, p: &Seen<'_>) -> bool {
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

    pub(super) fn data(&mut self, p: Seen<'_>) {
        let t = p.tcp;
        let d = p.dir;
        let f = t.flags;
        let rtt_ns = self.rtt_estimate_ns();
        let leg_ns = self.sender_leg_ns(d);
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
                let timing = Timing { rtt_ns, leg_ns };
                self.last_retrans = classify(me, start, end, p, timing, &mut self.history);
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
                    dup_ns: None,
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
}

pub(super) fn fill_hole(me: &mut Stream, start: u64, end: u64) {
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

/// Payload sequence space the application sent: from after the SYN (or the
/// first data seen) to the FIN (or the furthest data seen or acknowledged),
/// so bytes the capture missed are included.
pub(super) fn unique_bytes(s: &Stream) -> u64 {
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

pub(super) fn options(s: &Stream) -> TcpOptions {
    TcpOptions {
        mss: s.syn_mss,
        window_scale: s.wscale,
        sack_permitted: s.sack_permitted,
        timestamps: s.timestamps,
    }
}
