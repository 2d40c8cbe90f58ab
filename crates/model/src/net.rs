//! Addresses and encapsulation: flow endpoints and tunnels.

use std::net::IpAddr;

/// One side of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// `1.2.3.4:80` or `[2001:db8::1]:80`, as a socket address is written.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::net::SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// Encapsulation a packet arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    Vxlan,
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

/// The tunnel an inner packet was carried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Tunnel {
    #[serde(rename = "type")]
    pub kind: TunnelKind,
    pub vni: u32,
}
