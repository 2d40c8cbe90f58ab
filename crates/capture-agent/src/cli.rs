//! Command line: options, and the parsers for sizes, networks and protocols.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

/// Largest snap length: the kernel-side copy buffer holds this many bytes.
pub const MAX_SNAPLEN: u32 = 65535;
pub const MAX_NETS: usize = 16;
pub const MAX_PORTS: usize = 16;
pub const MAX_PROTOS: usize = 8;

/// eBPF capture agent: packets to pcapng, kernel packet drops (with the
/// kernel's own reason) and TCP retransmissions to Parquet, optionally
/// bundled with host network metadata for retina-analyze.
///
/// Needs root (or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON) and a kernel with BPF
/// and BTF (/sys/kernel/btf/vmlinux). Stops at the first limit reached, or on
/// SIGINT/SIGTERM, after writing everything captured so far.
///
/// Exit status: 0 done; 1 runtime failure (including missing privileges or
/// BPF support, said on stderr); 2 bad command line.
#[derive(Parser, Debug, Clone)]
#[command(name = "retina-capture", version, max_term_width = 100)]
pub struct Args {
    /// Interface to capture on, ingress and egress (repeatable). Default: every
    /// interface of the current network namespace except loopback.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,

    /// Stop after this many seconds (decimals allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<f64>,

    /// Stop before the packet files would exceed this total size (e.g. 100MB,
    /// 64MiB, 1G; K/M/G are powers of 1000, KiB/MiB/GiB of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_size: Option<u64>,

    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub max_packets: Option<u64>,

    /// Bytes kept of each packet (1..=65535).
    #[arg(long, value_name = "N", default_value_t = MAX_SNAPLEN, value_parser = parse_snaplen)]
    pub snaplen: u32,

    /// Start a new packet file when the current one reaches this size; files
    /// are then numbered NAME-0000.pcapng, NAME-0001.pcapng, ...
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub rotate_size: Option<u64>,

    /// Directory for the output files (created when missing). Default: a new
    /// directory `retina-capture-<host>-<YYYYMMDDhhmmss>UTC` here, or a
    /// temporary one removed after packing when --bundle is given.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Pack the outputs and host network metadata into this gzip tarball
    /// (a regular file is written whole, then renamed into place; a FIFO,
    /// device or /dev/stdout is written in place).
    #[arg(long, value_name = "OUT.tar.gz")]
    pub bundle: Option<PathBuf>,

    /// Base name of the packet files (NAME.pcapng).
    #[arg(long, value_name = "NAME", default_value = "capture", value_parser = parse_name)]
    pub name: String,

    /// Keep only packets and events with an endpoint in this network
    /// (repeatable, e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7). Evaluated in the kernel.
    #[arg(long = "net", value_name = "CIDR", value_parser = parse_net)]
    pub nets: Vec<Net>,

    /// Keep only TCP/UDP/SCTP packets and events with this source or
    /// destination port (repeatable). Evaluated in the kernel.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Keep only this IP protocol: tcp, udp, icmp, icmpv6, sctp or a number
    /// (repeatable). Evaluated in the kernel.
    #[arg(long = "proto", value_name = "PROTO", value_parser = parse_proto)]
    pub protos: Vec<u8>,

    /// Do not record packet drops (tracepoint skb/kfree_skb).
    #[arg(long)]
    pub no_drops: bool,

    /// Do not record TCP retransmissions (tracepoint tcp/tcp_retransmit_skb).
    #[arg(long)]
    pub no_retrans: bool,

    /// Do not report drops with this reason (repeatable; the kernel's name
    /// without SKB_DROP_REASON_, e.g. NOT_SPECIFIED).
    #[arg(long = "exclude-reason", value_name = "REASON")]
    pub exclude_reasons: Vec<String>,

    /// Size of the packet ring buffer shared with the kernel (power of two,
    /// at least 64KiB). Larger survives longer bursts.
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub ring_size: u64,

    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,

    /// No progress line on stderr (the final summary is still printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl Args {
    /// Checks that need several options at once; the message names them.
    pub fn validate(&self) -> Result<(), String> {
        if self.nets.len() > MAX_NETS {
            return Err(format!("--net: at most {MAX_NETS} networks"));
        }
        if self.ports.len() > MAX_PORTS {
            return Err(format!("--port: at most {MAX_PORTS} ports"));
        }
        if self.protos.len() > MAX_PROTOS {
            return Err(format!("--proto: at most {MAX_PROTOS} protocols"));
        }
        if self.max_packets == Some(0) {
            return Err("--max-packets: must be at least 1".into());
        }
        if let Some(r) = self.rotate_size {
            if r < 4096 {
                return Err("--rotate-size: must be at least 4096 bytes".into());
            }
        }
        if let Some(m) = self.max_size {
            if m < 4096 {
                return Err("--max-size: must be at least 4096 bytes".into());
            }
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 65536 || self.ring_size > 1 << 30 {
            return Err(format!(
                "--ring-size: {} is not a power of two between 64KiB and 1GiB",
                self.ring_size
            ));
        }
        if let Some(b) = &self.bundle {
            let s = b.to_string_lossy();
            // A device, FIFO or inherited descriptor (`--bundle /dev/stdout`
            // piped on) has no name to check; a file gets its usual suffix.
            let streamed = matches!(
                retina_outfile::plan(b),
                Ok(retina_outfile::Plan::InPlace { .. })
            );
            if !(streamed || s.ends_with(".tar.gz") || s.ends_with(".tgz")) {
                return Err(format!("--bundle: {s}: name must end in .tar.gz or .tgz"));
            }
        }
        Ok(())
    }
}

/// An address prefix of the --net filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

pub fn parse_net(s: &str) -> Result<Net, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{s:?} is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8)"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match p {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
    };
    Ok(Net { addr, prefix_len })
}

pub fn parse_proto(s: &str) -> Result<u8, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        other => other.parse::<u8>().map_err(|_| {
            format!("{s:?} is not a protocol (tcp, udp, icmp, icmpv6, sctp or 0-255)")
        })?,
    })
}

/// Sizes: plain bytes, or with K/M/G/T (powers of 1000, optional B) or
/// KiB/MiB/GiB/TiB (powers of 1024). Case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown size unit (use e.g. 100MB, 64MiB, 4096)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 100MB, 64MiB, 4096)"))?;
    let v = n * mult as f64;
    if !v.is_finite() || v < 1.0 || v > u64::MAX as f64 {
        return Err(format!("{s:?}: size out of range"));
    }
    Ok(v as u64)
}

pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('s');
    let v: f64 = t
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 1e9 {
        return Err(format!("{s:?}: seconds must be greater than 0"));
    }
    Ok(v)
}

fn parse_snaplen(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes"))?;
    if v == 0 || v > MAX_SNAPLEN {
        return Err(format!("{v}: snap length must be 1..={MAX_SNAPLEN}"));
    }
    Ok(v)
}

fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || s.starts_with('.')
    {
        return Err(format!(
            "{s:?}: use letters, digits, '-', '_' and '.' (not first)"
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("100M").unwrap(), 100_000_000);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1.5k").unwrap(), 1500);
        assert!(parse_size("12XB").unwrap_err().contains("unit"));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-5").is_err());
    }

    #[test]
    fn nets() {
        let n = parse_net("10.0.0.0/8").unwrap();
        assert_eq!(n.prefix_len, 8);
        assert_eq!(parse_net("fd00::1").unwrap().prefix_len, 128);
        assert_eq!(parse_net("192.0.2.7").unwrap().prefix_len, 32);
        assert!(parse_net("10.0.0.0/33").unwrap_err().contains("0..=32"));
        assert!(parse_net("10.0.0/8").is_err());
        assert!(parse_net("fd00::/129").is_err());
    }

    #[test]
    fn protos() {
        assert_eq!(parse_proto("TCP").unwrap(), 6);
        assert_eq!(parse_proto("udp").unwrap(), 17);
        assert_eq!(parse_proto("47").unwrap(), 47);
        assert!(parse_proto("tcpx").is_err());
        assert!(parse_proto("300").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), 1.5);
        assert_eq!(parse_duration("30s").unwrap(), 30.0);
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn validation_names_the_option() {
        let mut a = Args::try_parse_from(["retina-capture"]).unwrap();
        assert!(a.validate().is_ok());
        a.ring_size = 3 << 20;
        assert!(a.validate().unwrap_err().starts_with("--ring-size"));
        let a = Args::try_parse_from(["retina-capture", "--bundle", "x.zip"]).unwrap();
        assert!(a.validate().unwrap_err().starts_with("--bundle"));
    }
}
