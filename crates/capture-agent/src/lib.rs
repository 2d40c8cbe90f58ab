//! The parts of retina-capture that other code reuses: the layout of the
//! records its BPF programs write to the ring buffers ([`abi`], which the
//! fuzz targets feed arbitrary bytes) and its command line ([`cli`]).

pub mod abi;
pub mod cli;
