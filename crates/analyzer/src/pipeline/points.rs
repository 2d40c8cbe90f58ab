//! Capture points in the merged packet stream: every packet gets the id of
//! the point that saw it (file × interface), and, when a run has several
//! points, packets seen under another tuple at another point (a Service
//! DNAT, a node SNAT) are recognized by content and given their flow's
//! tuple, so one connection is one flow whatever the translation.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;

use crate::decode::{Packet, Transport};
use crate::flow::points::{PointId, PointSpans, MAX_POINTS};
use crate::report::Endpoint;

/// A point as the merge saw it.
#[derive(Debug, Clone)]
pub struct Point {
    /// The file it was first seen in (its clock).
    pub file: u16,
    /// Files that continue it: a capture rotated into several files
    /// (`tcpdump -C`/`-G`, `retina-capture --rotate-size`) is one point.
    pub more_files: Vec<u16>,
    pub interface: u32,
    pub packets: u64,
}

/// Packets of a new tuple (per point) checked against other points'
/// recent packets for a translated twin: a connection's first packets are
/// seen on both sides of a translation within moments.
const NAT_PROBE_PACKETS: u32 = 16;

/// Assigns points, and translates tuples when several points saw a flow.
#[derive(Debug)]
pub struct Stage {
    points: Vec<Point>,
    by_key: HashMap<(u16, u32), PointId>,
    last: Option<((u16, u32), PointId)>,
    /// When each point captured (shared with the flow tables).
    pub spans: PointSpans,
    multi: bool,
    window_ns: i64,
    /// Tuples (as seen, directional) rewritten to their flow's tuple.
    alias: HashMap<Tuple, Tuple>,
    /// Packets seen per (tuple, point), for the first few (NAT probes).
    probes: HashMap<(Tuple, PointId), u32>,
    /// Recent packets by content fingerprint: their tuple, point and time.
    recent: HashMap<u64, (Tuple, PointId, i64)>,
    recent_order: VecDeque<(i64, u64)>,
    /// More points than can be matched (told once).
    pub too_many_points: bool,
    /// A second point appeared in a run read as one point.
    pub late_point: bool,
}

/// A directional 5-tuple (with the tunnel's VNI, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tuple {
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    vni: Option<u32>,
}

impl Tuple {
    fn of(p: &Packet) -> Tuple {
        Tuple {
            proto: p.proto,
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            vni: p.tunnel.map(|t| t.vni),
        }
    }

    fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
            ..*self
        }
    }

    fn same_flow(&self, o: &Tuple) -> bool {
        self == o || *self == o.reversed()
    }
}

/// Content that address translation leaves alone: the IP id, TCP sequence,
/// acknowledgment, flags and timestamps, the payload's length and first bytes.
fn nat_fingerprint(p: &Packet) -> Option<u64> {
    let mut f = vec![
        u64::from(p.proto),
        u64::from(p.ip_id),
        u64::from(p.payload_len),
    ];
    match &p.transport {
        Transport::Tcp(t) => {
            let (a, b) = t.timestamps.unwrap_or((0, 0));
            f.extend([
                u64::from(t.seq),
                u64::from(t.ack),
                u64::from(t.flags.0),
                u64::from(a),
                u64::from(b),
            ]);
        }
        // Without an IP id, a datagram's content alone is too weak an identity.
        Transport::Udp | Transport::Icmp(_) if p.ip_id != 0 => f.push(u64::from(p.content)),
        _ => return None,
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in f {
        h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 31;
    }
    Some(h)
}

impl Stage {
    pub fn new(multi: bool, window_ns: i64) -> Stage {
        Stage {
            points: Vec::new(),
            by_key: HashMap::new(),
            last: None,
            spans: PointSpans::default(),
            multi,
            window_ns,
            alias: HashMap::new(),
            probes: HashMap::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            too_many_points: false,
            late_point: false,
        }
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Sets `pkt.point` (and `pkt.clock`). A file whose first packet comes
    /// after another file ended, with an interface of the same number,
    /// continues that file's point: a rotated capture is one place.
    /// `ended[f]` says whether file `f` has no packet left.
    pub fn assign(&mut self, pkt: &mut Packet, ended: &[bool]) {
        let key = (pkt.file, pkt.interface);
        let id = match self.last {
            Some((k, id)) if k == key => id,
            _ => {
                let continued = || {
                    self.points.iter().position(|p| {
                        p.interface == pkt.interface
                            && p.file != pkt.file
                            && !p.more_files.contains(&pkt.file)
                            && ended.get(usize::from(*p.more_files.last().unwrap_or(&p.file)))
                                == Some(&true)
                    })
                };
                let id = match self.by_key.get(&key) {
                    Some(id) => *id,
                    None if continued().is_some() => {
                        let i = continued().unwrap_or(0);
                        self.points[i].more_files.push(pkt.file);
                        let id = i as PointId;
                        self.by_key.insert(key, id);
                        id
                    }
                    None => {
                        let id = self.points.len().min(usize::from(u16::MAX)) as PointId;
                        self.points.push(Point {
                            file: pkt.file,
                            more_files: Vec::new(),
                            interface: pkt.interface,
                            packets: 0,
                        });
                        self.by_key.insert(key, id);
                        if usize::from(id) >= MAX_POINTS {
                            self.too_many_points = true;
                        }
                        if id > 0 && !self.multi {
                            self.late_point = true;
                        }
                        id
                    }
                };
                self.last = Some((key, id));
                id
            }
        };
        pkt.point = id;
        if let Some(p) = self.points.get_mut(usize::from(id)) {
            p.packets += 1;
            pkt.clock = p.file;
        }
        if self.multi {
            self.spans.note(id, pkt.ts_ns);
        }
    }

    /// With several points: rewrites a packet seen under a translated tuple
    /// to its flow's tuple; returns the tuple it was seen under when it did.
    pub fn translate(&mut self, pkt: &mut Packet) -> Option<(Endpoint, Endpoint)> {
        if !self.multi {
            return None;
        }
        let seen = Tuple::of(pkt);
        if let Some(to) = self.alias.get(&seen).copied() {
            return Some(self.rewrite(pkt, seen, to));
        }
        let fp = nat_fingerprint(pkt)?;
        while let Some(&(t, old)) = self.recent_order.front() {
            if t.saturating_add(self.window_ns) >= pkt.ts_ns {
                break;
            }
            self.recent_order.pop_front();
            if self.recent.get(&old).is_some_and(|e| e.2 == t) {
                self.recent.remove(&old);
            }
        }
        let probe = self.probes.entry((seen, pkt.point)).or_insert(0);
        *probe += 1;
        if *probe <= NAT_PROBE_PACKETS {
            if let Some(&(other, point, ts)) = self.recent.get(&fp) {
                if point != pkt.point
                    && !other.same_flow(&seen)
                    && (pkt.ts_ns - ts).abs() <= self.window_ns
                    && other.proto == seen.proto
                {
                    // Both directions of the seen tuple map to the flow's.
                    self.alias.insert(seen, other);
                    self.alias.insert(seen.reversed(), other.reversed());
                    return Some(self.rewrite(pkt, seen, other));
                }
            }
        }
        self.recent.insert(fp, (seen, pkt.point, pkt.ts_ns));
        self.recent_order.push_back((pkt.ts_ns, fp));
        None
    }

    fn rewrite(&self, pkt: &mut Packet, seen: Tuple, to: Tuple) -> (Endpoint, Endpoint) {
        pkt.src = to.src;
        pkt.sport = to.sport;
        pkt.dst = to.dst;
        pkt.dport = to.dport;
        (
            Endpoint {
                ip: seen.src,
                port: seen.sport,
            },
            Endpoint {
                ip: seen.dst,
                port: seen.dport,
            },
        )
    }
}
