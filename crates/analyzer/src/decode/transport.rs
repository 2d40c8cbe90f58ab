//! TCP, UDP and ICMP headers.
//!
//! TCP is parsed by hand from the fixed header so that a snaplen that cuts
//! through the options still yields flags, sequence numbers and window.

use super::ip::quoted_addrs;
use super::{ipproto, IcmpSummary, Quoted, Skip};

/// TCP flag bits as on the wire (low 9 bits of bytes 12-13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;

    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
}

/// Most SACK blocks a TCP option can carry.
pub const MAX_SACK_BLOCKS: usize = 4;

/// The parts of a TCP header that analysis uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpSummary {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Window field as sent (not scaled).
    pub window: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: [(u32, u32); MAX_SACK_BLOCKS],
    pub sack_count: u8,
    /// TSval, TSecr.
    pub timestamps: Option<(u32, u32)>,
    /// The capture ended inside the TCP options.
    pub options_truncated: bool,
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Parses a TCP header; returns it with the ports and the header length.
pub(super) fn parse_tcp(l4: &[u8]) -> Result<(TcpSummary, u16, u16, u32), Skip> {
    if l4.len() < 20 {
        return Err(Skip::Malformed("TCP header (captured bytes end inside it)"));
    }
    let sport = be16(l4, 0);
    let dport = be16(l4, 2);
    let hdr_len = usize::from(l4[12] >> 4) * 4;
    if hdr_len < 20 {
        return Err(Skip::Malformed("TCP header (data offset below 5)"));
    }
    let mut t = TcpSummary {
        seq: be32(l4, 4),
        ack: be32(l4, 8),
        flags: TcpFlags(be16(l4, 12) & 0x01ff),
        window: be16(l4, 14),
        ..TcpSummary::default()
    };
    let opts_end = hdr_len.min(l4.len());
    t.options_truncated = opts_end < hdr_len;
    parse_tcp_options(&l4[20..opts_end], &mut t);
    Ok((t, sport, dport, hdr_len as u32))
}

fn parse_tcp_options(mut o: &[u8], t: &mut TcpSummary) {
    while let Some(&kind) = o.first() {
        match kind {
            0 => break,
            1 => {
                o = &o[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = o.get(1) else {
            t.options_truncated = true;
            break;
        };
        let len = usize::from(len);
        if len < 2 || len > o.len() {
            t.options_truncated |= len > o.len();
            break;
        }
        let body = &o[2..len];
        match (kind, body.len()) {
            (2, 2) => t.mss = Some(be16(body, 0)),
            (3, 1) => t.window_scale = Some(body[0]),
            (4, 0) => t.sack_permitted = true,
            (5, n) if n % 8 == 0 => {
                for chunk in body.chunks_exact(8).take(MAX_SACK_BLOCKS) {
                    t.sack_blocks[usize::from(t.sack_count)] = (be32(chunk, 0), be32(chunk, 4));
                    t.sack_count += 1;
                }
            }
            (8, 8) => t.timestamps = Some((be32(body, 0), be32(body, 4))),
            _ => {}
        }
        o = &o[len..];
    }
}

pub(super) fn parse_udp_ports(l4: &[u8]) -> Result<(u16, u16), Skip> {
    if l4.len() < 4 {
        return Err(Skip::Malformed("UDP header (captured bytes end inside it)"));
    }
    Ok((be16(l4, 0), be16(l4, 2)))
}

/// Parses ICMP/ICMPv6 type, code, echo identifier, and the packet an error quotes.
pub(super) fn parse_icmp(v6: bool, l4: &[u8]) -> Result<IcmpSummary, Skip> {
    if l4.len() < 4 {
        return Err(Skip::Malformed(
            "ICMP header (captured bytes end inside it)",
        ));
    }
    let (icmp_type, code) = (l4[0], l4[1]);
    let (is_echo, is_request, is_error) = if v6 {
        // 1 unreachable, 2 too big, 3 time exceeded, 4 parameter problem; 128/129 echo
        (
            matches!(icmp_type, 128 | 129),
            icmp_type == 128,
            icmp_type < 128 && (1..=4).contains(&icmp_type),
        )
    } else {
        // 3 unreachable, 4 source quench, 5 redirect, 11 time exceeded, 12 parameter problem
        (
            matches!(icmp_type, 0 | 8),
            icmp_type == 8,
            matches!(icmp_type, 3 | 4 | 5 | 11 | 12),
        )
    };
    let echo_id = if is_echo && l4.len() >= 6 {
        Some(be16(l4, 4))
    } else {
        None
    };
    let quoted = if is_error {
        l4.get(8..).and_then(quote)
    } else {
        None
    };
    let mtu = match (v6, icmp_type, code) {
        (false, 3, 4) => l4
            .get(6..8)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]]))),
        (true, 2, _) => l4
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => None,
    }
    .filter(|&m| m > 0);
    Ok(IcmpSummary {
        icmp_type,
        code,
        echo_id,
        is_request,
        quoted,
        mtu,
    })
}

fn quote(inner: &[u8]) -> Option<Quoted> {
    let (src, dst, proto, l4) = quoted_addrs(inner)?;
    let (sport, dport) = match proto {
        ipproto::TCP | ipproto::UDP => (be16(l4.get(..4)?, 0), be16(l4, 2)),
        _ => (0, 0),
    };
    Some(Quoted {
        src,
        dst,
        proto,
        sport,
        dport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_header(opts: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&1234u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[4..8].copy_from_slice(&0xfffffff0u32.to_be_bytes());
        h[12] = (((20 + opts.len()) / 4) as u8) << 4;
        h[13] = 0x12;
        h[14..16].copy_from_slice(&65535u16.to_be_bytes());
        h.extend_from_slice(opts);
        h
    }

    #[test]
    fn tcp_options_are_read() {
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
        ];
        let (t, sp, dp, len) = parse_tcp(&tcp_header(&opts)).unwrap();
        assert_eq!((sp, dp, len), (1234, 80, 40));
        assert_eq!(t.mss, Some(1460));
        assert!(t.sack_permitted);
        assert_eq!(t.timestamps, Some((1, 2)));
        assert_eq!(t.window_scale, Some(7));
        assert!(t.flags.syn() && t.flags.ack());
        assert!(!t.options_truncated);
    }

    #[test]
    fn truncated_options_are_flagged_not_fatal() {
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
        ];
        let full = tcp_header(&opts);
        let (t, ..) = parse_tcp(&full[..26]).unwrap();
        assert!(t.options_truncated);
        assert_eq!(t.mss, Some(1460));
        assert!(parse_tcp(&full[..19]).is_err());
    }
}
