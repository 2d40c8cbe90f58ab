//! In-order delivery of one direction's bytes, with a small bounded hold for
//! segments that arrive ahead of a hole.
//!
//! The parsers only ever see bytes in sequence order. A segment that starts
//! beyond the next expected byte is held until the hole fills, and a hole
//! that the capture will never fill (the receiver acknowledged past it, the
//! hold is full, or the flow ended) is handed to the parser as a gap of that
//! many unknown bytes. Retransmitted bytes already delivered are dropped.

use crate::Limits;

/// Where the bytes of one direction go, in order.
pub(crate) trait Sink {
    /// `bytes` follow the last byte delivered; `uncaptured` more bytes were on
    /// the wire right after them but are not in the capture (snap length).
    fn data(&mut self, ts_ns: i64, bytes: &[u8], uncaptured: u32);
    /// `len` bytes follow that are missing from the capture.
    fn gap(&mut self, len: u32);
    /// How many bytes from here the parser would skip unseen anyway (the
    /// rest of a body of known length): a hole inside them costs nothing.
    fn skippable(&self) -> u64;
    /// Whether holes are worth waiting for; when not, a hole is given up on
    /// as soon as it is seen.
    fn needs_order(&self) -> bool;
}

/// A segment waiting for the hole before it to fill.
#[derive(Debug)]
struct Held {
    seq: u32,
    ts_ns: i64,
    wire_len: u32,
    bytes: Vec<u8>,
}

/// Sequence tracking for one direction.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    /// Sequence number of the next byte the parser expects.
    next: Option<u32>,
    /// Whether the stream's first byte is known (a SYN was seen), so the
    /// parser starts at the beginning of the conversation.
    pub(crate) from_start: bool,
    /// Segments ahead of `next`, sorted by sequence number.
    held: Vec<Held>,
    held_bytes: usize,
}

/// Signed distance from `from` to `to` in sequence space (RFC 793 modular
/// comparison; a window is far below 2^31).
fn seq_diff(to: u32, from: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

impl Reassembly {
    /// Heap bytes held (capacities) for the memory bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.held.capacity() * std::mem::size_of::<Held>()
            + self.held.iter().map(|h| h.bytes.capacity()).sum::<usize>()
    }

    /// Marks the stream's start: the first data byte is `syn_seq + 1`.
    pub(crate) fn syn(&mut self, syn_seq: u32) {
        if self.next.is_none() {
            self.next = Some(syn_seq.wrapping_add(1));
            self.from_start = true;
        }
    }

    /// One segment's payload: `captured` is a prefix of the `wire_len` bytes
    /// that start at `seq`.
    pub(crate) fn segment(
        &mut self,
        ts_ns: i64,
        seq: u32,
        wire_len: u32,
        captured: &[u8],
        limits: &Limits,
        sink: &mut dyn Sink,
    ) {
        if wire_len == 0 {
            return;
        }
        let captured = &captured[..captured.len().min(wire_len as usize)];
        let next = match self.next {
            Some(n) => n,
            None => {
                // Joined mid-stream: the first segment seen is the start.
                self.next = Some(seq);
                seq
            }
        };
        let ahead = seq_diff(seq, next);
        if ahead <= 0 {
            self.deliver(ts_ns, seq, wire_len, captured, sink);
            self.drain(sink);
            return;
        }
        // A hole of `ahead` bytes before this segment. Inside a body of known
        // length nothing in the hole or the segment needs to be seen.
        let span = ahead.saturating_add(i64::from(wire_len));
        if u64::try_from(span).is_ok_and(|s| s <= sink.skippable()) && self.held.is_empty() {
            sink.gap(u32::try_from(span).unwrap_or(u32::MAX));
            self.next = Some(seq.wrapping_add(wire_len));
            return;
        }
        if self.held.is_empty() && !sink.needs_order() {
            sink.gap(u32::try_from(ahead).unwrap_or(u32::MAX));
            self.next = Some(seq);
            self.deliver(ts_ns, seq, wire_len, captured, sink);
            return;
        }
        if self.held.len() >= limits.max_held_segments
            || self.held_bytes.saturating_add(captured.len()) > limits.max_held_bytes
        {
            // No room to wait longer: the holes so far are given up on.
            if self.held.is_empty() {
                sink.gap(u32::try_from(ahead).unwrap_or(u32::MAX));
                self.next = Some(seq);
                self.deliver(ts_ns, seq, wire_len, captured, sink);
            } else {
                // Empties the hold, so this recursion goes one level deep.
                self.flush(None, sink);
                self.segment(ts_ns, seq, wire_len, captured, limits, sink);
            }
            return;
        }
        self.hold(ts_ns, seq, wire_len, captured, next);
    }

    /// The peer acknowledged everything before `ack`: a hole below it was
    /// received by the endpoint but not by the capture, so it never fills.
    pub(crate) fn acked(&mut self, ack: u32, sink: &mut dyn Sink) {
        if self.held.first().is_some_and(|h| seq_diff(ack, h.seq) > 0) {
            self.flush(Some(ack), sink);
        }
    }

    /// The flow ended: whatever is held is delivered past its holes.
    pub(crate) fn finish(&mut self, sink: &mut dyn Sink) {
        self.flush(None, sink);
    }

    fn hold(&mut self, ts_ns: i64, seq: u32, wire_len: u32, captured: &[u8], next: u32) {
        let key = seq_diff(seq, next);
        let at = self.held.partition_point(|h| seq_diff(h.seq, next) < key);
        if self
            .held
            .get(at)
            .is_some_and(|h| h.seq == seq && h.wire_len >= wire_len)
        {
            return; // the same segment again
        }
        self.held_bytes = self.held_bytes.saturating_add(captured.len());
        self.held.insert(
            at,
            Held {
                seq,
                ts_ns,
                wire_len,
                bytes: captured.to_vec(),
            },
        );
    }

    /// Gives up on the holes before held segments (all, or those the peer
    /// acknowledged past `upto`), delivering what follows each.
    fn flush(&mut self, upto: Option<u32>, sink: &mut dyn Sink) {
        while let Some(first) = self.held.first() {
            if upto.is_some_and(|ack| seq_diff(ack, first.seq) <= 0) {
                break;
            }
            let Some(next) = self.next else { break };
            let hole = seq_diff(first.seq, next);
            if hole > 0 {
                sink.gap(u32::try_from(hole).unwrap_or(u32::MAX));
                self.next = Some(first.seq);
            }
            self.drain(sink);
        }
    }

    /// Delivers held segments that are now in order.
    fn drain(&mut self, sink: &mut dyn Sink) {
        while let Some(first) = self.held.first() {
            let Some(next) = self.next else { return };
            if seq_diff(first.seq, next) > 0 {
                return;
            }
            let h = self.held.remove(0);
            self.held_bytes = self.held_bytes.saturating_sub(h.bytes.len());
            self.deliver(h.ts_ns, h.seq, h.wire_len, &h.bytes, sink);
        }
        if self.held.is_empty() && self.held.capacity() > 0 {
            // Holes are rare: the memory goes back rather than staying per flow.
            self.held = Vec::new();
        }
    }

    /// Delivers the part of a segment at or after `next` (a retransmission
    /// may overlap bytes already delivered).
    fn deliver(
        &mut self,
        ts_ns: i64,
        seq: u32,
        wire_len: u32,
        captured: &[u8],
        sink: &mut dyn Sink,
    ) {
        let Some(next) = self.next else { return };
        let behind = -seq_diff(seq, next);
        let Ok(skip) = u32::try_from(behind.max(0)) else {
            return;
        };
        if skip >= wire_len {
            return; // all of it was delivered before
        }
        let fresh = wire_len - skip;
        let bytes = captured.get(skip as usize..).unwrap_or(&[]);
        let uncaptured = fresh.saturating_sub(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.next = Some(next.wrapping_add(fresh));
        sink.data(ts_ns, bytes, uncaptured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches the parser, as text with `[gap n]` and `[cut n]`.
    #[derive(Default)]
    struct Log {
        out: String,
        skippable: u64,
    }

    impl Sink for Log {
        fn data(&mut self, _ts: i64, bytes: &[u8], uncaptured: u32) {
            self.out.push_str(&String::from_utf8_lossy(bytes));
            if uncaptured > 0 {
                self.out.push_str(&format!("[cut {uncaptured}]"));
            }
            self.skippable = self
                .skippable
                .saturating_sub(bytes.len() as u64 + u64::from(uncaptured));
        }
        fn gap(&mut self, len: u32) {
            self.out.push_str(&format!("[gap {len}]"));
            self.skippable = self.skippable.saturating_sub(u64::from(len));
        }
        fn skippable(&self) -> u64 {
            self.skippable
        }
        fn needs_order(&self) -> bool {
            true
        }
    }

    fn seg(r: &mut Reassembly, log: &mut Log, seq: u32, data: &str) {
        let l = Limits::default();
        r.segment(0, seq, data.len() as u32, data.as_bytes(), &l, log);
    }

    #[test]
    fn in_order_retransmitted_and_overlapping() {
        let mut r = Reassembly::default();
        let mut log = Log::default();
        r.syn(99);
        seg(&mut r, &mut log, 100, "abc");
        seg(&mut r, &mut log, 100, "abc");
        seg(&mut r, &mut log, 101, "bcdef");
        seg(&mut r, &mut log, 106, "g");
        assert_eq!(log.out, "abcdefg");
    }

    #[test]
    fn out_of_order_is_put_back_in_order() {
        let mut r = Reassembly::default();
        let mut log = Log::default();
        r.syn(0);
        seg(&mut r, &mut log, 7, "hij");
        seg(&mut r, &mut log, 4, "def");
        assert_eq!(log.out, "");
        seg(&mut r, &mut log, 1, "abc");
        assert_eq!(log.out, "abcdefhij");
    }

    #[test]
    fn acknowledged_hole_becomes_a_gap() {
        let mut r = Reassembly::default();
        let mut log = Log::default();
        r.syn(0);
        seg(&mut r, &mut log, 1, "abc");
        seg(&mut r, &mut log, 8, "hij");
        r.acked(5, &mut log); // below the held segment: may still come
        assert_eq!(log.out, "abc");
        r.acked(11, &mut log);
        assert_eq!(log.out, "abc[gap 4]hij");
        // The missing bytes arriving late are old news.
        seg(&mut r, &mut log, 4, "defg");
        assert_eq!(log.out, "abc[gap 4]hij");
        assert_eq!(r.heap_bytes(), 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembly::default();
        let mut log = Log::default();
        r.syn(u32::MAX - 2);
        seg(&mut r, &mut log, u32::MAX - 1, "ab");
        seg(&mut r, &mut log, 2, "ef");
        seg(&mut r, &mut log, 0, "cd");
        assert_eq!(log.out, "abcdef");
    }

    #[test]
    fn full_hold_gives_up_the_hole() {
        let limits = Limits {
            max_held_segments: 2,
            ..Limits::default()
        };
        let mut r = Reassembly::default();
        let mut log = Log::default();
        r.syn(0);
        for (seq, d) in [(11, "x"), (12, "y"), (13, "z")] {
            r.segment(0, seq, 1, d.as_bytes(), &limits, &mut log);
        }
        assert_eq!(log.out, "[gap 10]xyz");
    }

    #[test]
    fn snap_length_cut_is_reported() {
        let mut r = Reassembly::default();
        let mut log = Log::default();
        let l = Limits::default();
        r.syn(0);
        r.segment(0, 1, 10, b"abcd", &l, &mut log);
        // A retransmission overlapping only the uncaptured part.
        r.segment(0, 6, 8, b"fghijklm", &l, &mut log);
        assert_eq!(log.out, "abcd[cut 6]klm");
    }

    #[test]
    fn hole_inside_a_known_length_body_is_skipped_without_holding() {
        let mut r = Reassembly::default();
        let mut log = Log {
            skippable: 100,
            ..Log::default()
        };
        r.syn(0);
        seg(&mut r, &mut log, 1, "abc");
        seg(&mut r, &mut log, 20, "xyz");
        assert_eq!(log.out, "abc[gap 19]");
        assert_eq!(r.heap_bytes(), 0);
    }
}
