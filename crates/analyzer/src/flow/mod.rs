//! Flow reconstruction: bidirectional flows with an originator, closed by
//! FIN/RST or idle timeout so memory follows the active flows.
//!
//! A [`FlowTable`] owns the flows of one shard. The pipeline routes every
//! packet to a shard by [`FlowKey::shard_hash`], which is symmetric, so both
//! directions of a flow always meet in the same table.

mod fragments;
mod key;
pub mod points;
mod table;

pub use crate::report::Endpoint;
pub use fragments::FragmentTracker;
pub use key::{endpoints, Direction, FlowKey, Side};
pub use table::{ClockEstimate, FlowTable, MultiConfig, TableEnd, Timeouts, TIMELINE_TICK_NS};

/// Ports that mark the responder of a midstream flow. Below 1024 plus the
/// usual service ports of a Kubernetes cluster (databases, brokers, API
/// servers, kubelet, metrics). Generic development ports (3000, 5000, 8000)
/// are left out: they mislead more often than they help.
pub fn likely_server_port(port: u16) -> bool {
    const PORTS: &[u16] = &[
        1433, 1521, 2049, 2379, 2380, 3306, 3389, 4222, 5353, 5432, 5672, 6379, 6443, 8080, 8443,
        9042, 9090, 9092, 9093, 9200, 9300, 9411, 10250, 10255, 11211, 15672, 27017,
    ];
    (port != 0 && port < 1024) || PORTS.contains(&port)
}
