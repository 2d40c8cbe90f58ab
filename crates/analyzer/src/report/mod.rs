//! The report model lives in its own crate, `retina-model`, which depends
//! on nothing of the analyzer; this module is its name inside the analyzer.

pub use retina_model::*;
