//! Archives (agent bundles, Retina Capture tarballs) the captures came from.

use std::path::PathBuf;

use serde::Serialize;

/// What an archive held.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveRecord {
    pub path: PathBuf,
    /// `retina-capture bundle`, `Retina Capture` or `tar`.
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
    /// Lost events the agent counted, from the bundle manifest.
    pub lost_events: Option<u64>,
    /// Set when the archive could not be read to its end.
    pub error: Option<String>,
}
