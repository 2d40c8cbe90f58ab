//! Per-flow analysis that goes beyond counting: TCP loss, latency and
//! state ([`tcp`]), DNS transactions ([`dns`]), and the sample statistics
//! they share ([`stats`]).

pub mod dns;
pub mod drops;
pub mod findings;
pub mod gate;
pub mod stats;
pub mod tcp;
pub mod worst;
