//! Capture points: one flow seen at several places (`tcpdump -i any` on a
//! node sees a forwarded packet on the pod's veth and on eth0; captures come
//! from both ends of a path). The [`Matcher`] of a flow groups the sightings
//! of one transmission across points, by content and never by time alone:
//!
//! - TCP data by the bytes of sequence space it carries *and* the identity of
//!   the transmission (the IPv4 id, which segmentation offload numbers
//!   consecutively and receive offload keeps from the first segment; the TCP
//!   timestamp for IPv6), so one 64 KB super-packet at one point and its 45
//!   segments at another are one transmission, while a retransmission of the
//!   same bytes is another;
//! - every other packet by a fingerprint of its content (IP id, TCP
//!   sequence, acknowledgment, flags, window, timestamps, length, the first
//!   payload bytes), which address translation does not change.
//!
//! A group is decided once no point has added to it for the matching window.
//! Its points tell where the transmission was seen and where it was not:
//! loss between two consecutive points of a direction is what the upstream
//! point saw and the downstream one, live at the time, never did. The times
//! of its first sighting at each point give one-way delays and, across
//! files, the clock offset between them (as NTP does: the minimum delay in
//! each direction, assumed equal).

use std::collections::{BTreeMap, VecDeque};

use foldhash::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::analysis::stats::Samples;

/// Points a flow can be matched across (a bit each in a `u64`).
pub const MAX_POINTS: usize = 64;

/// The shortest matching window: queueing can delay a packet between two
/// points by hundreds of milliseconds even where they are microseconds apart.
pub const MIN_WINDOW_NS: i64 = 500_000_000;

/// Index of a capture point in the run (`capture.points[].id`).
pub type PointId = u16;

/// When each point captured: its first and last packet of any flow so
/// far, shared by every flow table of the run. A point that was not
/// capturing when a packet passed cannot have lost it.
#[derive(Debug, Clone)]
pub struct PointSpans(Arc<Vec<(AtomicI64, AtomicI64)>>);

impl Default for PointSpans {
    fn default() -> Self {
        PointSpans(Arc::new(
            (0..MAX_POINTS)
                .map(|_| (AtomicI64::new(i64::MAX), AtomicI64::new(i64::MIN)))
                .collect(),
        ))
    }
}

impl PointSpans {
    /// Notes a packet of point `p` at `ts`.
    pub fn note(&self, p: PointId, ts: i64) {
        if let Some((first, last)) = self.0.get(usize::from(p)) {
            first.fetch_min(ts, Ordering::Relaxed);
            last.fetch_max(ts, Ordering::Relaxed);
        }
    }

    /// Whether `p` was capturing at `ts` (as far as is known now).
    pub fn live(&self, p: PointId, ts: i64) -> bool {
        self.0.get(usize::from(p)).is_some_and(|(first, last)| {
            first.load(Ordering::Relaxed) <= ts && last.load(Ordering::Relaxed) >= ts
        })
    }
}

/// How a transmission is told apart from a retransmission of the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    /// First value (IPv4 id, or TSval).
    pub start: u32,
    /// Values the sighting spans: the segments a super-packet stands for.
    pub width: u32,
    /// The value's range: 65536 for IPv4 ids, 2^32 for TCP timestamps.
    pub modulus: u64,
}

impl Ident {
    fn contains(&self, v: u32) -> bool {
        let d = (u64::from(v) + self.modulus - u64::from(self.start) % self.modulus) % self.modulus;
        d < u64::from(self.width.max(1))
    }

    fn overlaps(&self, o: &Ident) -> bool {
        self.modulus == o.modulus && (self.contains(o.start) || o.contains(self.start))
    }

    /// The smallest interval holding both (they overlap).
    fn hull(&self, o: &Ident) -> Ident {
        let m = self.modulus;
        let end = |i: &Ident| (u64::from(i.start) + u64::from(i.width.max(1))) % m;
        // Start at whichever start the other contains (or ours).
        let start = if self.contains(o.start) {
            self.start
        } else {
            o.start
        };
        let span = |e: u64| (e + m - u64::from(start)) % m;
        let w = span(end(self)).max(span(end(o)));
        Ident {
            start,
            width: w.clamp(1, u64::from(u32::MAX)) as u32,
            modulus: m,
        }
    }
}

/// What a sighting is matched by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// TCP payload: the unwrapped sequence range and the transmission's identity.
    Data {
        start: u64,
        end: u64,
        ident: Option<Ident>,
    },
    /// Any other packet, by fingerprint.
    Other(u64),
}

/// One packet of a flow at one point.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    pub point: PointId,
    /// The clock the point's timestamps come from (its file).
    pub clock: u16,
    /// 0: sent by the client, 1: by the server.
    pub dir: usize,
    pub ts_ns: i64,
    pub ip_len: u32,
    pub payload_len: u32,
    pub content: Content,
}

/// Counts of one point within a group (or a summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub ip_bytes: u64,
    pub payload: u64,
    /// The largest payload of one packet: a point whose packets are larger
    /// than any upstream one's saw them merged (receive offload).
    pub largest: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.packets += o.packets;
        self.ip_bytes += o.ip_bytes;
        self.payload += o.payload;
        self.largest = self.largest.max(o.largest);
    }
}

#[derive(Debug, Clone)]
struct AtPoint {
    point: PointId,
    counts: Counts,
    /// Sequence ranges this point saw of the group (TCP data).
    ranges: Vec<(u64, u64)>,
    first_ns: i64,
}

#[derive(Debug, Clone)]
struct Group {
    dir: u8,
    alive: bool,
    first_ns: i64,
    last_ns: i64,
    content: Content,
    at: Vec<AtPoint>,
}

impl Group {
    fn mask(&self) -> u64 {
        self.at.iter().fold(0, |m, a| m | 1u64 << a.point)
    }

    fn add(&mut self, s: &Sighting) {
        self.first_ns = self.first_ns.min(s.ts_ns);
        self.last_ns = self.last_ns.max(s.ts_ns);
        let c = Counts {
            packets: 1,
            ip_bytes: u64::from(s.ip_len),
            payload: u64::from(s.payload_len),
            largest: u64::from(s.payload_len),
        };
        let range = match s.content {
            Content::Data { start, end, .. } => Some((start, end)),
            Content::Other(_) => None,
        };
        match self.at.iter_mut().find(|a| a.point == s.point) {
            Some(a) => {
                a.counts.add(&c);
                a.first_ns = a.first_ns.min(s.ts_ns);
                a.ranges.extend(range);
            }
            None => self.at.push(AtPoint {
                point: s.point,
                counts: c,
                ranges: range.into_iter().collect(),
                first_ns: s.ts_ns,
            }),
        }
    }

    fn absorb(&mut self, o: Group) {
        self.first_ns = self.first_ns.min(o.first_ns);
        self.last_ns = self.last_ns.max(o.last_ns);
        if let (
            Content::Data { start, end, ident },
            Content::Data {
                start: s2,
                end: e2,
                ident: i2,
            },
        ) = (&mut self.content, o.content)
        {
            *start = (*start).min(s2);
            *end = (*end).max(e2);
            *ident = match (*ident, i2) {
                (Some(a), Some(b)) if a.overlaps(&b) => Some(a.hull(&b)),
                (a, _) => a,
            };
        }
        for a in o.at {
            match self.at.iter_mut().find(|x| x.point == a.point) {
                Some(x) => {
                    x.counts.add(&a.counts);
                    x.first_ns = x.first_ns.min(a.first_ns);
                    x.ranges.extend(a.ranges);
                }
                None => self.at.push(a),
            }
        }
    }
}

/// Delay samples between two points of one direction (`t[b] - t[a]`, raw clocks).
#[derive(Debug, Clone, Default)]
struct PairDelays {
    samples: Samples,
    min: i64,
    max: i64,
    n: u64,
}

/// A flow's view of where each transmission was seen.
#[derive(Debug, Default)]
pub struct Matcher {
    pending: VecDeque<Group>,
    /// Group id of `pending[0]`.
    base: u64,
    /// Data groups by (direction, start of range).
    data: [BTreeMap<u64, Vec<u64>>; 2],
    /// Longest data group, to bound the range search.
    longest: u64,
    /// Other groups by (direction, fingerprint).
    other: HashMap<(u8, u64), u64>,
    /// Decided groups: counts per point, by direction, the points that saw
    /// the transmission and the points that were live then.
    decided: HashMap<(u8, u64, u64), Vec<(PointId, Counts)>>,
    /// Delays between points, by (direction, a, b) with a < b.
    delays: BTreeMap<(u8, PointId, PointId), PairDelays>,
    /// When every point of the run captured.
    spans: PointSpans,
    /// Decided groups, and how many of them each point saw.
    groups_total: u64,
    groups_at: BTreeMap<PointId, u64>,
    /// First and last sighting of the flow at each point (any direction).
    seen: BTreeMap<PointId, (i64, i64, u16)>,
}

impl Matcher {
    pub fn new(spans: PointSpans) -> Matcher {
        Matcher {
            spans,
            ..Matcher::default()
        }
    }

    fn gid_index(&self, gid: u64) -> Option<usize> {
        gid.checked_sub(self.base).map(|i| i as usize)
    }

    fn group(&self, gid: u64) -> Option<&Group> {
        self.pending.get(self.gid_index(gid)?)
    }

    /// Adds one sighting; returns true when it is the first of its
    /// transmission (no other point had seen it).
    pub fn observe(&mut self, s: &Sighting) -> bool {
        if usize::from(s.point) >= MAX_POINTS {
            return true;
        }
        let e = self
            .seen
            .entry(s.point)
            .or_insert((s.ts_ns, s.ts_ns, s.clock));
        e.0 = e.0.min(s.ts_ns);
        e.1 = e.1.max(s.ts_ns);
        let dir = (s.dir & 1) as u8;
        let found: Vec<u64> = match s.content {
            Content::Data { start, end, ident } => {
                let lo = start.saturating_sub(self.longest);
                self.data[usize::from(dir)]
                    .range(lo..end)
                    .flat_map(|(_, g)| g.iter().copied())
                    .filter(|gid| {
                        self.group(*gid).is_some_and(|g| {
                            g.alive
                                && match g.content {
                                    Content::Data {
                                        start: s2,
                                        end: e2,
                                        ident: i2,
                                    } => {
                                        s2 < end
                                            && start < e2
                                            && match (ident, i2) {
                                                (Some(a), Some(b)) => a.overlaps(&b),
                                                _ => true,
                                            }
                                    }
                                    Content::Other(_) => false,
                                }
                        })
                    })
                    .collect()
            }
            Content::Other(fp) => self.other.get(&(dir, fp)).copied().into_iter().collect(),
        };
        let mut found = found;
        found.sort_unstable();
        found.dedup();
        match found.split_first() {
            None => {
                let gid = self.base + self.pending.len() as u64;
                let mut g = Group {
                    dir,
                    alive: true,
                    first_ns: s.ts_ns,
                    last_ns: s.ts_ns,
                    content: s.content,
                    at: Vec::with_capacity(2),
                };
                g.add(s);
                self.index(gid, &g);
                self.pending.push_back(g);
                true
            }
            Some((&keep, rest)) => {
                // Bytes (or content) this point already saw in the group:
                // its own repeat (a retransmission the identity could not
                // tell apart), distinct from the other points' copies. New
                // bytes of a group are a merged packet's pieces: not distinct.
                // It is distinct only when this point has already seen as
                // many such packets as any other point has (the other
                // points' extra copies are still to come).
                let own = found.iter().any(|gid| {
                    self.group(*gid).is_some_and(|g| {
                        let mine = g.at.iter().find(|a| a.point == s.point);
                        let repeat = mine.is_some_and(|a| match s.content {
                            Content::Data { start, end, .. } => {
                                a.ranges.iter().any(|(x, y)| *x < end && start < *y)
                            }
                            Content::Other(_) => true,
                        });
                        let seen = |a: &AtPoint| match s.content {
                            Content::Data { start, end, .. } => a
                                .ranges
                                .iter()
                                .filter(|(x, y)| *x < end && start < *y)
                                .count(),
                            Content::Other(_) => a.counts.packets as usize,
                        };
                        let own_n = mine.map_or(0, seen);
                        let others =
                            g.at.iter()
                                .filter(|a| a.point != s.point)
                                .map(seen)
                                .max()
                                .unwrap_or(0);
                        repeat && own_n >= others
                    })
                });
                for &gid in rest {
                    let Some(i) = self.gid_index(gid) else {
                        continue;
                    };
                    let taken = std::mem::replace(
                        &mut self.pending[i],
                        Group {
                            dir,
                            alive: false,
                            first_ns: 0,
                            last_ns: 0,
                            content: Content::Other(0),
                            at: Vec::new(),
                        },
                    );
                    self.unindex(gid, &taken);
                    if let Some(k) = self.gid_index(keep) {
                        let old = self.pending[k].content;
                        self.pending[k].absorb(taken);
                        self.reindex(keep, old);
                    }
                }
                if let Some(k) = self.gid_index(keep) {
                    let old = self.pending[k].content;
                    self.pending[k].add(s);
                    if let (
                        Content::Data { start, end, .. },
                        Content::Data {
                            start: a,
                            end: b,
                            ident,
                        },
                    ) = (&mut self.pending[k].content, s.content)
                    {
                        *start = (*start).min(a);
                        *end = (*end).max(b);
                        let _ = ident;
                    }
                    self.reindex(keep, old);
                }
                own
            }
        }
    }

    fn index(&mut self, gid: u64, g: &Group) {
        match g.content {
            Content::Data { start, end, .. } => {
                self.longest = self.longest.max(end.saturating_sub(start));
                self.data[usize::from(g.dir)]
                    .entry(start)
                    .or_default()
                    .push(gid);
            }
            Content::Other(fp) => {
                self.other.insert((g.dir, fp), gid);
            }
        }
    }

    fn unindex(&mut self, gid: u64, g: &Group) {
        match g.content {
            Content::Data { start, .. } => {
                let m = &mut self.data[usize::from(g.dir)];
                if let Some(v) = m.get_mut(&start) {
                    v.retain(|x| *x != gid);
                    if v.is_empty() {
                        m.remove(&start);
                    }
                }
            }
            Content::Other(fp) => {
                if self.other.get(&(g.dir, fp)) == Some(&gid) {
                    self.other.remove(&(g.dir, fp));
                }
            }
        }
    }

    /// Re-indexes a data group whose range start may have moved.
    fn reindex(&mut self, gid: u64, old: Content) {
        let Some(i) = self.gid_index(gid) else { return };
        let g = self.pending[i].clone();
        if let (Content::Data { start: was, .. }, Content::Data { start, .. }) = (old, g.content) {
            if was != start {
                let before = Group {
                    content: old,
                    ..g.clone()
                };
                self.unindex(gid, &before);
                self.index(gid, &g);
            } else if let Content::Data { start, end, .. } = g.content {
                self.longest = self.longest.max(end.saturating_sub(start));
            }
        }
    }

    /// The matching window for this flow: the configured one until packets
    /// were matched, then ten times the longest delay seen between two
    /// points (clock offset included), at least [`MIN_WINDOW_NS`]: a flow
    /// whose points are microseconds apart holds little, while a packet
    /// the kernel held for neighbour resolution (seconds) still matches at
    /// a flow's start.
    pub fn window(&self, configured: i64) -> i64 {
        let longest = self
            .delays
            .values()
            .map(|d| d.min.abs().max(d.max.abs()))
            .max();
        match longest {
            None => configured,
            Some(d) => d.saturating_mul(10).clamp(MIN_WINDOW_NS, configured),
        }
    }

    /// Decides the groups nobody added to for `window_ns` before `now`.
    pub fn expire(&mut self, now: i64, window_ns: i64) {
        while let Some(g) = self.pending.front() {
            if g.alive && g.last_ns.saturating_add(window_ns) >= now {
                break;
            }
            let g = self.pending.pop_front().expect("front exists");
            let gid = self.base;
            self.base += 1;
            if g.alive {
                self.unindex(gid, &g);
                self.decide(g);
            }
        }
    }

    /// Decides every group (the flow ended).
    pub fn finish(&mut self) {
        self.expire(i64::MAX, 0);
    }

    fn decide(&mut self, g: Group) {
        let mask = g.mask();
        self.groups_total += 1;
        for a in &g.at {
            *self.groups_at.entry(a.point).or_default() += 1;
        }
        let t = g.first_ns;
        let live = self
            .seen
            .keys()
            .filter(|p| self.spans.live(**p, t))
            .fold(0u64, |m, p| m | 1u64 << p);
        let e = self.decided.entry((g.dir, mask, live)).or_default();
        for a in &g.at {
            match e.iter_mut().find(|(p, _)| *p == a.point) {
                Some((_, c)) => c.add(&a.counts),
                None => e.push((a.point, a.counts)),
            }
        }
        for (i, a) in g.at.iter().enumerate() {
            for b in &g.at[i + 1..] {
                let (x, y) = if a.point < b.point { (a, b) } else { (b, a) };
                let raw = y.first_ns - x.first_ns;
                let d = self.delays.entry((g.dir, x.point, y.point)).or_default();
                if d.n == 0 {
                    (d.min, d.max) = (raw, raw);
                } else {
                    d.min = d.min.min(raw);
                    d.max = d.max.max(raw);
                }
                d.n += 1;
                d.samples.push(raw as f64 / 1e6);
            }
        }
    }

    /// The share of the flow's transmissions (decided groups) point `p` saw.
    pub fn share(&self, p: PointId) -> f64 {
        if self.groups_total == 0 {
            return 0.0;
        }
        self.groups_at.get(&p).copied().unwrap_or(0) as f64 / self.groups_total as f64
    }

    /// Groups not yet decided.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The points that saw this flow, in id order.
    pub fn points(&self) -> Vec<PointId> {
        self.seen.keys().copied().collect()
    }

    /// The clock offset of point `b` relative to point `a` (ns to subtract
    /// from `b`'s times to read them on `a`'s clock), with the implied
    /// minimum one-way delay; `None` when no pair of points of the two
    /// clocks has matched samples in both directions. Points on one clock
    /// have offset 0; across two clocks (files) the estimate is the clocks'
    /// (the pair of points with the smallest delay), the same for every
    /// point of either, so points of one file keep their order.
    pub fn offset(&self, a: PointId, b: PointId) -> Option<(i64, i64)> {
        let clock = |p: PointId| self.seen.get(&p).map(|s| s.2);
        let (ca, cb) = (clock(a)?, clock(b)?);
        if ca == cb {
            let (x, y) = if a < b { (a, b) } else { (b, a) };
            return Some((0, self.min_delay(x, y).unwrap_or(0)));
        }
        let mut best: Option<(i64, i64)> = None;
        for (x, sx) in &self.seen {
            for (y, sy) in &self.seen {
                if sx.2 != ca || sy.2 != cb {
                    continue;
                }
                if let Some((theta, delay)) = self.pair_offset(*x, *y) {
                    if best.is_none_or(|(_, d)| delay < d) {
                        best = Some((theta, delay));
                    }
                }
            }
        }
        best
    }

    /// [`Matcher::offset`] from one pair of points' samples alone.
    fn pair_offset(&self, a: PointId, b: PointId) -> Option<(i64, i64)> {
        let (x, y, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let d0 = self.delays.get(&(0, x, y))?;
        let d1 = self.delays.get(&(1, x, y))?;
        // x upstream for the client's packets: d0 = delay + θ, d1 = -delay' + θ.
        let a_case = (d0.min - d1.max) / 2;
        // y upstream for the client's packets: d0 = -delay + θ, d1 = delay' + θ.
        let b_case = (d1.min - d0.max) / 2;
        let (theta, delay) = if a_case >= b_case {
            ((d0.min + d1.max) / 2, a_case)
        } else {
            ((d1.min + d0.max) / 2, b_case)
        };
        Some((sign * theta, delay))
    }

    /// Whether two points' times come from different clocks (files).
    pub fn different_clocks(&self, a: PointId, b: PointId) -> bool {
        match (self.seen.get(&a), self.seen.get(&b)) {
            (Some(x), Some(y)) => x.2 != y.2,
            _ => false,
        }
    }

    fn min_delay(&self, x: PointId, y: PointId) -> Option<i64> {
        [0u8, 1]
            .iter()
            .filter_map(|d| self.delays.get(&(*d, x, y)))
            .map(|d| d.min.abs().min(d.max.abs()))
            .min()
    }

    /// Summarizes the flow's points. `offsets` gives, for a pair of points
    /// on different clocks, the offset to use (run-wide knowledge); without
    /// it the flow's own estimate is used.
    pub fn summary(&self, primary: PointId) -> Summary {
        // Order per direction: each point's mean (clock-corrected) delay
        // behind the reference point, the primary.
        let mut order: [Vec<PointId>; 2] = [Vec::new(), Vec::new()];
        let mut delays = Vec::new();
        for dir in 0..2u8 {
            let mut pos: Vec<(f64, PointId)> = Vec::new();
            for &p in self.seen.keys() {
                if !self.saw_dir(p, dir) {
                    continue;
                }
                if p == primary {
                    pos.push((0.0, p));
                    continue;
                }
                if let Some(m) = self.mean_corrected(dir, primary, p) {
                    pos.push((m, p));
                }
            }
            // Points never matched against the primary: against any placed point.
            for &p in self.seen.keys() {
                if !self.saw_dir(p, dir) || pos.iter().any(|(_, q)| *q == p) {
                    continue;
                }
                let placed: Vec<(f64, PointId)> = pos.clone();
                if let Some(m) = placed
                    .iter()
                    .find_map(|(base, q)| self.mean_corrected(dir, *q, p).map(|m| base + m))
                {
                    pos.push((m, p));
                }
            }
            // Pairwise, where two points saw the same packets: the median
            // delay between them says which is upstream (a mean against a
            // reference over different packets can swap two points a few
            // microseconds apart when the path's delay varies). Points rank
            // by how many others they precede; the reference position
            // breaks ties and places points without common packets.
            let wins = |p: PointId| {
                pos.iter()
                    .filter(|(_, q)| *q != p)
                    .filter(|(_, q)| {
                        self.corrected_samples(dir, p, *q)
                            .and_then(|s| s.summary())
                            .is_some_and(|x| x.p50 > 0.0)
                    })
                    .count()
            };
            let mut ranked: Vec<(usize, f64, PointId)> =
                pos.iter().map(|(m, p)| (wins(*p), *m, *p)).collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
            let pos: Vec<(f64, PointId)> = ranked.iter().map(|(_, m, p)| (*m, *p)).collect();
            order[usize::from(dir)] = pos.iter().map(|(_, p)| *p).collect();
            for w in pos.windows(2) {
                let (a, b) = (w[0].1, w[1].1);
                if let Some(s) = self.corrected_samples(dir, a, b) {
                    delays.push(Delay {
                        dir,
                        from: a,
                        to: b,
                        samples: s.count(),
                        p50_ms: s.summary().map_or(0.0, |x| x.p50),
                        p99_ms: s.summary().map_or(0.0, |x| x.p99),
                    });
                }
            }
        }
        // Loss between consecutive points of each direction.
        let mut lost: BTreeMap<(u8, PointId, PointId), Counts> = BTreeMap::new();
        // Transmissions the primary never saw (counted once, at the first
        // point of the direction that saw them).
        let mut unseen_by_primary = [Counts::default(), Counts::default()];
        for ((dir, mask, live), at) in &self.decided {
            let ord = &order[usize::from(*dir)];
            let counts = |p: PointId| at.iter().find(|(q, _)| *q == p).map(|(_, c)| *c);
            if mask & (1u64 << primary) == 0 {
                let first = ord
                    .iter()
                    .find_map(|p| counts(*p))
                    .or_else(|| at.first().map(|(_, c)| *c));
                if let Some(c) = first {
                    unseen_by_primary[usize::from(*dir)].add(&c);
                }
            }
            for w in ord.windows(2) {
                let (u, d) = (w[0], w[1]);
                if live & (1u64 << d) == 0 {
                    continue;
                }
                let Some(cu) = counts(u) else { continue };
                let cd = counts(d).unwrap_or_default();
                // Whole packets missing, or bytes missing from merged ones.
                let missing = Counts {
                    packets: cu.packets.saturating_sub(cd.packets),
                    ip_bytes: cu.ip_bytes.saturating_sub(cd.ip_bytes),
                    payload: cu.payload.saturating_sub(cd.payload),
                    largest: 0,
                };
                // Downstream packets no larger than upstream ones: whole
                // packets are missing. Larger ones: receive offload merged
                // what arrived, and only bytes (segments) are missing.
                let merged = cd.largest > cu.largest;
                let (missing, whole) = if cd.packets == 0 {
                    (cu, true)
                } else if cu.payload > cd.payload {
                    (missing, !merged)
                } else if cu.packets > cd.packets && cu.payload == 0 {
                    (missing, true)
                } else {
                    continue;
                };
                let e = lost.entry((*dir, u, d)).or_default();
                e.packets += if whole { missing.packets } else { 0 };
                e.ip_bytes += missing.ip_bytes;
                e.payload += missing.payload;
            }
        }
        Summary {
            order,
            lost: lost
                .into_iter()
                .filter(|(_, c)| c.packets > 0 || c.payload > 0)
                .map(|((dir, from, to), counts)| Lost {
                    dir,
                    from,
                    to,
                    counts,
                })
                .collect(),
            delays,
            unseen_by_primary,
        }
    }

    fn saw_dir(&self, p: PointId, dir: u8) -> bool {
        self.decided
            .keys()
            .any(|(d, mask, _)| *d == dir && mask & (1u64 << p) != 0)
    }

    /// Mean delay of `b` behind `a` in `dir`, on one clock.
    fn mean_corrected(&self, dir: u8, a: PointId, b: PointId) -> Option<f64> {
        let s = self.corrected_samples(dir, a, b)?;
        let v = s.values();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// `t[b] - t[a]` in ms for `dir`, with `b`'s clock read on `a`'s.
    fn corrected_samples(&self, dir: u8, a: PointId, b: PointId) -> Option<Samples> {
        let (x, y, sign) = if a < b { (a, b, 1.0) } else { (b, a, -1.0) };
        let d = self.delays.get(&(dir, x, y))?;
        let theta = self.offset(x, y).map_or(0, |o| o.0) as f64 / 1e6;
        let mut out = Samples::default();
        for v in d.samples.values() {
            out.push(sign * (v - theta));
        }
        Some(out)
    }
}

/// Loss between two consecutive points of one direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub dir: u8,
    pub from: PointId,
    pub to: PointId,
    /// Packets seen at `from` never seen at `to` (whole packets), and the
    /// bytes missing (whole packets and segments missing from merged ones).
    pub counts: Counts,
}

/// One-way delay between consecutive points of a direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delay {
    pub dir: u8,
    pub from: PointId,
    pub to: PointId,
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What a flow's points tell, once it has ended.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Points in the order each direction's packets pass them.
    pub order: [Vec<PointId>; 2],
    pub lost: Vec<Lost>,
    pub delays: Vec<Delay>,
    /// Per direction: transmissions the primary point never saw.
    pub unseen_by_primary: [Counts; 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(
        point: PointId,
        dir: usize,
        ts: i64,
        start: u64,
        len: u64,
        id: u32,
        segs: u32,
    ) -> Sighting {
        Sighting {
            point,
            clock: 0,
            dir,
            ts_ns: ts,
            ip_len: len as u32 + 52,
            payload_len: len as u32,
            content: Content::Data {
                start,
                end: start + len,
                ident: Some(Ident {
                    start: id,
                    width: segs,
                    modulus: 65536,
                }),
            },
        }
    }

    fn ack(point: PointId, dir: usize, ts: i64, fp: u64) -> Sighting {
        Sighting {
            point,
            clock: 0,
            dir,
            ts_ns: ts,
            ip_len: 52,
            payload_len: 0,
            content: Content::Other(fp),
        }
    }

    const MS: i64 = 1_000_000;

    /// A matcher whose points all captured from 0 to 1000 s.
    fn matcher() -> Matcher {
        let spans = PointSpans::default();
        for p in 0..4 {
            spans.note(p, 0);
            spans.note(p, 1_000_000 * MS);
        }
        Matcher::new(spans)
    }

    /// Three points in a row; the middle-to-last hop drops two segments,
    /// which the sender retransmits (new ids).
    #[test]
    fn loss_is_located_between_the_points_that_saw_and_did_not_see() {
        let mut m = matcher();
        let mut t = 0;
        for k in 0..10u32 {
            let start = 1000 + u64::from(k) * 1448;
            for p in 0..3u16 {
                if p == 2 && (k == 3 || k == 7) {
                    continue;
                }
                m.observe(&data(
                    p,
                    0,
                    t + i64::from(p) * MS / 10,
                    start,
                    1448,
                    100 + k,
                    1,
                ));
            }
            // The receiver's ACK passes the points the other way.
            for p in (0..3u16).rev() {
                m.observe(&ack(
                    p,
                    1,
                    t + MS / 2 + i64::from(2 - p) * MS / 10,
                    5000 + u64::from(k),
                ));
            }
            t += MS;
        }
        for (k, id) in [(3u64, 200u32), (7, 201)] {
            for p in 0..3u16 {
                m.observe(&data(
                    p,
                    0,
                    t + i64::from(p) * MS / 10,
                    1000 + k * 1448,
                    1448,
                    id,
                    1,
                ));
            }
            for p in (0..3u16).rev() {
                m.observe(&ack(
                    p,
                    1,
                    t + MS / 2 + i64::from(2 - p) * MS / 10,
                    9000 + k,
                ));
            }
            t += MS;
        }
        m.finish();
        let s = m.summary(0);
        assert_eq!(s.order[0], vec![0, 1, 2]);
        assert_eq!(s.order[1], vec![2, 1, 0]);
        assert_eq!(s.lost.len(), 1, "{:?}", s.lost);
        let l = s.lost[0];
        assert_eq!((l.dir, l.from, l.to), (0, 1, 2));
        assert_eq!((l.counts.packets, l.counts.payload), (2, 2 * 1448));
        assert_eq!(s.unseen_by_primary, [Counts::default(), Counts::default()]);
        let d = s.delays.iter().find(|d| d.dir == 0 && d.from == 0).unwrap();
        assert!((d.p50_ms - 0.1).abs() < 1e-6, "{d:?}");
    }

    /// One point sees a 64 KB super-packet, the next its 45 segments (one
    /// of them missing); the group is one transmission, and the missing
    /// segment's bytes are lost between them.
    #[test]
    fn offloads_give_each_point_its_own_packet_boundaries() {
        let mut m = matcher();
        m.observe(&data(0, 0, 0, 1000, 45 * 1448, 300, 45));
        for k in 0..45u64 {
            if k == 20 {
                continue;
            }
            m.observe(&data(
                1,
                0,
                MS / 10 + k as i64,
                1000 + k * 1448,
                1448,
                300 + k as u32,
                1,
            ));
        }
        // An ACK both ways so both points are live in both directions.
        m.observe(&ack(1, 1, MS, 1));
        m.observe(&ack(0, 1, MS + MS / 10, 1));
        m.finish();
        let s = m.summary(0);
        assert_eq!(s.order[0], vec![0, 1]);
        assert_eq!(s.lost.len(), 1, "{:?}", s.lost);
        assert_eq!(s.lost[0].counts.payload, 1448);
        // The reverse: segments first, merged later, all there: no loss.
        let mut m = matcher();
        for k in 0..45u64 {
            m.observe(&data(
                0,
                0,
                k as i64,
                1000 + k * 1448,
                1448,
                300 + k as u32,
                1,
            ));
        }
        m.observe(&data(1, 0, MS / 10, 1000, 45 * 1448, 300, 45));
        m.observe(&ack(1, 1, MS, 1));
        m.observe(&ack(0, 1, MS + MS / 10, 1));
        m.finish();
        assert!(m.summary(0).lost.is_empty(), "{:?}", m.summary(0).lost);
    }

    /// A retransmission of the same bytes (another id) is another
    /// transmission, even when it comes within the window.
    #[test]
    fn a_retransmission_is_not_the_original_seen_again() {
        let mut m = matcher();
        m.observe(&data(0, 0, 0, 1000, 1448, 1, 1));
        m.observe(&data(0, 0, MS / 5, 1000, 1448, 2, 1));
        m.observe(&data(1, 0, MS / 5 + MS / 10, 1000, 1448, 2, 1));
        m.observe(&ack(1, 1, MS, 7));
        m.observe(&ack(0, 1, MS + MS / 10, 7));
        m.finish();
        let s = m.summary(0);
        assert_eq!(s.lost.len(), 1);
        assert_eq!(s.lost[0].counts.packets, 1);
    }

    /// Two files whose clocks differ by 5 ms: the offset comes out of the
    /// two directions, and the order and delays are corrected.
    #[test]
    fn clock_offset_between_files_is_estimated_from_both_directions() {
        let mut m = matcher();
        let off = 5 * MS;
        for k in 0..20i64 {
            let t = k * MS;
            let mut a = data(0, 0, t, 1000 + k as u64 * 100, 100, k as u32, 1);
            let mut b = data(
                1,
                0,
                t + 200_000 + off,
                1000 + k as u64 * 100,
                100,
                k as u32,
                1,
            );
            a.clock = 0;
            b.clock = 1;
            m.observe(&a);
            m.observe(&b);
            let mut c = ack(1, 1, t + MS / 2 + off, 100 + k as u64);
            let mut d = ack(0, 1, t + MS / 2 + 200_000, 100 + k as u64);
            c.clock = 1;
            d.clock = 0;
            m.observe(&c);
            m.observe(&d);
        }
        m.finish();
        let (theta, delay) = m.offset(0, 1).unwrap();
        assert!((theta - off).abs() < 1000, "{theta}");
        assert!((delay - 200_000).abs() < 1000, "{delay}");
        let s = m.summary(0);
        assert_eq!(s.order[0], vec![0, 1]);
        assert_eq!(s.order[1], vec![1, 0]);
        let d = s.delays.iter().find(|d| d.dir == 0).unwrap();
        assert!((d.p50_ms - 0.2).abs() < 0.01, "{d:?}");
    }

    #[test]
    fn ident_intervals_wrap() {
        let a = Ident {
            start: 65530,
            width: 10,
            modulus: 65536,
        };
        assert!(a.contains(2));
        assert!(!a.contains(5));
        let b = Ident {
            start: 3,
            width: 1,
            modulus: 65536,
        };
        assert!(a.overlaps(&b));
        let h = a.hull(&Ident {
            start: 65535,
            width: 20,
            modulus: 65536,
        });
        assert_eq!((h.start, h.width), (65530, 25));
    }
}
