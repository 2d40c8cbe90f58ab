//! Fuzz target `gzip`: see `retina_fuzz_harness::gzip`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| retina_fuzz_harness::gzip(data));
