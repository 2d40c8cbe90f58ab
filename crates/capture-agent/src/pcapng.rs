//! A small pcapng writer: section header, one interface description block
//! per interface (name, link type, nanosecond timestamps), enhanced packet
//! blocks with the direction flag, and size-based file rotation.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const LINKTYPE_ETHERNET: u16 = 1;
pub const LINKTYPE_RAW: u16 = 101;

/// An interface as written in each file's interface description blocks.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub linktype: u16,
    pub snaplen: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Writes NAME.pcapng, or NAME-0000.pcapng, NAME-0001.pcapng ... when
/// rotating. Every file holds all interface blocks, so each is readable alone.
pub struct PcapngWriter {
    dir: PathBuf,
    name: String,
    rotate_size: Option<u64>,
    interfaces: Vec<Interface>,
    out: Option<(BufWriter<File>, PathBuf)>,
    file_bytes: u64,
    total_bytes: u64,
    files: Vec<PathBuf>,
    force: bool,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend(std::iter::repeat_n(0u8, pad4(value.len())));
}

/// A block: type, total length, body, total length (little endian).
fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn section_header(app: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes()); // byte-order magic
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
    option(&mut body, 4, app.as_bytes()); // shb_userappl
    option(&mut body, 0, &[]);
    block(0x0A0D_0D0A, &body)
}

fn interface_block(i: &Interface) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&i.linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&i.snaplen.to_le_bytes());
    option(&mut body, 2, i.name.as_bytes()); // if_name
    option(&mut body, 9, &[9]); // if_tsresol: 10^-9 s
    option(&mut body, 0, &[]);
    block(1, &body)
}

/// The bytes of one enhanced packet block.
#[cfg(test)]
pub fn packet_block(if_id: u32, ts_ns: u64, data: &[u8], orig_len: u32, dir: Direction) -> Vec<u8> {
    let mut body = Vec::with_capacity(20 + data.len() + 16);
    body.extend_from_slice(&if_id.to_le_bytes());
    body.extend_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts_ns as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&orig_len.to_le_bytes());
    body.extend_from_slice(data);
    body.extend(std::iter::repeat_n(0u8, pad4(data.len())));
    let flags: u32 = match dir {
        Direction::Inbound => 1,
        Direction::Outbound => 2,
    };
    option(&mut body, 2, &flags.to_le_bytes()); // epb_flags
    option(&mut body, 0, &[]);
    block(6, &body)
}

/// Writes one enhanced packet block straight to `out` (no intermediate
/// copy of the frame); returns its size. Same bytes as [`packet_block`].
pub fn write_packet_block<W: Write>(
    out: &mut W,
    if_id: u32,
    ts_ns: u64,
    data: &[u8],
    orig_len: u32,
    dir: Direction,
) -> std::io::Result<u64> {
    let total = PcapngWriter::block_len(data.len());
    let mut head = [0u8; 28];
    head[0..4].copy_from_slice(&6u32.to_le_bytes());
    head[4..8].copy_from_slice(&(total as u32).to_le_bytes());
    head[8..12].copy_from_slice(&if_id.to_le_bytes());
    head[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
    head[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
    head[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
    head[24..28].copy_from_slice(&orig_len.to_le_bytes());
    out.write_all(&head)?;
    out.write_all(data)?;
    let flags: u32 = match dir {
        Direction::Inbound => 1,
        Direction::Outbound => 2,
    };
    let mut tail = [0u8; 3 + 16];
    let pad = pad4(data.len());
    tail[pad..pad + 2].copy_from_slice(&2u16.to_le_bytes());
    tail[pad + 2..pad + 4].copy_from_slice(&4u16.to_le_bytes());
    tail[pad + 4..pad + 8].copy_from_slice(&flags.to_le_bytes());
    // end of options (4 zero bytes), then the trailing total length
    tail[pad + 12..pad + 16].copy_from_slice(&(total as u32).to_le_bytes());
    out.write_all(&tail[..pad + 16])?;
    Ok(total)
}

impl PcapngWriter {
    pub fn new(
        dir: &Path,
        name: &str,
        rotate_size: Option<u64>,
        interfaces: Vec<Interface>,
        force: bool,
    ) -> std::io::Result<Self> {
        let mut w = PcapngWriter {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            rotate_size,
            interfaces,
            out: None,
            file_bytes: 0,
            total_bytes: 0,
            files: Vec::new(),
            force,
        };
        w.open_next()?;
        Ok(w)
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        self.close_current()?;
        let file_name = match self.rotate_size {
            None => format!("{}.pcapng", self.name),
            Some(_) => format!("{}-{:04}.pcapng", self.name, self.files.len()),
        };
        let path = self.dir.join(file_name);
        let file = if self.force {
            File::create(&path)
        } else {
            File::options().write(true).create_new(true).open(&path)
        }
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut head = section_header(concat!("retina-capture ", env!("CARGO_PKG_VERSION")));
        for i in &self.interfaces {
            head.extend(interface_block(i));
        }
        out.write_all(&head)?;
        self.file_bytes = head.len() as u64;
        self.total_bytes += head.len() as u64;
        self.files.push(path.clone());
        self.out = Some((out, path));
        Ok(())
    }

    /// Size of a packet block for `cap_len` captured bytes.
    pub fn block_len(cap_len: usize) -> u64 {
        (12 + 20 + cap_len + pad4(cap_len) + 8 + 4) as u64
    }

    /// Total bytes written so far (all files), counting what is buffered.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Bytes a new file would start with (headers), for size limits.
    pub fn header_len(&self) -> u64 {
        let mut n = section_header(concat!("retina-capture ", env!("CARGO_PKG_VERSION"))).len();
        for i in &self.interfaces {
            n += interface_block(i).len();
        }
        n as u64
    }

    /// Would writing a packet of `cap_len` bytes start a new file?
    pub fn would_rotate(&self, cap_len: usize) -> bool {
        match self.rotate_size {
            Some(limit) => {
                self.file_bytes > self.header_len()
                    && self.file_bytes + Self::block_len(cap_len) > limit
            }
            None => false,
        }
    }

    pub fn write_packet(
        &mut self,
        if_id: u32,
        ts_ns: u64,
        data: &[u8],
        orig_len: u32,
        dir: Direction,
    ) -> std::io::Result<()> {
        if self.would_rotate(data.len()) {
            self.open_next()?;
        }
        // No file when opening the next one failed: that error was returned.
        let Some((out, _)) = self.out.as_mut() else {
            return Err(std::io::Error::other(
                "no packet file open (opening the next one failed)",
            ));
        };
        let n = write_packet_block(out, if_id, ts_ns, data, orig_len, dir)?;
        self.file_bytes += n;
        self.total_bytes += n;
        Ok(())
    }

    fn close_current(&mut self) -> std::io::Result<()> {
        if let Some((out, path)) = self.out.take() {
            let file = out.into_inner().map_err(|e| {
                std::io::Error::new(
                    e.error().kind(),
                    format!("{}: {}", path.display(), e.error()),
                )
            })?;
            file.sync_all()?;
        }
        Ok(())
    }

    /// Flushes and closes the current file; returns every file written.
    pub fn finish(mut self) -> std::io::Result<Vec<PathBuf>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaces() -> Vec<Interface> {
        vec![
            Interface {
                name: "veth0".into(),
                linktype: LINKTYPE_ETHERNET,
                snaplen: 65535,
            },
            Interface {
                name: "wg0".into(),
                linktype: LINKTYPE_RAW,
                snaplen: 65535,
            },
        ]
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("retina-pcapng-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn blocks_are_aligned_and_sized() {
        for n in 0..9 {
            let data = vec![0xabu8; n];
            let b = packet_block(1, 1 << 40, &data, 1500, Direction::Outbound);
            assert_eq!(b.len() % 4, 0);
            assert_eq!(b.len() as u64, PcapngWriter::block_len(n));
            let total = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
            assert_eq!(total, b.len());
            assert_eq!(&b[b.len() - 4..], &b[4..8]);
            let mut streamed = Vec::new();
            let n = write_packet_block(&mut streamed, 1, 1 << 40, &data, 1500, Direction::Outbound)
                .unwrap();
            assert_eq!(streamed, b, "streamed block differs for {n} bytes");
        }
    }

    #[test]
    fn rotation_numbers_files_each_with_headers() {
        let d = tmpdir("rot");
        let mut w = PcapngWriter::new(&d, "cap", Some(4096), ifaces(), false).unwrap();
        for i in 0..40u64 {
            w.write_packet(
                (i % 2) as u32,
                i * 1000,
                &[i as u8; 300],
                300,
                Direction::Inbound,
            )
            .unwrap();
        }
        let files = w.finish().unwrap();
        assert!(files.len() >= 3, "{files:?}");
        assert!(files[0].ends_with("cap-0000.pcapng"));
        assert!(files[1].ends_with("cap-0001.pcapng"));
        for f in &files {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 4096, "{} is {len} bytes", f.display());
            let bytes = std::fs::read(f).unwrap();
            assert_eq!(&bytes[0..4], &0x0A0D0D0Au32.to_le_bytes());
        }
        // An existing file is refused without force.
        assert!(PcapngWriter::new(&d, "cap", Some(4096), ifaces(), false).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
