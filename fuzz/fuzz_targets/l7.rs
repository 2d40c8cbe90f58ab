//! Fuzz target `l7`: see `retina_fuzz_harness::l7`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::l7(data));
