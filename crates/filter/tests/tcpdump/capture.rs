//! Reading captures (pcap-parser), decoding their frames into the view the
//! filter tests (etherparse), and writing a pcap file for tcpdump to read.
//!
//! The decoding stands in for the analyzer's: IP header addresses,
//! upper-layer protocol after IPv6 extension headers, ports for TCP, UDP
//! and SCTP, fragment position, VLAN ids, wire length.

use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use etherparse::{EtherType, Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket};
use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};
use retina_filter::{Fragment, PacketView};

/// One frame of a capture. Frames are identified by timestamp, length on
/// the wire and bytes, so the frames tcpdump writes can be matched to the
/// frames read here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub ts_ns: i128,
    pub orig_len: u32,
    pub data: Vec<u8>,
    pub linktype: u16,
}

impl Frame {
    pub fn identity(&self) -> (i128, u32, Vec<u8>) {
        (self.ts_ns, self.orig_len, self.data.clone())
    }
}

/// Every frame of a pcap or pcapng file, timestamps in nanoseconds.
pub fn read(path: &Path) -> Result<Vec<Frame>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader =
        create_reader(1 << 20, file).map_err(|e| format!("{}: {e:?}", path.display()))?;
    let mut frames = Vec::new();
    // pcap: (linktype, nanosecond precision); pcapng: per interface
    // (linktype, units per second, offset in seconds).
    let mut legacy = (0u16, false);
    let mut interfaces: Vec<(u16, u64, i64)> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = (h.network.0 as u16, h.is_nanosecond_precision());
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = if legacy.1 { 1 } else { 1_000 };
                        frames.push(Frame {
                            ts_ns: i128::from(b.ts_sec) * 1_000_000_000
                                + i128::from(b.ts_usec) * frac,
                            orig_len: b.origlen,
                            data: b.data.to_vec(),
                            linktype: legacy.0,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let resolution = idb
                            .ts_resolution()
                            .ok_or_else(|| format!("{}: bad if_tsresol", path.display()))?;
                        interfaces.push((idb.linktype.0 as u16, resolution, idb.ts_offset()));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let &(linktype, per_second, offset) = interfaces
                            .get(epb.if_id as usize)
                            .ok_or_else(|| format!("{}: unknown interface", path.display()))?;
                        let units = (u128::from(epb.ts_high) << 32) | u128::from(epb.ts_low);
                        let ns = units * 1_000_000_000 / u128::from(per_second);
                        let caplen = (epb.caplen as usize).min(epb.data.len());
                        frames.push(Frame {
                            ts_ns: ns as i128 + i128::from(offset) * 1_000_000_000,
                            orig_len: epb.origlen,
                            data: epb.data[..caplen].to_vec(),
                            linktype,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => return Ok(frames),
            Err(PcapError::Incomplete(_)) => reader
                .refill()
                .map_err(|e| format!("{}: {e:?}", path.display()))?,
            Err(e) => return Err(format!("{}: {e:?}", path.display())),
        }
    }
}

/// Writes frames as a nanosecond pcap file of one link type.
pub fn write(path: &Path, linktype: u16, frames: &[Frame]) -> std::io::Result<()> {
    let mut out = Vec::new();
    // Magic for nanosecond timestamps, version 2.4, snaplen 262144.
    out.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&u32::from(linktype).to_le_bytes());
    for f in frames {
        let sec = u32::try_from(f.ts_ns / 1_000_000_000).expect("timestamp after 2106");
        let nsec = (f.ts_ns % 1_000_000_000) as u32;
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&nsec.to_le_bytes());
        out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&f.orig_len.to_le_bytes());
        out.extend_from_slice(&f.data);
    }
    File::create(path)?.write_all(&out)
}

/// What the filter sees of one IP frame, plus what the test needs to know
/// about it.
#[derive(Debug, Clone)]
pub struct View {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ports: Option<(u16, u16)>,
    pub fragment: Fragment,
    pub vlans: Vec<u16>,
    pub wire_len: u32,
    /// Identification of the datagram a fragment belongs to.
    pub datagram: Option<u32>,
    /// An IPv6 packet with extension headers (where tcpdump's protocol and
    /// port tests look elsewhere).
    pub ipv6_ext: bool,
    /// Bytes from the IP header to the transport header.
    pub l3_header_len: usize,
    /// The IP payload as captured (the transport header first).
    pub payload: Vec<u8>,
}

impl PacketView for View {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn dst(&self) -> IpAddr {
        self.dst
    }
    fn ip_proto(&self) -> u8 {
        self.proto
    }
    fn ports(&self) -> Option<(u16, u16)> {
        self.ports
    }
    fn fragment(&self) -> Fragment {
        self.fragment
    }
    fn vlan_ids(&self) -> &[u16] {
        &self.vlans
    }
    fn wire_len(&self) -> u32 {
        self.wire_len
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// Gives later fragments the ports of their datagram's first fragment, as
/// the analyzer does (so that the filter, not the decoder, must ignore
/// them).
pub fn attribute_fragments(views: &mut [Option<View>]) {
    let mut first = std::collections::HashMap::new();
    for v in views.iter_mut().flatten() {
        let Some(id) = v.datagram else { continue };
        let key = (v.src, v.dst, v.proto, id);
        match v.fragment {
            Fragment::First => {
                if let Some(ports) = v.ports {
                    first.insert(key, ports);
                }
            }
            Fragment::Later => v.ports = first.get(&key).copied(),
            Fragment::None => {}
        }
    }
}

/// Decodes a frame; `None` when it is not an IP packet (or its IP header
/// is not in the captured bytes).
pub fn decode(frame: &Frame) -> Option<View> {
    let data = frame.data.as_slice();
    let packet = match frame.linktype {
        // Ethernet, with any 802.1Q / 802.1ad tags.
        1 => LaxSlicedPacket::from_ethernet(data).ok()?,
        // Linux cooked v1: the protocol is at 14, the packet at 16.
        113 => LaxSlicedPacket::from_ether_type(EtherType(be16(data, 14)?), data.get(16..)?),
        // Linux cooked v2: the protocol is at 0, the packet at 20.
        276 => LaxSlicedPacket::from_ether_type(EtherType(be16(data, 0)?), data.get(20..)?),
        // BSD loopback: the address family in the capturing host's order.
        0 | 108 => {
            let family = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
            let family = [family, family.swap_bytes()];
            if !family.iter().any(|f| matches!(f, 2 | 24 | 28 | 30)) {
                return None;
            }
            LaxSlicedPacket::from_ip(data.get(4..)?).ok()?
        }
        // Raw IP.
        12 | 14 | 101 | 228 | 229 => LaxSlicedPacket::from_ip(data).ok()?,
        other => panic!("link type {other} is not decoded by this test"),
    };
    let vlans: Vec<u16> = packet.vlan_ids().iter().map(|v| v.value()).collect();
    let mut datagram = None;
    let (src, dst, fragment, ipv6_ext, header, payload) = match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            datagram = Some(u32::from(be16(h.slice(), 4)?));
            let flags = be16(h.slice(), 6)?;
            let fragment = if flags & 0x1fff != 0 {
                Fragment::Later
            } else if flags & 0x2000 != 0 {
                Fragment::First
            } else {
                Fragment::None
            };
            let src = IpAddr::from(h.source_addr());
            let dst = IpAddr::from(h.destination_addr());
            (src, dst, fragment, false, h.slice().as_ptr(), v4.payload())
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let mut fragment = Fragment::None;
            for ext in v6.extensions().clone() {
                if let Ipv6ExtensionSlice::Fragment(f) = ext {
                    datagram = Some(f.identification());
                    fragment = if f.fragment_offset().value() != 0 {
                        Fragment::Later
                    } else if f.more_fragments() {
                        Fragment::First
                    } else {
                        // An atomic fragment is a whole datagram.
                        Fragment::None
                    };
                }
            }
            let src = IpAddr::from(h.source_addr());
            let dst = IpAddr::from(h.destination_addr());
            let ext = !v6.extensions().is_empty();
            (src, dst, fragment, ext, h.slice().as_ptr(), v6.payload())
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let proto = payload.ip_number.0;
    let bytes = payload.payload;
    let ports = (matches!(proto, 6 | 17 | 132) && fragment != Fragment::Later)
        .then(|| Some((be16(bytes, 0)?, be16(bytes, 2)?)))
        .flatten();
    Some(View {
        src,
        dst,
        proto,
        ports,
        fragment,
        vlans,
        wire_len: frame.orig_len,
        datagram,
        ipv6_ext,
        l3_header_len: bytes.as_ptr() as usize - header as usize,
        payload: bytes.to_vec(),
    })
}
