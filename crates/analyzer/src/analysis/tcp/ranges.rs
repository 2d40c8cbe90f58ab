//! A set of byte ranges [start, end) in 64-bit sequence space, coalesced.

use std::collections::BTreeMap;

/// Most disjoint ranges kept; beyond this the lowest are forgotten, which
/// bounds memory for one-sided captures where no ACK ever prunes the set.
const MAX_RANGES: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct RangeSet {
    /// start -> end, disjoint and non-adjacent.
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Bytes of [start, end) already in the set.
    pub fn overlap(&self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let mut total = 0;
        // The range starting at or before `start` may reach into it.
        if let Some((_, &e)) = self.map.range(..=start).next_back() {
            if e > start {
                total += e.min(end) - start;
            }
        }
        for (&s, &e) in self.map.range(start + 1..end) {
            total += e.min(end) - s;
        }
        total
    }

    /// Adds [start, end); returns how many bytes were new.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let new = (end - start) - self.overlap(start, end);
        let mut s = start;
        let mut e = end;
        if let Some((&ps, &pe)) = self.map.range(..=start).next_back() {
            if pe >= start {
                s = ps;
                e = e.max(pe);
            }
        }
        let absorbed: Vec<u64> = self.map.range(s..=e).map(|(&k, _)| k).collect();
        for k in absorbed {
            if let Some(v) = self.map.remove(&k) {
                e = e.max(v);
            }
        }
        self.map.insert(s, e);
        while self.map.len() > MAX_RANGES {
            self.map.pop_first();
        }
        new
    }

    /// Forgets everything below `point`.
    pub fn prune_below(&mut self, point: u64) {
        while let Some((&s, &e)) = self.map.first_key_value() {
            if e <= point {
                self.map.remove(&s);
            } else {
                if s < point {
                    self.map.remove(&s);
                    self.map.insert(point, e);
                }
                break;
            }
        }
    }

    /// The gaps inside [start, end) not covered by the set.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut pos = start;
        if let Some((_, &e)) = self.map.range(..=start).next_back() {
            pos = pos.max(e);
        }
        for (&s, &e) in self.map.range(start..end) {
            if s > pos {
                out.push((pos, s.min(end)));
            }
            pos = pos.max(e);
        }
        if pos < end {
            out.push((pos, end));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_overlap_gaps() {
        let mut r = RangeSet::default();
        assert_eq!(r.insert(10, 20), 10);
        assert_eq!(r.insert(30, 40), 10);
        assert_eq!(r.overlap(15, 35), 10);
        assert_eq!(r.gaps(10, 40), vec![(20, 30)]);
        assert_eq!(r.insert(15, 35), 10);
        assert_eq!(r.gaps(10, 40), vec![]);
        assert_eq!(r.overlap(0, 100), 30);
        r.prune_below(25);
        assert_eq!(r.overlap(0, 100), 15);
        assert_eq!(r.gaps(0, 50), vec![(0, 25), (40, 50)]);
    }

    #[test]
    fn adjacent_ranges_coalesce() {
        let mut r = RangeSet::default();
        r.insert(0, 10);
        r.insert(10, 20);
        r.insert(20, 30);
        assert_eq!(r.map.len(), 1);
        assert_eq!(r.insert(5, 25), 0);
    }
}
