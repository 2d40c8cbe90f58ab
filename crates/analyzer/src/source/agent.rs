//! The capture agent's tables as the analysis reads them: kernel drops
//! (`drops.parquet`) and kernel TCP retransmissions (`retrans.parquet`),
//! from a bundle or given directly. Joining them to flows is
//! [`crate::analysis::drops`]'s work.

use std::net::IpAddr;
use std::path::Path;

use retina_tables::agent::{DropTableRow, RetransTableRow, DROPS, RETRANS};
use retina_tables::Rows;

/// One drop event.
#[derive(Debug, Clone, PartialEq)]
pub struct DropEvent {
    pub time_ns: Option<i64>,
    pub reason: String,
    pub protocol: u8,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Interface name, else `if<index>`, else null.
    pub interface: Option<String>,
    pub location: Option<String>,
}

/// A time read from an agent table: files without the column (none that
/// retina-capture wrote) read as 0, which is no time.
fn time(ns: i64) -> Option<i64> {
    (ns != 0).then_some(ns)
}

/// An empty string (a missing column or a null, in files of other agent
/// versions) names nothing.
fn text_or(s: &str, missing: &str) -> String {
    if s.is_empty() { missing } else { s }.to_string()
}

fn ip(s: Option<&str>) -> Option<IpAddr> {
    s.and_then(|s| s.parse().ok())
}

/// Reads the drop events of one `drops.parquet`. Files of other agent
/// versions may lack columns (they read as null or zero) but not the
/// analyzer's contract: `reason`, `protocol` and the addresses and ports.
pub fn read(path: &Path) -> Result<Vec<DropEvent>, String> {
    let c = DropTableRow::COLUMNS;
    let required = [
        c.reason, c.protocol, c.src_ip, c.dst_ip, c.src_port, c.dst_port,
    ];
    let (batches, _) =
        retina_tables::read_table(path, &DROPS, &required).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in &batches {
        let rows =
            Rows::<DropTableRow>::lenient(b).map_err(|e| format!("{}: {e}", path.display()))?;
        for r in rows.iter() {
            let interface = r
                .ifname
                .as_deref()
                .map(str::to_string)
                .or_else(|| (r.ifindex != 0).then(|| format!("if{}", r.ifindex)));
            out.push(DropEvent {
                time_ns: time(r.time),
                reason: text_or(&r.reason, "UNKNOWN"),
                protocol: r.protocol,
                src_ip: ip(r.src_ip.as_deref()),
                dst_ip: ip(r.dst_ip.as_deref()),
                src_port: r.src_port,
                dst_port: r.dst_port,
                interface,
                location: r.location.map(|l| l.into_owned()),
            });
        }
    }
    Ok(out)
}

/// A TCP retransmission the kernel reported (`retrans.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetransEvent {
    pub time_ns: Option<i64>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub state: String,
}

/// Reads the retransmission events of one `retrans.parquet` (lenient like
/// [`read`]; the addresses and ports are required).
pub fn read_retrans(path: &Path) -> Result<Vec<RetransEvent>, String> {
    let c = RetransTableRow::COLUMNS;
    let required = [c.src_ip, c.dst_ip, c.src_port, c.dst_port];
    let (batches, _) =
        retina_tables::read_table(path, &RETRANS, &required).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in &batches {
        let rows =
            Rows::<RetransTableRow>::lenient(b).map_err(|e| format!("{}: {e}", path.display()))?;
        for r in rows.iter() {
            out.push(RetransEvent {
                time_ns: time(r.time),
                src_ip: ip(Some(&r.src_ip)),
                dst_ip: ip(Some(&r.dst_ip)),
                src_port: Some(r.src_port),
                dst_port: Some(r.dst_port),
                state: text_or(&r.state, "UNKNOWN"),
            });
        }
    }
    Ok(out)
}
