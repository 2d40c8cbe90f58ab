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
    /// VXLAN (UDP port 4789, and 8472 as Linux, Flannel and Cilium use by
    /// default; `--vxlan-port` sets them).
    Vxlan,
    /// Geneve (UDP port 6081).
    Geneve,
    /// IP in IP (IP protocol 4 or 41: 4in4, 6in4, 4in6, 6in6; Calico's
    /// IPIP mode); `vni` is 0.
    Ipip,
    /// GRE (IP protocol 47) carrying IP or Ethernet (transparent Ethernet
    /// bridging); `vni` is the GRE key, 0 without one.
    Gre,
    /// Teredo (IPv6 in UDP, port 3544); `vni` is 0.
    Teredo,
    /// GTP-U (mobile core user plane, UDP port 2152); `vni` is the TEID.
    Gtp,
}

impl std::fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gre => "gre",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Gtp => "gtp",
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
