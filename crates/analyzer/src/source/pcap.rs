//! pcap and pcapng reading on top of pcap-parser's streaming readers.

use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::{hex_prefix, open, FileInfo, Format, FullReader, InterfaceInfo, Record, SourceError};

/// Initial reader buffer: large enough for any ordinary frame (snaplen 262144).
const INITIAL_BUFFER: usize = 1 << 20;
/// A record stamped this much (1 s) before the latest time of its file is a
/// clock step, not reordering: it gets that latest time, and a warning.
const CLOCK_STEP_NS: i64 = 1_000_000_000;
/// Largest single record we accept. Real captures never come near it; a larger
/// length field means the record header is corrupt.
const MAX_RECORD: usize = 16 << 20;

/// State of the current pcapng section's interfaces.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: u16,
    units_per_sec: u64,
    offset_s: i64,
    snaplen: u32,
}

/// Reads one capture file and calls `on_record` for every packet record.
///
/// Returns what was learnt about the file and, if reading stopped early, why.
/// Records before a damaged one are always delivered.
/// Reading a file stops early, without error, once `stop` is set. Standard
/// input is read to its end regardless: on Ctrl-C the producer upstream in
/// the pipeline is interrupted too and closes it, and nothing it wrote is lost.
pub fn read_capture(
    path: &Path,
    progress: Arc<AtomicU64>,
    stop: &AtomicBool,
    on_record: &mut dyn FnMut(Record<'_>),
) -> (FileInfo, Option<SourceError>) {
    let (input, info) = match open(path, progress) {
        Ok(v) => v,
        Err(e) => {
            return (
                FileInfo {
                    path: path.to_owned(),
                    ..FileInfo::default()
                },
                Some(e),
            )
        }
    };
    read_capture_from(input, info, stop, on_record)
}

/// Reads a capture from an open reader (already decompressed): the body of
/// [`read_capture`], also used on bytes in memory (the fuzz targets).
/// `info.path` names the input in errors; a path of `-` (standard input)
/// is read to its end whatever `stop` says.
pub fn read_capture_from(
    input: Box<dyn Read + Send + '_>,
    info: FileInfo,
    stop: &AtomicBool,
    on_record: &mut dyn FnMut(Record<'_>),
) -> (FileInfo, Option<SourceError>) {
    let (mut info, err) = read_records(input, info, stop, on_record);
    let c = info.clock;
    if c.packets > 0 {
        info.warnings.push(format!(
            "{}: {} packets are stamped over a second earlier than a packet before \
             them (the capture clock went back by up to {:.6} s, first at byte {}); \
             they are analyzed as taken at the latest time before them",
            info.path.display(),
            c.packets,
            c.max_back_ns as f64 / 1e9,
            c.first_offset,
        ));
    }
    (info, err)
}

fn read_records(
    mut input: Box<dyn Read + Send + '_>,
    mut info: FileInfo,
    stop: &AtomicBool,
    on_record: &mut dyn FnMut(Record<'_>),
) -> (FileInfo, Option<SourceError>) {
    let path_buf = info.path.clone();
    let path: &Path = &path_buf;
    // Peek the magic ourselves so a rejection can say what the file starts with.
    let mut head = [0u8; 8];
    let mut head_len = 0;
    while head_len < head.len() {
        match input.read(&mut head[head_len..]) {
            Ok(0) => break,
            Ok(n) => head_len += n,
            Err(source) => {
                return (
                    info,
                    Some(SourceError::Io {
                        path: path.to_owned(),
                        offset: head_len as u64,
                        source,
                    }),
                )
            }
        }
    }
    let head = &head[..head_len];
    if head.is_empty() {
        return (
            info,
            Some(SourceError::Empty {
                path: path.to_owned(),
            }),
        );
    }
    let compressed = info.gzip;
    let damaged = |offset: u64, what: String| SourceError::Damaged {
        path: path.to_owned(),
        offset,
        compressed,
        what,
    };
    let chained = FullReader {
        inner: Cursor::new(head.to_vec()).chain(input),
    };
    // A small file needs no more buffer than its size (it grows for a
    // larger record): zeroing 1 MiB for a 4 KiB file dominates reading it.
    let initial = if info.size > 0 && !info.gzip {
        usize::try_from(info.size)
            .unwrap_or(INITIAL_BUFFER)
            .clamp(64 << 10, INITIAL_BUFFER)
    } else {
        INITIAL_BUFFER
    };
    let mut reader = match create_reader(initial, chained) {
        Ok(r) => r,
        Err(PcapError::HeaderNotRecognized) => {
            return (
                info,
                Some(SourceError::NotACapture {
                    path: path.to_owned(),
                    magic: hex_prefix(head),
                }),
            )
        }
        Err(PcapError::Incomplete(_)) | Err(PcapError::Eof) | Err(PcapError::UnexpectedEof) => {
            let what = if is_capture_magic(head) {
                "file ends inside the file header".to_string()
            } else {
                format!(
                    "not a pcap or pcapng capture (starts with bytes {})",
                    hex_prefix(head)
                )
            };
            return (info, Some(damaged(0, what)));
        }
        Err(e) => {
            return (
                info,
                Some(damaged(
                    0,
                    format!("unreadable file header ({})", describe(&e)),
                )),
            )
        }
    };

    let from_stdin = path.as_os_str() == super::STDIN;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut legacy_nanos = false;
    let mut legacy_big_endian = false;
    let mut legacy_snaplen = 0u32;
    let mut buffer_size = initial;
    let mut last_refill_consumed = u64::MAX;
    loop {
        if !from_stdin && stop.load(Ordering::Relaxed) {
            break;
        }
        let offset = reader.consumed() as u64;
        match reader.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(hdr) => {
                        info.format = Some(Format::Pcap);
                        legacy_nanos = hdr.is_nanosecond_precision();
                        legacy_big_endian = hdr.is_bigendian();
                        legacy_snaplen = hdr.snaplen;
                        if (hdr.version_major, hdr.version_minor) != (2, 4) {
                            info.warnings.push(format!(
                                "{}: pcap version {}.{} is not the standard 2.4 (libpcap and tshark refuse it); read as 2.4",
                                path.display(),
                                hdr.version_major,
                                hdr.version_minor
                            ));
                        }
                        let linktype = linktype_u16(hdr.network.0);
                        ifaces = vec![Iface {
                            linktype,
                            units_per_sec: if legacy_nanos {
                                1_000_000_000
                            } else {
                                1_000_000
                            },
                            offset_s: 0,
                            snaplen: hdr.snaplen,
                        }];
                        info.interfaces.push(InterfaceInfo {
                            section: 0,
                            linktype,
                            name: None,
                            snaplen: hdr.snaplen,
                            ts_units_per_sec: ifaces[0].units_per_sec,
                        });
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let iface = ifaces[0];
                        let frac_ns = if legacy_nanos {
                            i64::from(b.ts_usec)
                        } else {
                            i64::from(b.ts_usec) * 1000
                        };
                        let ts_ns = i64::from(b.ts_sec) * 1_000_000_000 + frac_ns;
                        deliver(
                            &mut info,
                            offset,
                            on_record,
                            Record {
                                ts_ns,
                                linktype: iface.linktype,
                                data: b.data,
                                orig_len: b.origlen,
                                interface: 0,
                                interfaces: 1,
                            },
                        );
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        if shb.major_version != 1 || shb.minor_version != 0 {
                            info.warnings.push(format!(
                                "{}: pcapng section at byte {offset} has version {}.{}, not 1.0 (libpcap and tshark refuse it); read as 1.0",
                                path.display(),
                                shb.major_version,
                                shb.minor_version
                            ));
                        }
                        info.format = Some(Format::Pcapng);
                        info.sections += 1;
                        ifaces.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let linktype = linktype_u16(idb.linktype.0);
                        let units_per_sec = match ts_resolution(idb.if_tsresol) {
                            Some(u) if u > 0 => u,
                            _ => {
                                info.warnings.push(format!(
                                    "{}: interface {} at byte {offset} has an invalid if_tsresol {:#x}; assuming microseconds",
                                    path.display(),
                                    ifaces.len(),
                                    idb.if_tsresol
                                ));
                                1_000_000
                            }
                        };
                        let name = idb
                            .if_name()
                            .and_then(|r| r.ok())
                            .map(|s| s.trim_end_matches('\0').to_string());
                        info.interfaces.push(InterfaceInfo {
                            section: info.sections.saturating_sub(1),
                            linktype,
                            name,
                            snaplen: idb.snaplen,
                            ts_units_per_sec: units_per_sec,
                        });
                        ifaces.push(Iface {
                            linktype,
                            units_per_sec,
                            offset_s: idb.if_tsoffset,
                            snaplen: idb.snaplen,
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = ifaces.get(epb.if_id as usize).copied() else {
                            let err = damaged(
                                offset,
                                format!(
                                    "packet block names interface {} but the section declares only {}",
                                    epb.if_id,
                                    ifaces.len()
                                ),
                            );
                            return (info, Some(err));
                        };
                        let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts_ns = units_to_ns(units, iface.units_per_sec, iface.offset_s);
                        // Across sections: the index in the file's interface list.
                        let first = (info.interfaces.len() - ifaces.len()) as u32;
                        deliver(
                            &mut info,
                            offset,
                            on_record,
                            Record {
                                ts_ns,
                                linktype: iface.linktype,
                                data: epb.packet_data(),
                                orig_len: epb.origlen,
                                interface: first + epb.if_id,
                                interfaces: ifaces.len() as u32,
                            },
                        );
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let Some(iface) = ifaces.first().copied() else {
                            let err = damaged(
                                offset,
                                "simple packet block before any interface description".into(),
                            );
                            return (info, Some(err));
                        };
                        // An SPB carries min(original length, snaplen) bytes plus padding.
                        let mut caplen = spb.origlen as usize;
                        if iface.snaplen != 0 {
                            caplen = caplen.min(iface.snaplen as usize);
                        }
                        let data = &spb.data[..caplen.min(spb.data.len())];
                        let first = (info.interfaces.len() - ifaces.len()) as u32;
                        deliver(
                            &mut info,
                            offset,
                            on_record,
                            Record {
                                // SPBs carry no timestamp; the section offset is the best we have.
                                ts_ns: units_to_ns(0, iface.units_per_sec, iface.offset_s),
                                linktype: iface.linktype,
                                data,
                                orig_len: spb.origlen,
                                interface: first,
                                interfaces: ifaces.len() as u32,
                            },
                        );
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(e @ (PcapError::Incomplete(_) | PcapError::BufferTooSmall)) => {
                let err_kind = if matches!(e, PcapError::BufferTooSmall) {
                    ReadStall::BufferTooSmall
                } else {
                    ReadStall::Incomplete
                };
                if info.format == Some(Format::Pcap) {
                    if let Some(caplen) = pending_caplen(reader.data(), legacy_big_endian) {
                        let limit = (legacy_snaplen as usize).clamp(262_144, MAX_RECORD);
                        if caplen as usize > limit {
                            let err = damaged(
                                offset,
                                format!("corrupt record header: captured length {caplen} exceeds the limit of {limit} bytes"),
                            );
                            return (info, Some(err));
                        }
                    }
                }
                if matches!(err_kind, ReadStall::BufferTooSmall) {
                    if buffer_size >= MAX_RECORD {
                        let err = damaged(
                            offset,
                            format!(
                                "corrupt block: a single record is larger than {MAX_RECORD} bytes"
                            ),
                        );
                        return (info, Some(err));
                    }
                    buffer_size *= 2;
                    reader.grow(buffer_size);
                }
                if last_refill_consumed == offset && reader.reader_exhausted() {
                    let err = damaged(offset, "file ends inside a record (truncated)".into());
                    return (info, Some(err));
                }
                last_refill_consumed = offset;
                if let Err(e) = reader.refill() {
                    let err = damaged(offset, format!("read failed ({})", describe(&e)));
                    return (info, Some(err));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                let err = damaged(offset, "file ends inside a record (truncated)".into());
                return (info, Some(err));
            }
            Err(PcapError::ReadError) => {
                let err = damaged(
                    offset,
                    "read error (corrupt compressed data or I/O failure)".into(),
                );
                return (info, Some(err));
            }
            Err(e) => {
                let what = match info.format {
                    Some(Format::Pcapng) => format!("corrupt pcapng block ({})", describe(&e)),
                    _ => format!("corrupt record ({})", describe(&e)),
                };
                return (info, Some(damaged(offset, what)));
            }
        }
    }
    (info, None)
}

enum ReadStall {
    Incomplete,
    BufferTooSmall,
}

/// Hands one record on. A record stamped over a second earlier than the
/// latest time of its file (the capture clock stepped back) is given that
/// latest time, so that no interval of the analysis goes hours negative;
/// `info.clock` counts them for a warning. Smaller steps back are the
/// ordinary interleaving of per-CPU queues (`-i any`, veth, loopback: up to
/// a few milliseconds) and keep their own timestamps, as every tool shows
/// them.
fn deliver(
    info: &mut FileInfo,
    offset: u64,
    on_record: &mut dyn FnMut(Record<'_>),
    mut rec: Record<'_>,
) {
    let c = &mut info.clock;
    match c.last_ts_ns {
        Some(last) if rec.ts_ns < last && last - rec.ts_ns < CLOCK_STEP_NS => {}
        Some(last) if rec.ts_ns < last => {
            let back = last - rec.ts_ns;
            if c.packets == 0 {
                c.first_offset = offset;
            }
            c.packets += 1;
            c.max_back_ns = c.max_back_ns.max(back);
            rec.ts_ns = last;
        }
        _ => c.last_ts_ns = Some(rec.ts_ns),
    }
    info.packets += 1;
    info.bytes += u64::from(rec.orig_len);
    if !info.link_types.contains(&rec.linktype) {
        info.link_types.push(rec.linktype);
    }
    on_record(rec);
}

/// Timestamp units per second from an `if_tsresol` option: 10^-n seconds, or
/// 2^-n seconds when the high bit is set.
fn ts_resolution(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

/// The link type lives in the low 16 bits; pcap headers may carry FCS bits above.
fn linktype_u16(v: i32) -> u16 {
    (v as u32 & 0xffff) as u16
}

fn units_to_ns(units: u64, units_per_sec: u64, offset_s: i64) -> i64 {
    let ns = (u128::from(units) * 1_000_000_000u128) / u128::from(units_per_sec.max(1));
    let ns = i64::try_from(ns).unwrap_or(i64::MAX);
    ns.saturating_add(offset_s.saturating_mul(1_000_000_000))
}

/// Captured length announced by a legacy pcap record header at the start of `data`.
fn pending_caplen(data: &[u8], big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(8..12)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn is_capture_magic(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 6] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
        [0x34, 0xcd, 0xb2, 0xa1],
    ];
    head.len() >= 4 && MAGICS.iter().any(|m| head[..4] == m[..])
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::Eof => "end of file".into(),
        PcapError::BufferTooSmall => "record too large".into(),
        PcapError::UnexpectedEof => "unexpected end of file".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::Incomplete(_) => "incomplete data".into(),
        PcapError::HeaderNotRecognized => "header not recognized".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("parse error: {kind:?}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_nanoseconds() {
        assert_eq!(units_to_ns(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(units_to_ns(3, 1_000_000_000, 10), 10_000_000_003);
        // 2^-10 s units: 1024 units is one second.
        assert_eq!(units_to_ns(1536, 1024, 0), 1_500_000_000);
    }

    #[test]
    fn tsresol_decimal_and_binary() {
        assert_eq!(ts_resolution(6), Some(1_000_000));
        assert_eq!(ts_resolution(9), Some(1_000_000_000));
        assert_eq!(ts_resolution(0x8a), Some(1024));
        assert_eq!(ts_resolution(20), None);
        assert_eq!(ts_resolution(0xc0), None);
    }

    #[test]
    fn linktype_masks_fcs_bits() {
        assert_eq!(linktype_u16(0x1000_0001), 1);
        assert_eq!(linktype_u16(276), 276);
    }
}
