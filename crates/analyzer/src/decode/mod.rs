//! Packet decoding: link layer, tunnels, IP and transport headers, reduced to
//! a small owned [`Packet`] summary that the flow table consumes.
//!
//! Decoding is lax about truncation on purpose: snaplen-cut captures are the
//! norm, so lengths on the wire come from the IP headers, never from the
//! number of captured bytes.

pub mod dns;
mod ip;
mod link;
mod transport;

use std::fmt;
use std::net::IpAddr;

pub use crate::report::{Tunnel, TunnelKind};
pub use ip::{set_vxlan_ports, DEFAULT_VXLAN_PORTS};
pub use link::{
    linktype_name, LinkKind, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, SLL2_IFINDEX_BASE,
};
pub use transport::{TcpFlags, TcpSummary};

/// IP protocol numbers used by the analyzer.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
}

/// IP fragment position of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Fragment offset in bytes.
    pub offset: u32,
    pub more: bool,
}

impl Fragment {
    /// The first fragment carries the transport header.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// An ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpSummary {
    pub icmp_type: u8,
    pub code: u8,
    /// Echo identifier, for echo requests and replies.
    pub echo_id: Option<u16>,
    /// True for echo request (the originator's message).
    pub is_request: bool,
    /// For errors: the packet it quotes.
    pub quoted: Option<Quoted>,
    /// The next-hop MTU of "fragmentation needed" (ICMP 3/4, when not 0) and
    /// "packet too big" (ICMPv6 2).
    pub mtu: Option<u32>,
}

/// The 5-tuple of the packet an ICMP error quotes, in that packet's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// Transport-specific part of a packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transport {
    Tcp(TcpSummary),
    Udp,
    Icmp(IcmpSummary),
    /// Another IP protocol, or a non-first fragment whose transport header is elsewhere.
    Other,
}

/// A decoded packet: what flow analysis needs, owned and small.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub ts_ns: i64,
    /// Index of the input file.
    pub file: u16,
    /// The interface that captured it, within its file: the pcapng
    /// interface, else the Linux cooked v2 header's interface index (plus
    /// [`SLL2_IFINDEX_BASE`]), else 0.
    pub interface: u32,
    /// The capture point (file × interface) in the run, set by the pipeline.
    pub point: u16,
    /// The clock of its timestamps: the first file of its point.
    pub clock: u16,
    /// Frame length on the wire.
    pub wire_len: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol of the innermost IP header (after extension headers).
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// Total length of the innermost IP packet on the wire (header included).
    pub ip_len: u32,
    /// IPv4 identification of the innermost header (0 for IPv6).
    pub ip_id: u16,
    /// Transport payload length on the wire (retransmissions included).
    pub payload_len: u32,
    pub tunnel: Option<Tunnel>,
    /// VLAN ids of the frame, outer first (0: none): part of the flow's identity.
    pub vlan: [u16; 2],
    /// The outermost tunnel's IP addresses (source, destination): the nodes
    /// that carried the packet; `None` outside a tunnel.
    pub outer: Option<(IpAddr, IpAddr)>,
    pub fragment: Option<Fragment>,
    pub transport: Transport,
    /// Fewer bytes were captured than the headers needed (snaplen).
    pub truncated: bool,
    /// A DNS message carried by this packet (UDP, or a whole message in a TCP segment).
    pub dns: Option<Box<dns::DnsMsg>>,
    /// Hash of the first payload bytes captured (UDP, ICMP and other
    /// non-TCP packets; 0 for TCP, whose sequence numbers tell packets
    /// apart): matches one packet seen at several capture points.
    pub content: u32,
}

/// Why a frame produced no packet. Each reason is counted, never silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// A non-IP frame (ARP, LLDP, …): normal, not an error.
    NotIp,
    /// Link type the analyzer does not decode.
    UnsupportedLinkType(u16),
    /// Headers shorter than their minimum or inconsistent.
    Malformed(&'static str),
    /// Truncated before the IP header ended.
    TruncatedIp,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotIp => f.write_str("not IP"),
            Skip::UnsupportedLinkType(l) => {
                write!(f, "unsupported link type {} ({})", l, linktype_name(*l))
            }
            Skip::Malformed(what) => write!(f, "malformed {what}"),
            Skip::TruncatedIp => f.write_str("captured bytes end inside the IP header"),
        }
    }
}

/// Deepest tunnel nesting followed; more is treated as the outer packet.
const MAX_TUNNEL_DEPTH: u8 = 3;

/// Decodes one captured frame.
pub fn decode(
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    ts_ns: i64,
    file: u16,
    interface: u32,
) -> Result<Packet, Skip> {
    let l3 = link::strip(linktype, data)?;
    // Bytes of the frame on the wire before the IP header.
    let link_hdr = (data.len() - l3.len()) as u32;
    let wire_ip_len = orig_len.saturating_sub(link_hdr);
    let mut pkt = ip::decode_ip(l3, wire_ip_len, 0)?;
    pkt.ts_ns = ts_ns;
    pkt.file = file;
    pkt.interface = link::capture_interface(linktype, data).unwrap_or(interface);
    pkt.vlan = link::vlan_ids(linktype, data);
    pkt.wire_len = orig_len;
    Ok(pkt)
}

/// Decodes the payload of a tunnel: an Ethernet frame or an IP packet.
fn decode_tunneled(inner: &[u8], ethernet: bool, wire_len: u32, depth: u8) -> Result<Packet, Skip> {
    if depth >= MAX_TUNNEL_DEPTH {
        return Err(Skip::Malformed("tunnel nesting"));
    }
    let l3 = if ethernet {
        link::strip(link::LINKTYPE_ETHERNET, inner)?
    } else {
        inner
    };
    let hdr = (inner.len() - l3.len()) as u32;
    ip::decode_ip(l3, wire_len.saturating_sub(hdr), depth + 1)
}
