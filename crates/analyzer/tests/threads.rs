//! The output does not depend on the number of threads (`--threads`), byte
//! for byte, in every format; `--format jsonl` carries the same flows as
//! the JSON document.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, testdata};

/// Runs the analyzer; returns its exit status and standard output.
fn run_any(files: &[&Path], args: &[&str]) -> (i32, Vec<u8>) {
    let out = bin().args(files).args(args).output().expect("run");
    (out.status.code().unwrap_or(-1), out.stdout)
}

/// Runs the analyzer; returns stdout, requiring exit status 0.
fn run(files: &[&Path], args: &[&str]) -> Vec<u8> {
    let (code, out) = run_any(files, args);
    assert_eq!(code, 0, "exit status for {files:?} {args:?}");
    out
}

/// Inputs of every kind: one point, several points (a forwarding router's
/// `-i any` and three files), an agent bundle, a damaged capture.
fn inputs() -> Vec<Vec<PathBuf>> {
    let mut v = vec![
        vec![testdata("tcp-udp-ipv4.pcap")],
        vec![testdata("ipv6.pcapng")],
        vec![testdata("any-sll2.pcap")],
        vec![testdata("vxlan.pcap")],
        vec![testdata("groundtruth/loss.pcap")],
        vec![testdata("groundtruth/states.pcap")],
        vec![testdata("groundtruth/dns.pcap")],
        vec![testdata("bundle/node-b.tar.gz")],
        vec![testdata("points/router.router.pcap.gz")],
        vec![
            testdata("points/router.client.pcap.gz"),
            testdata("points/router.router.pcap.gz"),
            testdata("points/router.server.pcap.gz"),
        ],
        vec![
            testdata("points/dnat.client.pcap.gz"),
            testdata("points/dnat.router.pcap.gz"),
            testdata("points/dnat.server.pcap.gz"),
        ],
        vec![
            testdata("groundtruth/loss.pcap"),
            testdata("groundtruth/loss.receiver.pcap"),
        ],
    ];
    let edge = testdata("edge");
    let mut damaged: Vec<PathBuf> = std::fs::read_dir(&edge)
        .expect("testdata/edge")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    damaged.sort();
    v.extend(damaged.into_iter().take(8).map(|p| vec![p]));
    v
}

#[test]
fn every_format_is_identical_for_any_thread_count() {
    for files in inputs() {
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        for format in ["json", "jsonl", "text"] {
            let args = |n: &'static str| {
                [
                    "--format",
                    format,
                    "--quiet",
                    "--color",
                    "never",
                    "--threads",
                    n,
                ]
            };
            let one = run_any(&files, &args("1"));
            assert!(
                !one.1.is_empty() || one.0 == 1,
                "{files:?} {format}: no output"
            );
            // Two threads: every accuracy test checks it (common::analyze_json).
            for n in ["3", "5"] {
                let other = run_any(&files, &args(n));
                assert!(
                    one == other,
                    "{files:?} --format {format}: --threads {n} differs from --threads 1"
                );
            }
        }
    }
}

/// Makes a synthetic capture with `scripts/bench/workloads.py`.
fn workload(dir: &Path, kind: &str, arg: &str, n: usize) -> PathBuf {
    let out = dir.join(format!("{kind}.pcap"));
    let status = Command::new("python3")
        .arg(common::repo_root().join("scripts/bench/workloads.py"))
        .args([kind, out.to_str().unwrap(), arg, &n.to_string()])
        .status()
        .expect("python3 (installed by scripts/install-deps.sh)");
    assert!(status.success(), "workloads.py {kind} failed");
    out
}

/// Enough flows that the JSON flows are serialized in parallel steps
/// (more than one step of 16,384), and the flow tables work in parallel
/// batches with sweeps between them.
#[test]
fn many_flows_identical_and_jsonl_matches_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let flood = workload(dir.path(), "flood", "--tuples", 17_000);
    let short = workload(dir.path(), "short", "--flows", 800);
    for f in [&flood, &short] {
        let files = [f.as_path()];
        let json = |n: &'static str| run(&files, &["--format", "json", "--quiet", "--threads", n]);
        let one = json("1");
        let two = json("2");
        assert!(one == two, "{f:?}: JSON differs between 1 and 2 threads");
        let doc: serde_json::Value = serde_json::from_slice(&one).expect("valid JSON");
        let flows = doc["flows"].as_array().expect("flows");
        if f == &flood {
            assert_eq!(flows.len(), 17_000, "one flow per SYN tuple");
        } else {
            assert_eq!(flows.len(), 800);
        }

        let lines_1 = run(&files, &["--format", "jsonl", "--quiet", "--threads", "1"]);
        let lines_2 = run(&files, &["--format", "jsonl", "--quiet", "--threads", "2"]);
        assert!(
            lines_1 == lines_2,
            "{f:?}: JSON lines differ between 1 and 2 threads"
        );
        let text = String::from_utf8(lines_1).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            flows.len() + 1,
            "one line per flow, then the summary"
        );
        // Every line of the smaller capture; a sample of the larger one.
        let every = if flows.len() > 1_000 { 97 } else { 1 };
        for (i, (line, flow)) in lines.iter().zip(flows).enumerate().step_by(every) {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(&v, flow, "{f:?}: line {i} is not flows[{i}]");
        }
        let summary: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        let mut rest = doc.clone();
        rest["flows"] = serde_json::json!([]);
        assert_eq!(
            summary, rest,
            "{f:?}: the summary line is the document without flows"
        );
    }
}

#[test]
fn zero_threads_is_a_usage_error() {
    let out = bin()
        .arg(testdata("tcp-udp-ipv4.pcap"))
        .args(["--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threads"), "{err}");
}

/// A flood beyond `--max-flows` ends the longest-idle flows early: counted
/// in the report, warned about, marked on each flow; never silent.
#[test]
fn max_flows_evicts_counts_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let flood = workload(dir.path(), "flood", "--tuples", 5_000);
    let files = [flood.as_path()];
    let args = ["--format", "json", "--quiet", "--max-flows", "1000"];
    let out = run(&files, &args);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let flows = doc["flows"].as_array().unwrap();
    // Every SYN still makes its flow: eviction ends flows, it loses none.
    assert_eq!(flows.len(), 5_000);
    let evicted = flows
        .iter()
        .filter(|f| f["end_reason"] == "evicted")
        .count();
    assert_eq!(doc["capture"]["evicted_flows"], evicted as u64);
    // At most 1,000 open at once (in 16 shards of 63): the rest was evicted,
    // oldest first, so the last flows are still open at the end.
    assert!(evicted >= 5_000 - 1_008, "evicted {evicted}");
    assert!(evicted < 5_000, "evicted {evicted}");
    assert_eq!(flows.last().unwrap()["end_reason"], "end_of_capture");
    assert_eq!(flows[0]["end_reason"], "evicted");
    let warned = doc["capture"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("--max-flows"));
    assert!(warned, "a warning names the limit");
    // The same for any thread count.
    let mut two = args.to_vec();
    two.extend(["--threads", "2"]);
    let mut one = args.to_vec();
    one.extend(["--threads", "1"]);
    assert!(run(&files, &one) == run(&files, &two));
    // Without the limit nothing is evicted.
    let doc: serde_json::Value =
        serde_json::from_slice(&run(&files, &["--format", "json", "--quiet"])).unwrap();
    assert_eq!(doc["capture"]["evicted_flows"], 0);
}
