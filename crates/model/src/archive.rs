//! Archives (agent bundles, Retina Capture tarballs) the captures came from.

use std::path::PathBuf;

use serde::Serialize;

/// A capture-agent bundle (`retina-capture --bundle`) or a Retina Capture
/// tarball (`<name>-<node>-<YYYYMMDDhhmmss>UTC.tar.gz`), recognized by
/// content (a tar archive, gzip or not). Its captures are analyzed with the
/// other inputs and appear in `capture.files` as `ARCHIVE:MEMBER`; its
/// `drops.parquet` feeds [drops](#drops). Members whose path would leave the
/// archive (`../`, absolute) are skipped and listed.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ArchiveRecord {
    /// The archive as given.
    pub path: PathBuf,
    /// `retina-capture bundle` (has `retina-bundle.json`), `Retina Capture`
    /// (named like Retina's tarballs), or `tar`.
    pub kind: &'static str,
    /// Node the archive was taken on (manifest, or the Retina file name).
    pub node: Option<String>,
    /// Capture name (Retina Capture) or host name (bundle manifest).
    pub name: Option<String>,
    /// Start of the capture as the archive names it.
    pub started: Option<String>,
    /// Capture members read as captures.
    pub captures: Vec<String>,
    /// Drop tables read.
    pub drops: Vec<String>,
    /// Kernel retransmission tables read.
    pub retrans: Vec<String>,
    /// Other members (host metadata), listed for the reader of the report.
    pub metadata: Vec<String>,
    /// Events the agent could not deliver (ring buffer full), from the
    /// bundle manifest.
    pub lost_events: Option<u64>,
    /// The node's TCP and IP kernel counters over the capture (end minus
    /// start, from the bundle's `/proc/net/netstat` and `snmp` copies), by
    /// `Group.Name` as nstat names them (`TcpExt.ListenOverflows`,
    /// `Tcp.RetransSegs`, …): only those that moved. Empty without them.
    pub kernel_counters: std::collections::BTreeMap<String, i64>,
    /// What stopped the reading (a truncated archive keeps every member
    /// before the damage), or that the archive holds no capture. The exit
    /// status is then 3.
    pub error: Option<String>,
}
