//! Fuzz target `frame`: see `retina_fuzz_harness::frame`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::frame(data));
