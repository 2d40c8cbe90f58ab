//! Link layers: Ethernet (with 802.1Q/802.1ad tags), Linux cooked SLL and
//! SLL2, raw IP, and BSD loopback. Each returns the bytes from the IP header on.

use super::Skip;

pub const LINKTYPE_NULL: u16 = 0;
pub const LINKTYPE_ETHERNET: u16 = 1;
/// DLT_RAW as written on most systems (12 on OpenBSD, 14 on some others).
pub const LINKTYPE_RAW: u16 = 101;
pub const DLT_RAW_ALT1: u16 = 12;
pub const DLT_RAW_ALT2: u16 = 14;
pub const LINKTYPE_LOOP: u16 = 108;
pub const LINKTYPE_LINUX_SLL: u16 = 113;
pub const LINKTYPE_IPV4: u16 = 228;
pub const LINKTYPE_IPV6: u16 = 229;
pub const LINKTYPE_NFLOG: u16 = 239;
pub const LINKTYPE_LINUX_SLL2: u16 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ tag type still emitted by some switches.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// MPLS unicast and multicast: a label stack, then (here) an IP packet.
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// Labels followed before giving up.
const MAX_MPLS_LABELS: usize = 8;
/// Tags followed before giving up: real frames carry at most two.
const MAX_VLAN_TAGS: usize = 4;

/// Link-layer families the analyzer decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    RawIp,
    Null,
    /// Linux netfilter log (`tcpdump -i nflog:N`): packets logged by nftables/iptables rules.
    Nflog,
}

impl LinkKind {
    pub fn of(linktype: u16) -> Option<LinkKind> {
        Some(match linktype {
            LINKTYPE_ETHERNET => LinkKind::Ethernet,
            LINKTYPE_LINUX_SLL => LinkKind::LinuxSll,
            LINKTYPE_LINUX_SLL2 => LinkKind::LinuxSll2,
            LINKTYPE_RAW | DLT_RAW_ALT1 | DLT_RAW_ALT2 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
                LinkKind::RawIp
            }
            LINKTYPE_NULL | LINKTYPE_LOOP => LinkKind::Null,
            LINKTYPE_NFLOG => LinkKind::Nflog,
            _ => return None,
        })
    }
}

/// Human name of a link type, for reports.
pub fn linktype_name(linktype: u16) -> &'static str {
    match linktype {
        LINKTYPE_NULL => "NULL (BSD loopback)",
        LINKTYPE_ETHERNET => "Ethernet",
        LINKTYPE_RAW | DLT_RAW_ALT1 | DLT_RAW_ALT2 => "raw IP",
        LINKTYPE_LOOP => "OpenBSD loopback",
        LINKTYPE_LINUX_SLL => "Linux cooked (SLL)",
        LINKTYPE_IPV4 => "raw IPv4",
        LINKTYPE_IPV6 => "raw IPv6",
        LINKTYPE_LINUX_SLL2 => "Linux cooked v2 (SLL2)",
        LINKTYPE_NFLOG => "Linux netfilter log (NFLOG)",
        105 => "IEEE 802.11",
        127 => "IEEE 802.11 radiotap",
        147..=162 => "user-defined (DLT_USER)",
        _ => "unknown",
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// Interfaces named by a Linux cooked v2 header are numbered from here,
/// apart from a pcapng file's own interface numbers.
pub const SLL2_IFINDEX_BASE: u32 = 1 << 31;

/// The interface a Linux cooked v2 frame names (its interface index, from
/// [`SLL2_IFINDEX_BASE`]). SLL v1 has no interface, only a direction, and a
/// host's `-i any` capture sees each packet once, in or out: it stays one point.
pub fn capture_interface(linktype: u16, data: &[u8]) -> Option<u32> {
    match linktype {
        LINKTYPE_LINUX_SLL2 => {
            let ifindex = u32::from_be_bytes(data.get(4..8)?.try_into().ok()?);
            Some(SLL2_IFINDEX_BASE | (ifindex & !SLL2_IFINDEX_BASE))
        }
        _ => None,
    }
}

/// The VLAN ids of a frame's 802.1Q/802.1ad tags, outer first (0: no tag;
/// a tag with id 0 only carries a priority). Like Zeek, flows on different
/// VLANs are different flows.
pub fn vlan_ids(linktype: u16, data: &[u8]) -> [u16; 2] {
    let (mut ethertype, mut at) = match LinkKind::of(linktype) {
        Some(LinkKind::Ethernet) => (be16(data, 12), 14),
        Some(LinkKind::LinuxSll) => (be16(data, 14), 16),
        Some(LinkKind::LinuxSll2) => (be16(data, 0), 20),
        _ => return [0; 2],
    };
    let mut ids = [0; 2];
    let mut n = 0;
    while let Some(ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) = ethertype {
        let Some(tci) = be16(data, at) else { break };
        if n < ids.len() {
            ids[n] = tci & 0x0fff;
            n += 1;
        } else {
            break;
        }
        ethertype = be16(data, at + 2);
        at += 4;
    }
    ids
}

/// Removes the link-layer header and returns the IP packet.
pub fn strip(linktype: u16, data: &[u8]) -> Result<&[u8], Skip> {
    let kind = LinkKind::of(linktype).ok_or(Skip::UnsupportedLinkType(linktype))?;
    match kind {
        LinkKind::Ethernet => {
            let ethertype = be16(data, 12).ok_or(Skip::Malformed("Ethernet header"))?;
            by_ethertype(ethertype, data, 14)
        }
        LinkKind::LinuxSll => {
            // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
            let proto = be16(data, 14).ok_or(Skip::Malformed("Linux SLL header"))?;
            by_ethertype(proto, data, 16)
        }
        LinkKind::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
            let proto = be16(data, 0).ok_or(Skip::Malformed("Linux SLL2 header"))?;
            if data.len() < 20 {
                return Err(Skip::Malformed("Linux SLL2 header"));
            }
            by_ethertype(proto, data, 20)
        }
        LinkKind::RawIp => match data.first().map(|b| b >> 4) {
            Some(4) | Some(6) => Ok(data),
            Some(_) => Err(Skip::Malformed("raw IP version")),
            None => Err(Skip::Malformed("empty frame")),
        },
        LinkKind::Nflog => nflog_payload(data),
        LinkKind::Null => {
            let af: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::Malformed("loopback header"))?;
            // The family is in the capturing host's byte order (network order
            // for LINKTYPE_LOOP): accept either.
            let le = u32::from_le_bytes(af);
            let be = u32::from_be_bytes(af);
            let is = |v: u32| [le, be].contains(&v);
            if is(2) || (is(24) || is(28) || is(30)) {
                ip_version_checked(&data[4..])
            } else {
                Err(Skip::NotIp)
            }
        }
    }
}

/// NFLOG: a 4-byte header (family, version, resource id), then TLVs
/// (length and type in the capturing host's byte order, padded to 4 bytes);
/// the packet is the NFULA_PAYLOAD (type 9) TLV.
fn nflog_payload(data: &[u8]) -> Result<&[u8], Skip> {
    const NFULA_PAYLOAD: u16 = 9;
    let family = *data.first().ok_or(Skip::Malformed("NFLOG header"))?;
    // AF_INET = 2, AF_INET6 = 10; anything else carries no IP packet.
    if family != 2 && family != 10 {
        return Err(Skip::NotIp);
    }
    for little in [true, false] {
        let mut at = 4;
        while let Some(h) = data.get(at..at + 4) {
            let (len, kind) = if little {
                (
                    u16::from_le_bytes([h[0], h[1]]),
                    u16::from_le_bytes([h[2], h[3]]),
                )
            } else {
                (
                    u16::from_be_bytes([h[0], h[1]]),
                    u16::from_be_bytes([h[2], h[3]]),
                )
            };
            let len = usize::from(len);
            if len < 4 {
                break;
            }
            if kind == NFULA_PAYLOAD {
                let end = (at + len).min(data.len());
                return ip_version_checked(&data[at + 4..end]);
            }
            at += len.div_ceil(4) * 4;
        }
    }
    Err(Skip::Malformed("NFLOG (no payload TLV)"))
}

fn ip_version_checked(ip: &[u8]) -> Result<&[u8], Skip> {
    match ip.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(ip),
        _ => Err(Skip::Malformed("IP version")),
    }
}

/// Follows VLAN tags from an ethertype at `data[at-2..at]` to the IP header.
fn by_ethertype(mut ethertype: u16, data: &[u8], mut at: usize) -> Result<&[u8], Skip> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => {
                return data.get(at..).ok_or(Skip::Malformed("link header"));
            }
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                // TCI(2) then the next ethertype.
                ethertype = be16(data, at + 2).ok_or(Skip::Malformed("VLAN tag"))?;
                at += 4;
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
                // Label stack entries of 4 bytes up to the one with the
                // bottom-of-stack bit; what follows is told by its version.
                for _ in 0..MAX_MPLS_LABELS {
                    let entry = data.get(at..at + 4).ok_or(Skip::Malformed("MPLS label"))?;
                    at += 4;
                    if entry[2] & 0x01 != 0 {
                        return match data.get(at).map(|b| b >> 4) {
                            Some(4 | 6) => Ok(&data[at..]),
                            // A pseudowire (Ethernet over MPLS) and the like.
                            _ => Err(Skip::NotIp),
                        };
                    }
                }
                return Err(Skip::Malformed("too many MPLS labels"));
            }
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::Malformed("too many VLAN tags"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_two_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 20]);
        let ip = strip(LINKTYPE_ETHERNET, &f).unwrap();
        assert_eq!(ip[0], 0x45);
        assert_eq!(ip.len(), 4);
        assert_eq!(vlan_ids(LINKTYPE_ETHERNET, &f), [10, 20]);
        // One tag; no tag; a tag cut short.
        let mut one = vec![0u8; 12];
        one.extend_from_slice(&[0x81, 0x00, 0x20, 0x2a, 0x08, 0x00, 0x45]);
        assert_eq!(vlan_ids(LINKTYPE_ETHERNET, &one), [42, 0]);
        assert_eq!(vlan_ids(LINKTYPE_ETHERNET, &f[..12]), [0, 0]);
        assert_eq!(vlan_ids(LINKTYPE_ETHERNET, &f[..15]), [0, 0]);
        assert_eq!(vlan_ids(LINKTYPE_RAW, &f), [0, 0]);
    }

    #[test]
    fn non_ip_and_unknown() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(strip(LINKTYPE_ETHERNET, &f), Err(Skip::NotIp));
        assert_eq!(strip(147, &f), Err(Skip::UnsupportedLinkType(147)));
        assert!(matches!(
            strip(LINKTYPE_ETHERNET, &f[..5]),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn nflog_payload_tlv() {
        // header, a 8-byte prefix TLV (type 1), then the payload TLV (type 9).
        let mut f = vec![2u8, 0, 0, 5];
        f.extend_from_slice(&[8, 0, 1, 0, 0x08, 0x00, 3, 0]);
        f.extend_from_slice(&[8, 0, 9, 0, 0x45, 0, 0, 4]);
        assert_eq!(strip(LINKTYPE_NFLOG, &f).unwrap(), &[0x45, 0, 0, 4]);
        f[0] = 7;
        assert_eq!(strip(LINKTYPE_NFLOG, &f), Err(Skip::NotIp));
    }

    #[test]
    fn bsd_null_both_orders() {
        let le = [2u8, 0, 0, 0, 0x45, 0];
        let be = [0u8, 0, 0, 30, 0x60, 0];
        assert_eq!(strip(LINKTYPE_NULL, &le).unwrap()[0], 0x45);
        assert_eq!(strip(LINKTYPE_LOOP, &be).unwrap()[0], 0x60);
    }
}
