//! Capture points: the places that saw packets (a file, or a node of an
//! archive, times an interface), and what each flow looked like at each.

use serde::Serialize;

use crate::net::Endpoint;
use crate::PerDir;

/// One place that saw packets (`capture.points[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PointRecord {
    /// Index used by `flows[].points[].point` and the other point fields.
    pub id: u32,
    /// The capture file (an archive member as `ARCHIVE:MEMBER`).
    pub file: String,
    /// Files that continue it in time: a capture rotated into several
    /// files is one point (a file whose first packet comes after another
    /// file ended, with the same interface).
    pub more_files: Vec<String>,
    /// Node the file was captured on, when an archive names it.
    pub node: Option<String>,
    /// Interface: its name when the file gives one (pcapng), else `if<N>`
    /// (Linux cooked v2 interface index, or the file's N-th interface), or
    /// `-` (the file's only interface).
    pub interface: String,
    /// Packets captured there.
    pub packets: u64,
}

impl PointRecord {
    /// How the point is named in a sentence: its node or file name, and
    /// its interface when the file has several.
    pub fn name(&self) -> String {
        let place = self.node.clone().unwrap_or_else(|| {
            std::path::Path::new(&self.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.file.clone())
        });
        if self.interface == "-" {
            place
        } else {
            format!("{place} ({})", self.interface)
        }
    }
}

/// The clock offset between two capture files, estimated from packets
/// both saw in both directions (the minimum one-way delay each way,
/// assumed equal, as NTP does).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ClockOffset {
    /// A point of the first file (`capture.points[].id`).
    pub from: u32,
    /// A point of the second file.
    pub to: u32,
    /// What to subtract from `to`'s timestamps to read them on `from`'s clock.
    pub offset_ms: f64,
    /// The one-way delay the estimate implies (its uncertainty is at most this).
    pub min_delay_ms: f64,
    /// Flows that gave an estimate.
    pub flows: u64,
}

/// A flow at one capture point (`flows[].points[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FlowPoint {
    /// The point (`capture.points[].id`).
    pub point: u32,
    /// Packets of the flow that point saw, per direction.
    pub packets: PerDir,
    /// Their IP bytes, per direction.
    pub ip_bytes: PerDir,
}

/// The points each direction of a flow passed, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FlowPath {
    /// Points the client's packets passed, first to last.
    pub client: Vec<u32>,
    /// Points the server's packets passed, first to last.
    pub server: Vec<u32>,
}

/// Packets seen at one point and never at the next one downstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LostBetween {
    /// The upstream point that saw the packets (`capture.points[].id`).
    pub from: u32,
    /// The next point downstream, which never saw them.
    pub to: u32,
    /// Whose packets: `client` (sent by the client) or `server`.
    pub direction: &'static str,
    /// Packets `from` saw that `to` never did.
    pub packets: u64,
    /// Their IP bytes (with segments missing from packets merged by
    /// receive offload).
    pub bytes: u64,
    /// TCP payload bytes among them.
    pub payload_bytes: u64,
    /// Segments: `packets` for packets of wire size; payload bytes over
    /// the segment size where offloads merged segments.
    pub segments: u64,
    /// Kernel drops (capture agent) of this flow's packets on `to`'s node,
    /// by reason, when a bundle of that node was read.
    pub kernel_drops: std::collections::BTreeMap<String, u64>,
}

/// One-way delay between consecutive points of a direction (after clock
/// correction).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PointDelay {
    /// The upstream point.
    pub from: u32,
    /// The next point downstream.
    pub to: u32,
    /// Whose packets: `client` or `server`.
    pub direction: &'static str,
    /// Packets both points saw.
    pub samples: u64,
    /// Median one-way delay, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// A tuple the flow was seen under at some points (address translation:
/// a Service DNAT, a node SNAT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Translation {
    /// The client as seen there.
    pub client: Endpoint,
    /// The server as seen there.
    pub server: Endpoint,
    /// Points that saw the flow under this tuple.
    pub points: Vec<u32>,
}
