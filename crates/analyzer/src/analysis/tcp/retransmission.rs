//! Where a retransmission is decided: whether a segment carries bytes
//! already sent (retransmission), fills a hole out of order, or is new; by
//! which mechanism the sender resent it (RTO, fast retransmit, tail loss
//! probe); and which retransmissions were spurious (already acknowledged,
//! or reported twice by a D-SACK).

use super::history::{History, Repeating};
use super::stream::{fill_hole, Hole, Seg, Stream, MAX_HOLES};
use super::Seen;

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

#[derive(Debug, Clone, Copy)]
pub(super) struct RetransLog {
    start: u64,
    end: u64,
    spurious: bool,
}

/// A D-SACK: the receiver got [l, r) twice, so retransmissions of it were spurious.
pub(super) fn dsack(s: &mut Stream, l: u64, r: u64) -> u64 {
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
/// What the flow's timing says, for telling a resend from reordering.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// The flow's round trip (handshake or data).
    pub(super) rtt_ns: Option<i64>,
    /// From the capture point to the segment's sender and back, from the
    /// handshake: how soon after the receiver's word passes here a resend
    /// can pass here.
    pub(super) leg_ns: Option<i64>,
}

pub(super) fn classify(
    me: &mut Stream,
    start: u64,
    end: u64,
    p: Seen<'_>,
    timing: Timing,
    history: &mut History,
) -> Option<(Mechanism, bool)> {
    let Timing { rtt_ns, leg_ns } = timing;
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
                    // Otherwise time. A sender resends a hole it learnt of
                    // from the receiver (duplicate ACKs, SACK) or after a
                    // timeout that follows them: the resend passes here at
                    // least one round trip from here to the sender after
                    // the receiver's first word at the hole passed here. A
                    // fill sooner than that was sent before it: reordered
                    // on its way here (a forwarding host's per-CPU queues,
                    // at any RTT).
                    _ => match (leg_ns, h.dup_ns) {
                        (Some(leg), Some(dup)) => ts - dup < leg,
                        // No word yet, or no handshake: a retransmission
                        // needs at least about an RTT (loss report + resend).
                        _ => {
                            let window = rtt_ns.map_or(DEFAULT_REORDER_NS, |r| r / 2);
                            ts - h.seen_ns < window
                        }
                    },
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
                dup_ns: None,
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
