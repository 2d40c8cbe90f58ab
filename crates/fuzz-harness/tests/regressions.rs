//! Every input a fuzz target ever failed on (fuzz/regressions/TARGET/*,
//! named for what went wrong) runs again through that target's body, in a
//! debug build (integer overflow panics), and must finish in time.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("capture", retina_fuzz_harness::capture),
    ("gzip", retina_fuzz_harness::gzip),
    ("frame", retina_fuzz_harness::frame),
    ("tcp", retina_fuzz_harness::tcp),
    ("dns", retina_fuzz_harness::dns),
    ("hubble", retina_fuzz_harness::hubble),
    ("kubectl", retina_fuzz_harness::kubectl),
    ("archive", retina_fuzz_harness::archive),
    ("agent_parquet", retina_fuzz_harness::agent_parquet),
    ("agent_ringbuf", retina_fuzz_harness::agent_ringbuf),
    ("filter", retina_fuzz_harness::filter),
    ("l7", retina_fuzz_harness::l7),
];

/// What the fuzzer found, in a debug build: 20 s where the fuzzer
/// allowed 10 s of an optimized one would be a hang.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn every_fuzz_regression_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut ran = 0;
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions") {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(&(_, target)) = TARGETS.iter().find(|(t, _)| *t == name) else {
            panic!("fuzz/regressions/{name}: no such fuzz target");
        };
        for input in std::fs::read_dir(&dir).unwrap() {
            let input = input.unwrap().path();
            let data = std::fs::read(&input).unwrap();
            let (tx, rx) = mpsc::channel();
            let label = format!("{name}/{}", input.file_name().unwrap().to_string_lossy());
            std::thread::spawn(move || {
                let r = std::panic::catch_unwind(|| target(&data));
                let _ = tx.send(r.is_ok());
            });
            match rx.recv_timeout(LIMIT) {
                Ok(true) => {}
                Ok(false) => panic!("{label}: panicked"),
                Err(_) => panic!("{label}: still running after {LIMIT:?}"),
            }
            ran += 1;
        }
    }
    assert!(ran >= 2, "found {ran} regression inputs");
    eprintln!("{ran} fuzz regression inputs passed");
}

/// The table above names every target of fuzz/Cargo.toml.
#[test]
fn every_fuzz_target_is_replayable() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/Cargo.toml"),
    )
    .unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "retina-fuzz")
        .collect();
    let mut known: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    let mut bins_sorted = bins.clone();
    known.sort();
    bins_sorted.sort();
    assert_eq!(known, bins_sorted);
}
