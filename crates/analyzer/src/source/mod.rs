//! Capture sources: turn input files into a stream of raw link-layer records.
//!
//! A source never loads a whole file: pcap and pcapng are read through
//! pcap-parser's streaming readers over a bounded buffer, with gzip
//! decompression layered underneath when the file starts with the gzip magic.
//! A damaged record ends the stream with a [`SourceError`] naming the file and
//! the byte offset; every record before it has already been delivered.

mod pcap;

pub mod agent;
pub mod archive;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

pub use pcap::{read_capture, read_capture_from};

/// One captured frame as the capture file describes it.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link type (DLT/LINKTYPE number) of the interface that captured it.
    pub linktype: u16,
    /// Captured bytes (may be shorter than the frame on the wire).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// Interface index within the file (pcapng: in the file's interface
    /// list, across sections), 0 for pcap.
    pub interface: u32,
    /// Interfaces the current section declares (1 for pcap).
    pub interfaces: u32,
}

/// Container format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        })
    }
}

/// What went wrong while reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: read error at byte {offset}: {source}")]
    Io {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("{path}: file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (starts with bytes {magic})")]
    NotACapture { path: PathBuf, magic: String },
    #[error("{path}: {what} at byte {offset}{}", offset_note(*.compressed))]
    Damaged {
        path: PathBuf,
        offset: u64,
        compressed: bool,
        what: String,
    },
}

fn offset_note(compressed: bool) -> &'static str {
    if compressed {
        " of the decompressed stream"
    } else {
        ""
    }
}

impl SourceError {
    /// True when records were (or could have been) delivered before the error:
    /// the file is damaged, not unreadable.
    pub fn is_damage(&self) -> bool {
        matches!(self, SourceError::Damaged { .. } | SourceError::Io { .. })
    }
}

/// Facts about one input file, filled in while reading it.
#[derive(Debug, Clone, Default)]
pub struct FileInfo {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub gzip: bool,
    /// Size on disk in bytes.
    pub size: u64,
    /// Records delivered.
    pub packets: u64,
    /// Sum of on-the-wire frame lengths of those records.
    pub bytes: u64,
    /// Distinct link types seen, in order of first appearance.
    pub link_types: Vec<u16>,
    /// Interfaces (pcapng IDBs, or the pcap header), in order.
    pub interfaces: Vec<InterfaceInfo>,
    /// Sections in a pcapng file.
    pub sections: u32,
    /// Non-fatal problems found in this file.
    pub warnings: Vec<String>,
    /// Records stamped over a second before the file's latest time.
    pub clock: ClockBack,
}

/// Records of a file stamped over a second before its latest time (the
/// capture clock stepped back).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClockBack {
    /// How many records were stamped that far before the latest time.
    pub packets: u64,
    /// The largest step back.
    pub max_back_ns: i64,
    /// Byte offset (of the decompressed stream) of the first such record.
    pub first_offset: u64,
    /// The latest timestamp delivered so far.
    pub last_ts_ns: Option<i64>,
}

/// One capture interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub section: u32,
    pub linktype: u16,
    pub name: Option<String>,
    pub snaplen: u32,
    /// Timestamp units per second.
    pub ts_units_per_sec: u64,
}

/// Gzip magic: captures are detected as compressed by content, never by name.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Counts bytes pulled from the underlying file, for progress reporting.
pub struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads as much as `buf` holds, stopping only at end of input, so that short
/// reads from a decompressor are never mistaken for end of file.
pub(crate) struct FullReader<R> {
    pub(crate) inner: R,
}

impl<R: Read> Read for FullReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if filled > 0 {
                        // Deliver what we have; the error repeats on the next call.
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(filled)
    }
}

/// Opens a capture file, transparently decompressing gzip.
///
/// `progress` is advanced by the number of bytes read from disk.
pub fn open(
    path: &Path,
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<(Box<dyn Read + Send>, FileInfo), SourceError> {
    if path.as_os_str() == STDIN {
        let info = FileInfo {
            path: path.to_owned(),
            ..FileInfo::default()
        };
        let reader = CountingReader {
            inner: io::stdin(),
            count: progress,
        };
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        return sniff_gzip(path, &mut reader).map(|gzip| {
            let inner: Box<dyn Read + Send> = if gzip {
                Box::new(flate2::read::MultiGzDecoder::new(reader))
            } else {
                Box::new(reader)
            };
            (inner, FileInfo { gzip, ..info })
        });
    }
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(SourceError::Open {
            path: path.to_owned(),
            source: io::Error::other("is a directory"),
        });
    }
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        CountingReader {
            inner: file,
            count: progress,
        },
    );
    let gzip = sniff_gzip(path, &mut reader)?;
    let info = FileInfo {
        path: path.to_owned(),
        gzip,
        size,
        ..FileInfo::default()
    };
    let inner: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok((inner, info))
}

/// The path that means standard input.
pub const STDIN: &str = "-";

/// Peeks at the start of a buffered input: true for the gzip magic.
fn sniff_gzip<R: Read>(path: &Path, reader: &mut BufReader<R>) -> Result<bool, SourceError> {
    use std::io::BufRead;
    let head = reader.fill_buf().map_err(|source| SourceError::Io {
        path: path.to_owned(),
        offset: 0,
        source,
    })?;
    if head.is_empty() {
        return Err(SourceError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(head.starts_with(&GZIP_MAGIC))
}

/// Formats the first bytes of a file for an error message.
pub(crate) fn hex_prefix(data: &[u8]) -> String {
    data.iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an input file holds, judged by its first bytes (after gzip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// pcap or pcapng (anything else is left to the capture reader to reject).
    Capture,
    /// JSON lines: Hubble flow logs.
    FlowLog,
    /// A tar archive: a capture-agent bundle or a Retina Capture tarball.
    Archive,
    /// A Parquet file (the capture agent's drops.parquet).
    Parquet,
}

/// Sniffs the kind of `path`. Standard input is always read as a capture.
pub fn sniff_kind(path: &Path) -> Result<InputKind, SourceError> {
    if path.as_os_str() == STDIN {
        return Ok(InputKind::Capture);
    }
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (mut r, _) = open(path, counter)?;
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A damaged gzip stream: let the capture reader report it.
            Err(_) => break,
        }
    }
    let head = &head[..n];
    if head.starts_with(b"PAR1") {
        return Ok(InputKind::Parquet);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(InputKind::Archive);
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    Ok(if first == Some(&b'{') {
        InputKind::FlowLog
    } else {
        InputKind::Capture
    })
}

/// Reads a whole (small) file, decompressing gzip when it starts with the magic.
pub fn read_maybe_gzip(path: &Path) -> io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
