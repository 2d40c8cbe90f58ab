//! Reads the TCP segments of a capture file for the oracle test: pcap or
//! pcapng through pcap-parser, headers through etherparse (lax, so frames
//! cut by the snap length still give their TCP header and the IP length).

use std::fs::File;
use std::net::IpAddr;
use std::path::Path;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

/// One TCP segment of a capture, owned.
#[derive(Debug, Clone)]
pub struct TcpSeg {
    /// 1-based, as tshark's frame.number.
    pub frame: u64,
    pub src: (IpAddr, u16),
    pub seq: u32,
    pub ack: Option<u32>,
    pub syn: bool,
    pub wire_len: u32,
    pub payload: Vec<u8>,
}

/// What reading a capture gave.
#[derive(Debug, Default)]
pub struct Capture {
    pub segments: Vec<TcpSeg>,
    /// Frames without a TCP segment this reader reaches: other protocols,
    /// and TCP it does not decode (IP fragments, tunnels, other link types).
    pub frames_without_tcp: u64,
    /// The file ends inside a record.
    pub truncated: bool,
}

/// Reads every frame of `path`; an unreadable file is an error message.
pub fn read_capture(path: &Path) -> Result<Capture, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader =
        create_reader(1 << 20, file).map_err(|e| format!("{}: {e:?}", path.display()))?;
    let mut out = Capture::default();
    let mut legacy_link = Linktype(1);
    let mut if_links: Vec<Linktype> = Vec::new();
    let mut frame = 0u64;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let packet: Option<(Linktype, &[u8])> = match &block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = h.network;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((legacy_link, b.data)),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        if_links.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if_links.push(idb.linktype);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let link = if_links
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or(Linktype(-1));
                        let len = (epb.caplen as usize).min(epb.data.len());
                        Some((link, &epb.data[..len]))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let link = if_links.first().copied().unwrap_or(Linktype(-1));
                        let len = (spb.origlen as usize).min(spb.data.len());
                        Some((link, &spb.data[..len]))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((link, data)) = packet {
                    frame += 1;
                    match decode(link, data) {
                        Some(mut seg) => {
                            seg.frame = frame;
                            out.segments.push(seg);
                        }
                        None => out.frames_without_tcp += 1,
                    }
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            // A file cut short in its last record: what came before counts
            // (tshark reads it the same way and reports the cut).
            Err(PcapError::UnexpectedEof) => {
                out.truncated = true;
                break;
            }
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    break;
                }
            }
            Err(e) => return Err(format!("{}: frame {frame}: {e:?}", path.display())),
        }
    }
    Ok(out)
}

/// The NFLOG TLV carrying the packet (libpcap's pcap/nflog.h).
const NFULA_PAYLOAD: u16 = 9;

fn decode(link: Linktype, data: &[u8]) -> Option<TcpSeg> {
    let sliced = match link.0 {
        1 => LaxSlicedPacket::from_ethernet(data).ok()?,
        // BSD loopback: a 4-byte address family, then IP.
        0 => LaxSlicedPacket::from_ip(data.get(4..)?).ok()?,
        101 | 228 | 229 => LaxSlicedPacket::from_ip(data).ok()?,
        // Linux cooked v1: 16 bytes, the protocol in the last two.
        113 => {
            let proto = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(16..)?)
        }
        // Linux cooked v2: 20 bytes, the protocol in the first two.
        276 => {
            let proto = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(20..)?)
        }
        239 => LaxSlicedPacket::from_ip(nflog_payload(data)?).ok()?,
        _ => return None,
    };
    let net = sliced.net.as_ref()?;
    let (src, ip_payload_wire, fragmented) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let ext = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let wire = usize::from(h.total_len())
                .checked_sub(h.slice().len())?
                .checked_sub(ext)?;
            (
                IpAddr::from(h.source_addr()),
                wire,
                v4.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let wire =
                usize::from(h.payload_length()).checked_sub(v6.extensions().slice().len())?;
            (
                IpAddr::from(h.source_addr()),
                wire,
                v6.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    if fragmented {
        return None;
    }
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return None;
    };
    let wire_len = ip_payload_wire.checked_sub(tcp.slice().len() - tcp.payload().len())?;
    Some(TcpSeg {
        frame: 0,
        src: (src, tcp.source_port()),
        seq: tcp.sequence_number(),
        ack: tcp.ack().then(|| tcp.acknowledgment_number()),
        syn: tcp.syn(),
        wire_len: u32::try_from(wire_len).ok()?,
        payload: tcp.payload().to_vec(),
    })
}

/// The packet inside an NFLOG record: a 4-byte header, then TLVs (length
/// and type little-endian, each padded to 4 bytes).
fn nflog_payload(data: &[u8]) -> Option<&[u8]> {
    let mut rest = data.get(4..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let ty = u16::from_le_bytes([rest[2], rest[3]]);
        if len < 4 {
            return None;
        }
        if ty == NFULA_PAYLOAD {
            return rest.get(4..len);
        }
        let padded = len.checked_add(3)? & !3;
        rest = rest.get(padded.min(rest.len())..)?;
    }
    None
}
