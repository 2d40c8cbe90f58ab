//! Kernel drops and kernel TCP retransmissions (the capture agent's
//! tables), joined to flows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// Drops of one flow (or of the whole run): the count and the kernel's reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropCounts {
    pub count: u64,
    pub by_reason: BTreeMap<String, u64>,
}

impl DropCounts {
    pub fn add(&mut self, reason: &str) {
        self.count += 1;
        *self.by_reason.entry(reason.to_string()).or_default() += 1;
    }
}

/// A flow and how many of its packets the kernel dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowDrops {
    pub flow: u64,
    pub count: u64,
}

/// Run-wide drop summary (`drops` at the top of the JSON document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropsSummary {
    pub count: u64,
    pub by_reason: BTreeMap<String, u64>,
    pub by_interface: BTreeMap<String, u64>,
    /// Kernel code locations that dropped most (`symbol+0xoff`).
    pub by_location: BTreeMap<String, u64>,
    /// Drops that belong to no flow of the capture.
    pub unattributed: u64,
    /// Flows with the most drops, most first.
    pub top_flows: Vec<FlowDrops>,
    /// The drop tables read.
    pub files: Vec<PathBuf>,
}

/// Kernel retransmissions of the run (`kernel_retransmissions` in JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetransSummary {
    pub count: u64,
    /// By the socket's TCP state when it retransmitted.
    pub by_state: BTreeMap<String, u64>,
    /// Retransmissions of no captured flow.
    pub unattributed: u64,
    pub files: Vec<PathBuf>,
}
