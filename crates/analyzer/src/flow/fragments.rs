//! IP fragment attribution.
//!
//! Only the first fragment of a datagram carries the ports; later fragments
//! are joined to it by (source, destination, protocol, identification). This
//! runs before packets are routed to shards, since the route needs the ports.

use std::collections::VecDeque;

use foldhash::HashMap;
use std::net::IpAddr;

use crate::decode::Packet;

/// Fragments of one datagram live at most this long (Linux `ipfrag_time` is 30 s).
const FRAGMENT_TTL_NS: i64 = 30_000_000_000;
/// Upper bound on datagrams tracked at once, so a fragment flood cannot grow memory.
const MAX_DATAGRAMS: usize = 65_536;
/// Upper bound on fragments held while waiting for their first fragment.
const MAX_PENDING: usize = 4_096;

type DatagramKey = (IpAddr, IpAddr, u8, u32);

#[derive(Debug, Clone, Copy)]
struct Known {
    sport: u16,
    dport: u16,
    seen_ns: i64,
}

/// Joins non-first fragments to the ports of their datagram.
#[derive(Debug, Default)]
pub struct FragmentTracker {
    known: HashMap<DatagramKey, Known>,
    order: VecDeque<(DatagramKey, i64)>,
    pending: Vec<Packet>,
    /// Fragments dropped because their first fragment never arrived.
    pub unattributed: u64,
}

impl FragmentTracker {
    /// Feeds one packet; returns the packets now ready for flow analysis, in order.
    pub fn push(&mut self, pkt: Packet, out: &mut Vec<Packet>) {
        let Some(frag) = pkt.fragment else {
            out.push(pkt);
            return;
        };
        let key = (pkt.src, pkt.dst, pkt.proto, frag.id);
        self.expire(pkt.ts_ns);
        if frag.is_first() {
            {
                self.known.insert(
                    key,
                    Known {
                        sport: pkt.sport,
                        dport: pkt.dport,
                        seen_ns: pkt.ts_ns,
                    },
                );
                self.order.push_back((key, pkt.ts_ns));
                if self.known.len() > MAX_DATAGRAMS {
                    if let Some((old, _)) = self.order.pop_front() {
                        self.known.remove(&old);
                    }
                }
            }
            let (sport, dport) = (pkt.sport, pkt.dport);
            out.push(pkt);
            // Fragments that overtook their first fragment can go now.
            let mut i = 0;
            while i < self.pending.len() {
                let p = &self.pending[i];
                if (p.src, p.dst, p.proto, p.fragment.map_or(0, |f| f.id)) == key {
                    let mut p = self.pending.remove(i);
                    p.sport = sport;
                    p.dport = dport;
                    out.push(p);
                } else {
                    i += 1;
                }
            }
            return;
        }
        if let Some(k) = self.known.get(&key) {
            let mut pkt = pkt;
            pkt.sport = k.sport;
            pkt.dport = k.dport;
            out.push(pkt);
        } else if self.pending.len() < MAX_PENDING {
            self.pending.push(pkt);
        } else {
            self.unattributed += 1;
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some(&(key, ts)) = self.order.front() {
            if now.saturating_sub(ts) <= FRAGMENT_TTL_NS {
                break;
            }
            self.order.pop_front();
            if self.known.get(&key).is_some_and(|k| k.seen_ns == ts) {
                self.known.remove(&key);
            }
        }
        let before = self.pending.len();
        self.pending
            .retain(|p| now.saturating_sub(p.ts_ns) <= FRAGMENT_TTL_NS);
        self.unattributed += (before - self.pending.len()) as u64;
    }

    /// End of input: fragments still waiting for their first fragment are counted, not guessed.
    pub fn finish(&mut self) {
        self.unattributed += self.pending.len() as u64;
        self.pending.clear();
    }
}
