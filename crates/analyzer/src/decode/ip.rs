//! IPv4 and IPv6 (extension headers, fragments) and what sits on top of them.

use std::net::IpAddr;

use etherparse::LaxIpSlice;

use super::dns;

use super::transport::{parse_icmp, parse_tcp, parse_udp_ports};
use super::{decode_tunneled, ipproto, Fragment, Packet, Skip, Transport};
use crate::report::{Tunnel, TunnelKind};

/// UDP ports decoded as VXLAN unless `--vxlan-port` says otherwise: the
/// IANA port and the Linux kernel's default (Flannel, Cilium).
pub const DEFAULT_VXLAN_PORTS: [u16; 2] = [4789, 8472];
/// The VXLAN ports of this run (`set_vxlan_ports`); empty: the defaults.
static VXLAN_PORTS: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();

/// Sets the UDP ports decoded as VXLAN for the whole process (once, before
/// any decoding; later calls are ignored).
pub fn set_vxlan_ports(ports: Vec<u16>) {
    let _ = VXLAN_PORTS.set(ports);
}

fn is_vxlan_port(port: u16) -> bool {
    match VXLAN_PORTS.get() {
        Some(p) => p.contains(&port),
        None => DEFAULT_VXLAN_PORTS.contains(&port),
    }
}
const DNS_PORT: u16 = 53;
const MDNS_PORT: u16 = 5353;
const GENEVE_PORT: u16 = 6081;
/// GTP-U, the user plane of mobile cores.
const GTPU_PORT: u16 = 2152;
/// Teredo: IPv6 in UDP.
const TEREDO_PORT: u16 = 3544;
/// Geneve protocol type for an Ethernet payload ("Transparent Ethernet Bridging").
const ETHERTYPE_TEB: u16 = 0x6558;

/// Decodes an IP packet. `wire_len_hint` is the IP packet's length on the wire
/// as the link layer knows it, used when the IP length field cannot be trusted.
pub(super) fn decode_ip(data: &[u8], wire_len_hint: u32, depth: u8) -> Result<Packet, Skip> {
    let (ip, _ext_err) = LaxIpSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError as E;
        match e {
            E::Len(_) => Skip::TruncatedIp,
            E::Content(_) => Skip::Malformed("IP header"),
        }
    })?;
    let src = ip.source_addr();
    let dst = ip.destination_addr();
    let (ip_len, fragment) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let hdr_len = u32::from(h.ihl()) * 4;
            let total = u32::from(h.total_len());
            // total_len 0 happens with segmentation offload on the capturing
            // host; any other value below the header length is bogus.
            let ip_len = match total {
                0 => wire_len_hint,
                t if t < hdr_len => {
                    return Err(Skip::Malformed("IPv4 total length (below header length)"))
                }
                t => t,
            };
            let offset = u32::from(h.fragments_offset().value()) * 8;
            let frag = (offset != 0 || h.more_fragments()).then_some(Fragment {
                id: u32::from(h.identification()),
                offset,
                more: h.more_fragments(),
            });
            (ip_len, frag)
        }
        LaxIpSlice::Ipv6(v6) => {
            let plen = u32::from(v6.header().payload_length());
            // Zero payload length: jumbogram or offload; trust the link layer.
            let ip_len = if plen > 0 { 40 + plen } else { wire_len_hint };
            let frag = ipv6_fragment(data);
            (ip_len, frag)
        }
    };
    let payload = ip.payload();
    let proto = payload.ip_number.0;
    let l4_offset =
        (payload.payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize) as u32;
    let l4_wire = ip_len.saturating_sub(l4_offset);
    let l4 = payload.payload;
    let mut pkt = Packet {
        ts_ns: 0,
        file: 0,
        interface: 0,
        point: 0,
        clock: 0,
        wire_len: 0,
        src,
        dst,
        proto,
        sport: 0,
        dport: 0,
        ip_len,
        ip_id: match &ip {
            LaxIpSlice::Ipv4(v4) => v4.header().identification(),
            LaxIpSlice::Ipv6(_) => 0,
        },
        payload_len: l4_wire,
        tunnel: None,
        vlan: [0; 2],
        outer: None,
        fragment,
        transport: Transport::Other,
        truncated: payload.incomplete,
        dns: None,
        content: 0,
    };
    if fragment.is_some_and(|f| !f.is_first()) {
        // The transport header is in the first fragment; the flow table joins them.
        return Ok(pkt);
    }
    match proto {
        ipproto::TCP => {
            let (tcp, sport, dport, hdr_len) = parse_tcp(l4)?;
            pkt.sport = sport;
            pkt.dport = dport;
            pkt.payload_len = l4_wire.saturating_sub(hdr_len);
            pkt.transport = Transport::Tcp(tcp);
            pkt.truncated |= tcp.options_truncated;
            // DNS over TCP: a 2-byte length, then the message; only segments
            // that carry one whole message are read. Off port 53 the message
            // must look unmistakably like DNS.
            if pkt.payload_len > 2 {
                if let Some(body) = l4.get(hdr_len as usize..) {
                    if body.len() >= 14
                        && usize::from(u16::from_be_bytes([body[0], body[1]])) == body.len() - 2
                    {
                        let dns_port = sport == DNS_PORT || dport == DNS_PORT;
                        pkt.dns = dns::parse(&body[2..], dns_port).map(Box::new);
                    }
                }
            }
        }
        ipproto::UDP => {
            let (sport, dport) = parse_udp_ports(l4)?;
            pkt.sport = sport;
            pkt.dport = dport;
            pkt.payload_len = l4_wire.saturating_sub(8);
            pkt.transport = Transport::Udp;
            pkt.content = content_hash(l4.get(8..).unwrap_or(&[]));
            if fragment.is_none() {
                if let Some(inner) = tunnel(&pkt, l4, depth) {
                    return inner;
                }
                if let Some(body) = l4.get(8..) {
                    let dns_port = [sport, dport]
                        .iter()
                        .any(|p| *p == DNS_PORT || *p == MDNS_PORT);
                    pkt.dns = dns::parse(body, dns_port).map(Box::new);
                }
            }
        }
        ipproto::IPIP | ipproto::IPV6 if fragment.is_none() => {
            let inner = decode_tunneled(l4, false, l4_wire, depth);
            return inner.map(|mut p| {
                p.tunnel = Some(Tunnel {
                    kind: TunnelKind::Ipip,
                    vni: 0,
                });
                p.outer = Some((src, dst));
                p
            });
        }
        ipproto::GRE if fragment.is_none() => {
            if let Some(inner) = gre(l4, l4_wire, depth) {
                return inner.map(|mut p| {
                    p.outer = Some((src, dst));
                    p
                });
            }
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            let icmp = parse_icmp(proto == ipproto::ICMPV6, l4)?;
            pkt.payload_len = l4_wire.saturating_sub(8);
            // Type, code and what follows the checksum (id, sequence, data).
            pkt.content =
                content_hash(l4.get(..2).unwrap_or(&[])) ^ content_hash(l4.get(4..).unwrap_or(&[]));
            // Echo requests and replies are told apart by identifier, like ports.
            if let Some(id) = icmp.echo_id {
                pkt.sport = id;
                pkt.dport = id;
            }
            pkt.transport = Transport::Icmp(icmp);
        }
        _ => pkt.content = content_hash(l4),
    }
    Ok(pkt)
}

/// Payload bytes a content hash covers: enough to tell datagrams apart
/// (a DNS id and question start), few enough for any snap length.
const CONTENT_BYTES: usize = 24;

/// FNV-1a over the first [`CONTENT_BYTES`] bytes: the same packet hashes
/// the same at every capture point (addresses and ports, which address
/// translation rewrites, are not included).
fn content_hash(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b.iter().take(CONTENT_BYTES) {
        h = (h ^ u32::from(x)).wrapping_mul(0x0100_0193);
    }
    h
}

/// The fragment header of an IPv6 packet, if it fragments the payload.
///
/// Walked by hand with a bounds check at every step: etherparse's extension
/// iterator can read past its slice on malformed headers (found by the
/// robustness tests), so it is not used.
fn ipv6_fragment(packet: &[u8]) -> Option<Fragment> {
    let mut next = *packet.get(6)?;
    let mut at = 40usize;
    // Extension headers a packet may carry before the fragment header.
    for _ in 0..8 {
        let h = packet.get(at..at + 8)?;
        match next {
            44 => {
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                let offset = u32::from(off_flags >> 3) * 8;
                let more = off_flags & 1 == 1;
                // An atomic fragment (offset 0, no more) fragments nothing.
                return (offset != 0 || more).then(|| Fragment {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    offset,
                    more,
                });
            }
            0 | 43 | 60 => {
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            51 => {
                next = h[0];
                at += (usize::from(h[1]) + 2) * 4;
            }
            _ => return None,
        }
    }
    None
}

/// Decapsulates VXLAN and Geneve. Returns `None` when the payload is not a
/// well-formed tunnel header, in which case the UDP packet stands as it is.
/// Behind a valid header the packet belongs to the overlay: an inner frame
/// that is not IP (ARP in the overlay) is skipped as such, not shown as the
/// outer UDP packet.
fn tunnel(outer: &Packet, udp: &[u8], depth: u8) -> Option<Result<Packet, Skip>> {
    let body = udp.get(8..)?;
    let inner_wire = outer.payload_len;
    let (kind, vni, inner, ethernet, hdr) = if is_vxlan_port(outer.dport) {
        // flags(1: I bit 0x08) reserved(3) VNI(3) reserved(1)
        let h = body.get(..8)?;
        if h[0] & 0x08 == 0 {
            return None;
        }
        let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        (TunnelKind::Vxlan, vni, body.get(8..)?, true, 8u32)
    } else if outer.dport == GENEVE_PORT {
        // ver(2) optlen(6) | O C rsvd(6) | protocol(16) | VNI(24) rsvd(8) | options
        let h = body.get(..8)?;
        if h[0] >> 6 != 0 {
            return None;
        }
        let opt_len = usize::from(h[0] & 0x3f) * 4;
        let proto = u16::from_be_bytes([h[2], h[3]]);
        let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        let ethernet = match proto {
            ETHERTYPE_TEB => true,
            0x0800 | 0x86dd => false,
            _ => return None,
        };
        let hdr = 8 + opt_len;
        (
            TunnelKind::Geneve,
            vni,
            body.get(hdr..)?,
            ethernet,
            hdr as u32,
        )
    } else if outer.dport == GTPU_PORT || outer.sport == GTPU_PORT {
        // flags(1: version 1, PT 1, E S PN) type(1: 0xff G-PDU) length(2)
        // TEID(4) [seq(2) N-PDU(1) next extension type(1)] [extensions]
        let h = body.get(..8)?;
        if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xff {
            return None;
        }
        let teid = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let mut at = 8;
        if h[0] & 0x07 != 0 {
            let mut next = *body.get(11)?;
            at = 12;
            // Extension headers: length in 4-byte units, the last byte names the next.
            while next != 0 {
                let len = usize::from(*body.get(at)?) * 4;
                if len == 0 {
                    return None;
                }
                next = *body.get(at + len - 1)?;
                at += len;
            }
        }
        let inner = body.get(at..)?;
        if !matches!(inner.first().map(|b| b >> 4), Some(4 | 6)) {
            return None;
        }
        (TunnelKind::Gtp, teid, inner, false, at as u32)
    } else {
        teredo(outer, body)?
    };
    let inner = decode_tunneled(inner, ethernet, inner_wire.saturating_sub(hdr), depth);
    Some(inner.map(|mut pkt| {
        // The outermost tunnel names the overlay the flow travelled in.
        pkt.tunnel = Some(Tunnel { kind, vni });
        pkt.outer = Some((outer.src, outer.dst));
        pkt
    }))
}

/// What a tunnel header says: its kind, id, the inner bytes, whether they
/// are an Ethernet frame, and the header's length.
type TunnelHeader<'a> = (TunnelKind, u32, &'a [u8], bool, u32);

/// Teredo: IPv6 in UDP, on port 3544 or, between a client and a relay, on
/// any port when the datagram is exactly one IPv6 packet with a Teredo
/// address (2001::/32) at one end.
fn teredo<'a>(outer: &Packet, body: &'a [u8]) -> Option<TunnelHeader<'a>> {
    let on_port = outer.dport == TEREDO_PORT || outer.sport == TEREDO_PORT;
    // IPv6 in UDP, after an optional authentication indicator (0x0001,
    // id and auth lengths, their bytes, nonce 8, confirmation 1) and an
    // optional origin indication (0x0000, 6 bytes).
    let mut at = 0;
    if body.get(..2)? == [0, 1] {
        let (id, auth) = (usize::from(*body.get(2)?), usize::from(*body.get(3)?));
        at += 4 + id + auth + 9;
    }
    if body.get(at..at + 2)? == [0, 0] {
        at += 8;
    }
    let inner = body.get(at..)?;
    // An IPv6 header whose payload length fits what the datagram carries.
    let plen = usize::from(u16::from_be_bytes([*inner.get(4)?, *inner.get(5)?]));
    let inner_wire = outer.payload_len as usize;
    if inner.first()? >> 4 != 6 || 40 + plen != inner_wire.saturating_sub(at) {
        return None;
    }
    let teredo_addr = |a: &[u8]| a.get(..4) == Some(&[0x20, 0x01, 0, 0][..]);
    if !(on_port || teredo_addr(inner.get(8..24)?) || teredo_addr(inner.get(24..40)?)) {
        return None;
    }
    Some((TunnelKind::Teredo, 0, inner, false, at as u32))
}

/// Decapsulates GRE version 0 carrying IP or Ethernet (RFC 2784/2890: the
/// optional checksum, key and sequence number words by their flags).
/// `None` for other payloads (PPTP's GRE version 1, ERSPAN, …): the packet
/// stands as a GRE flow.
fn gre(l4: &[u8], l4_wire: u32, depth: u8) -> Option<Result<Packet, Skip>> {
    let h = l4.get(..4)?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    if flags & 0x0007 != 0 {
        return None; // version 1 (PPTP) or unknown
    }
    let proto = u16::from_be_bytes([h[2], h[3]]);
    let ethernet = match proto {
        ETHERTYPE_TEB => true,
        0x0800 | 0x86dd => false,
        _ => return None,
    };
    let (csum, key, seq) = (
        flags & 0x8000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    let mut at = 4;
    if csum {
        at += 4;
    }
    let vni = if key {
        let k = l4.get(at..at + 4)?;
        at += 4;
        u32::from_be_bytes([k[0], k[1], k[2], k[3]])
    } else {
        0
    };
    if seq {
        at += 4;
    }
    let inner = l4.get(at..)?;
    let inner = decode_tunneled(inner, ethernet, l4_wire.saturating_sub(at as u32), depth);
    Some(inner.map(|mut p| {
        p.tunnel = Some(Tunnel {
            kind: TunnelKind::Gre,
            vni,
        });
        p
    }))
}

/// Addresses of an IP header, for ICMP quotes.
pub(super) fn quoted_addrs(data: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    let (ip, _) = LaxIpSlice::from_slice(data).ok()?;
    let payload = ip.payload();
    Some((
        ip.source_addr(),
        ip.destination_addr(),
        payload.ip_number.0,
        payload.payload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(total_len: u16) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 2, 0, 38, 0, 0]);
        p.extend_from_slice(&[b'w'; 30]);
        p
    }

    fn ipv4_udp_with(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + 8 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn dns_is_recognized_on_any_port_only_when_unmistakable() {
        // A standard query for "svc.test" (one question, A/IN).
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03svc\x04test\x00\x00\x01\x00\x01");
        let p = decode_ip(&ipv4_udp_with(40000, 5300, &q), 0, 0).unwrap();
        let m = p.dns.expect("DNS on port 5300");
        assert_eq!(
            (m.id, m.qname.as_str(), m.response),
            (0x1234, "svc.test", false)
        );
        // Arbitrary bytes on other ports are not DNS.
        let junk = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(decode_ip(&ipv4_udp_with(40000, 8080, junk), 0, 0)
            .unwrap()
            .dns
            .is_none());
    }

    #[test]
    fn ipv4_total_length_below_header_is_malformed() {
        assert!(matches!(
            decode_ip(&ipv4_udp(10), 58, 0),
            Err(Skip::Malformed(_))
        ));
        // Zero (segmentation offload) falls back to the frame's length.
        let p = decode_ip(&ipv4_udp(0), 58, 0).unwrap();
        assert_eq!((p.ip_len, p.payload_len), (58, 30));
        let p = decode_ip(&ipv4_udp(58), 9999, 0).unwrap();
        assert_eq!((p.ip_len, p.payload_len, p.sport, p.dport), (58, 30, 1, 2));
    }
}
