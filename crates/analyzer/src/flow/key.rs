//! Canonical bidirectional flow keys.
//!
//! A key orders its two endpoints (lower first), so both directions of a
//! conversation map to the same key and the same hash: the property that lets
//! the pipeline shard flows across threads.

use std::hash::{Hash, Hasher};

use crate::report::{Endpoint, Tunnel};

/// Sender and receiver of a packet.
pub fn endpoints(p: &crate::decode::Packet) -> (Endpoint, Endpoint) {
    (
        Endpoint {
            ip: p.src,
            port: p.sport,
        },
        Endpoint {
            ip: p.dst,
            port: p.dport,
        },
    )
}

/// Which endpoint of a key a packet was sent by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lo,
    Hi,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

/// Direction of a packet relative to the flow's originator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the client (originator).
    ToServer = 0,
    /// Sent by the server (responder).
    ToClient = 1,
}

impl Direction {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Canonical flow key: protocol, ordered endpoints, the tunnel (VNI) and the
/// VLANs the flow was seen in, so identical tuples in different overlays or
/// VLANs stay apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: u8,
    pub lo: Endpoint,
    pub hi: Endpoint,
    pub tunnel: Option<Tunnel>,
    /// VLAN ids, outer first (0: none).
    pub vlan: [u16; 2],
}

impl FlowKey {
    /// Builds the key of a packet from `src` to `dst`, and tells which side sent it.
    pub fn new(
        proto: u8,
        src: Endpoint,
        dst: Endpoint,
        tunnel: Option<Tunnel>,
        vlan: [u16; 2],
    ) -> (FlowKey, Side) {
        if src <= dst {
            (
                FlowKey {
                    proto,
                    lo: src,
                    hi: dst,
                    tunnel,
                    vlan,
                },
                Side::Lo,
            )
        } else {
            (
                FlowKey {
                    proto,
                    lo: dst,
                    hi: src,
                    tunnel,
                    vlan,
                },
                Side::Hi,
            )
        }
    }

    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Lo => self.lo,
            Side::Hi => self.hi,
        }
    }

    /// A hash identical for both directions and stable across runs (FNV-1a
    /// over the canonical key, not a randomly seeded hasher), used to pick a shard.
    pub fn shard_hash(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        self.hash(&mut h);
        h.0
    }
}

/// FNV-1a: tiny, deterministic, good enough to spread keys over shards.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn ep(ip: [u8; 4], port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::from(ip),
            port,
        }
    }

    proptest! {
        #[test]
        fn key_is_symmetric(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), pa in any::<u16>(), pb in any::<u16>(), proto in any::<u8>()) {
            let (k1, s1) = FlowKey::new(proto, ep(a, pa), ep(b, pb), None, [0; 2]);
            let (k2, s2) = FlowKey::new(proto, ep(b, pb), ep(a, pa), None, [0; 2]);
            prop_assert_eq!(k1, k2);
            prop_assert_eq!(k1.shard_hash(), k2.shard_hash());
            prop_assert_eq!(k1.endpoint(s1), ep(a, pa));
            prop_assert_eq!(k2.endpoint(s2), ep(b, pb));
            if ep(a, pa) != ep(b, pb) {
                prop_assert_ne!(s1, s2);
            }
        }

        #[test]
        fn v6_key_is_symmetric(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), pa in any::<u16>(), pb in any::<u16>()) {
            let ea = Endpoint { ip: IpAddr::from(a), port: pa };
            let eb = Endpoint { ip: IpAddr::from(b), port: pb };
            let (k1, _) = FlowKey::new(6, ea, eb, None, [0; 2]);
            let (k2, _) = FlowKey::new(6, eb, ea, None, [0; 2]);
            prop_assert_eq!(k1.shard_hash(), k2.shard_hash());
        }
    }

    #[test]
    fn tunnel_separates_flows() {
        use crate::decode::{Tunnel, TunnelKind};
        let t1 = Some(Tunnel {
            kind: TunnelKind::Vxlan,
            vni: 1,
        });
        let t2 = Some(Tunnel {
            kind: TunnelKind::Vxlan,
            vni: 2,
        });
        let (k1, _) = FlowKey::new(6, ep([1, 1, 1, 1], 1), ep([2, 2, 2, 2], 2), t1, [0; 2]);
        let (k2, _) = FlowKey::new(6, ep([1, 1, 1, 1], 1), ep([2, 2, 2, 2], 2), t2, [0; 2]);
        assert_ne!(k1, k2);
        // VLANs too: untagged, 42, and QinQ 10/20 are three flows.
        let keys: Vec<FlowKey> = [[0, 0], [42, 0], [10, 20]]
            .into_iter()
            .map(|v| FlowKey::new(6, ep([1, 1, 1, 1], 1), ep([2, 2, 2, 2], 2), None, v).0)
            .collect();
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
    }
}
