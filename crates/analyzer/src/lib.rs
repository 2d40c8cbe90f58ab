//! retina-analyzer: offline analysis of packet captures for Kubernetes
//! network incidents.
//!
//! Data flows one way: [`source`] (files → records) → [`decode`] (records →
//! packet summaries) → [`flow`] (bidirectional flows) → [`report`] (a plain,
//! serializable model) → [`render`] (terminal, JSON). Analysis never prints;
//! renderers never compute statistics.

pub mod analysis;
pub mod context;
pub mod decode;
pub mod flow;
pub mod hubble;
pub mod par;
pub mod parquet_out;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod report;
#[cfg(feature = "polars")]
pub mod rollups;
pub mod source;
