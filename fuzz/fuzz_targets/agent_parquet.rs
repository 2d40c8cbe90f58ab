//! Fuzz target `agent_parquet`: see `retina_fuzz_harness::agent_parquet`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::agent_parquet(data));
