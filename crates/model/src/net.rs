//! Addresses and encapsulation: flow endpoints and tunnels.

use std::net::IpAddr;

/// One side of a flow: an address and a port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
pub struct Endpoint {
    /// IPv4 or IPv6 address.
    pub ip: IpAddr,
    /// TCP/UDP port (0 for protocols without ports; for ICMP flows, see
    /// `flows[].client`).
    pub port: u16,
}

/// `1.2.3.4:80` or `[2001:db8::1]:80`, as a socket address is written.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::net::SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// Encapsulation a packet arrived in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// VXLAN (UDP port 4789).
    Vxlan,
    /// Geneve (UDP port 6081).
    Geneve,
}

impl std::fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
        })
    }
}

/// The overlay an inner flow was carried in. Identical inner tuples in
/// different VNIs are different flows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
pub struct Tunnel {
    /// The encapsulation.
    #[serde(rename = "type")]
    pub kind: TunnelKind,
    /// The virtual network identifier.
    pub vni: u32,
}
