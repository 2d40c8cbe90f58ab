//! Kernel drops and kernel TCP retransmissions (the capture agent's
//! tables), joined to flows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::net::Endpoint;

/// What a kernel drop reason means for an incident: its family.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DropFamily {
    /// A firewall rule, network policy or packet program dropped it
    /// (`NETFILTER_DROP`, `XFRM_POLICY`, `BPF_CGROUP_EGRESS`, `TC_*`, `XDP`…).
    Policy,
    /// Nothing listens on the port (`NO_SOCKET`, `IP_NOPROTO`).
    NoListener,
    /// A queue or buffer was full (`QDISC_DROP`, `CPU_BACKLOG`,
    /// `SOCKET_RCVBUFF`, `TCP_LISTEN_OVERFLOW`, `NOMEM`…).
    Congestion,
    /// Addressing or routing: no neighbour, no route, not for this host,
    /// reverse-path filter (`NEIGH_*`, `IP_OUTNOROUTES`, `OTHERHOST`…).
    Routing,
    /// Larger than the path allows (`PKT_TOO_BIG`).
    Mtu,
    /// A bad checksum or malformed header (`TCP_CSUM`, `IP_INHDR`…).
    Header,
    /// TCP's own receiver discarding a segment it does not need
    /// (`TCP_OLD_DATA`, `TCP_OFO_DROP`…): usually a consequence of
    /// retransmissions or reordering, not a cause.
    TcpReceiver,
    /// Normal life, not loss: a socket closed with data queued
    /// (`QUEUE_PURGE`, `SOCKET_CLOSE`…). Counted apart, never a finding.
    Normal,
    /// The kernel gave no reason (`NOT_SPECIFIED`).
    Unspecified,
    /// A reason this version does not classify.
    Other,
}

impl DropFamily {
    /// The name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DropFamily::Policy => "policy",
            DropFamily::NoListener => "no_listener",
            DropFamily::Congestion => "congestion",
            DropFamily::Routing => "routing",
            DropFamily::Mtu => "mtu",
            DropFamily::Header => "header",
            DropFamily::TcpReceiver => "tcp_receiver",
            DropFamily::Normal => "normal",
            DropFamily::Unspecified => "unspecified",
            DropFamily::Other => "other",
        }
    }

    /// Whether drops of this family are lost packets (everything but
    /// [`DropFamily::Normal`]).
    pub fn is_loss(self) -> bool {
        self != DropFamily::Normal
    }
}

/// Drops of one flow (or of the whole run): the count and the kernel's reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DropCounts {
    /// Packets of the flow the kernel dropped (lost), normal-life drops excluded.
    pub count: u64,
    /// Those drops by the kernel's reason (`NETFILTER_DROP`, …).
    pub by_reason: BTreeMap<String, u64>,
    /// Normal-life frees that are not loss (`QUEUE_PURGE` when a socket
    /// closes with data queued, …), by reason.
    pub normal: BTreeMap<String, u64>,
}

impl DropCounts {
    /// Counts one drop of `reason`; `loss` says whether it is a lost packet.
    pub fn add(&mut self, reason: &str, loss: bool) {
        if loss {
            self.count += 1;
            *self.by_reason.entry(reason.to_string()).or_default() += 1;
        } else {
            *self.normal.entry(reason.to_string()).or_default() += 1;
        }
    }
}

/// A flow and how many of its packets the kernel dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FlowDrops {
    /// Index into `flows`.
    pub flow: u64,
    /// Packets dropped.
    pub count: u64,
}

/// A server (the responder of the flows hit) and its drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EndpointDrops {
    /// The server.
    pub endpoint: Endpoint,
    /// Packets dropped on its flows.
    pub count: u64,
}

/// Drops of one kernel reason: how many, where and which flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DropReason {
    /// The kernel's reason, e.g. `NETFILTER_DROP`.
    pub reason: String,
    /// What the reason means for an incident.
    pub family: DropFamily,
    /// Drop events of this reason.
    pub count: u64,
    /// Drops joined to a flow of the capture.
    pub attributed: u64,
    /// By interface (`(socket layer)` for drops of no interface).
    pub by_interface: BTreeMap<String, u64>,
    /// By kernel code location (`symbol+0xoff`), when known.
    pub by_location: BTreeMap<String, u64>,
    /// Flows with the most drops of this reason, most first (at most 20).
    pub flows: Vec<FlowDrops>,
    /// Servers of those flows with the most drops, most first (at most 10).
    pub servers: Vec<EndpointDrops>,
    /// Time of the first drop (ns since the epoch), when known.
    pub first_ts_ns: Option<i64>,
    /// Time of the last drop, when known.
    pub last_ts_ns: Option<i64>,
}

/// Drop events from the capture agent (`drops.parquet`: the kernel's
/// `skb/kfree_skb` tracepoint with its drop reason), given inside a bundle or
/// as a file. Each drop is joined to the flow with the same 5-tuple (either
/// direction; addresses only for ICMP) whose lifetime, widened by 10 s on
/// each side, holds the drop's time; with several such flows (a reused
/// 5-tuple), the nearest in time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DropsSummary {
    /// Every drop event read, normal-life frees included.
    pub count: u64,
    /// Drops that are lost packets (every family but `normal`).
    pub loss: u64,
    /// Normal-life frees (family `normal`): counted apart, never findings.
    pub normal: u64,
    /// Drops by the kernel's reason name without its `SKB_DROP_REASON_`
    /// prefix (`NETFILTER_DROP`, `NO_SOCKET`, …).
    pub by_reason: BTreeMap<String, u64>,
    /// Drops by interface name (`if<N>` when only the index is known,
    /// `(socket layer)` for drops of no interface).
    pub by_interface: BTreeMap<String, u64>,
    /// Drops by kernel code location (`symbol+0xoff`).
    pub by_location: BTreeMap<String, u64>,
    /// Lost packets (`loss`, not normal-life frees) that belong to no flow
    /// of the capture.
    pub unattributed: u64,
    /// Flows with the most lost packets, most first (at most 20).
    pub top_flows: Vec<FlowDrops>,
    /// Every reason with its details, most drops first.
    pub reasons: Vec<DropReason>,
    /// The drop tables read.
    pub files: Vec<PathBuf>,
}

/// Interface shown for a drop of no interface: it happened in the socket
/// layer (after the packet left every device).
pub const NO_INTERFACE: &str = "(socket layer)";

/// TCP retransmissions the kernel reported (the capture agent's
/// `retrans.parquet`, in a bundle or as a file), joined to flows like
/// [drops](#drops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RetransSummary {
    /// Retransmit events read.
    pub count: u64,
    /// By the socket's TCP state when it retransmitted (`ESTABLISHED`, …).
    pub by_state: BTreeMap<String, u64>,
    /// Retransmissions of no captured flow.
    pub unattributed: u64,
    /// The retransmission tables read.
    pub files: Vec<PathBuf>,
}
