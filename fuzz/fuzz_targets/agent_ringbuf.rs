//! Fuzz target `agent_ringbuf`: see `retina_fuzz_harness::agent_ringbuf`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::agent_ringbuf(data));
