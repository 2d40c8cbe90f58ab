//! Fuzz target `capture`: see `retina_fuzz_harness::capture`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::capture(data));
