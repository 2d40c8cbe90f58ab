//! Path MTU against the kernel: a pod with MTU 1500 sends through a VXLAN
//! overlay of MTU 1450 (`scripts/groundtruth/mtu.py`: four network
//! namespaces, real traffic). The node answers full-size segments with ICMP
//! "fragmentation needed, MTU 1450" and the client sends the data again in
//! smaller segments. The analysis must name the MTU and the hop in a
//! path_mtu finding, count the ICMP errors the node's kernel says it sent,
//! and the retransmissions the client's TCP_INFO counted.
//!
//! The same path with the node's ICMP errors dropped (`mtu.py OUT
//! blackhole`: nftables counts them) is a path-MTU black hole: the first
//! full-size segment is sent again and again until the client gives up; a
//! path_mtu_black_hole finding must name it, and no other capture of the
//! project may raise one.
//!
//! Runs on the saved captures (testdata/groundtruth/mtu*.pcap) and on fresh
//! ones (root and network namespaces: skipped with a reason outside CI, a
//! failure in CI).

mod common;

use std::path::Path;
use std::process::Command;

use common::{analyze_json, repo_root, require, root, testdata, tool};
use serde_json::Value;

/// The analysis of `pcap` and its TCP flow from the truth's client port.
fn analyze(pcap: &Path, truth: &Value, what: &str) -> (Value, Value) {
    let (code, j, err) = analyze_json(&[pcap], &[]);
    assert_eq!(code, 0, "{what}: {err}");
    let port = truth["client"]["port"].as_u64().unwrap();
    let flow = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["proto"] == "tcp" && f["client"]["port"].as_u64() == Some(port))
        .unwrap_or_else(|| panic!("{what}: no flow from port {port}"))
        .clone();
    (j, flow)
}

fn check(pcap: &Path, truth: &Value, what: &str) {
    let (j, flow) = analyze(pcap, truth, what);
    let sent = truth["node_icmp_dest_unreachs_sent"].as_u64().unwrap();
    assert!(sent > 0, "{what}: the node sent no ICMP error: {truth}");
    let mtu = truth["path_mtu"].as_u64().unwrap();
    let reporter = truth["reporter"].as_str().unwrap();
    let errors = flow["icmp_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{what}: {errors:?}");
    let e = &errors[0];
    assert_eq!(
        (e["type"].as_u64(), e["code"].as_u64()),
        (Some(3), Some(4)),
        "{what}"
    );
    assert_eq!(e["reporter"], reporter, "{what}");
    assert_eq!(e["about"], "client", "{what}");
    assert_eq!(e["mtu"].as_u64(), Some(mtu), "{what}");
    assert_eq!(
        e["count"].as_u64(),
        Some(sent),
        "{what}: the node's OutDestUnreachs"
    );
    // The client's kernel learned the path MTU and counted its retransmissions.
    assert_eq!(truth["client_pmtu"].as_u64(), Some(mtu), "{what}");
    let resent = flow["tcp"]["retransmissions"]["client"]["segments"]
        .as_u64()
        .unwrap();
    assert_eq!(
        resent,
        truth["total_retrans"].as_u64().unwrap(),
        "{what}: retransmissions against TCP_INFO"
    );
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "path_mtu")
        .unwrap_or_else(|| panic!("{what}: no path_mtu finding: {:#}", j["findings"]));
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("above {mtu} bytes")),
        "{what}: {summary}"
    );
    assert!(summary.contains(reporter), "{what}: {summary}");
    assert!(
        summary.contains(&format!("{resent} segment(s)")),
        "{what}: {summary}"
    );
    assert_eq!(f["severity"], "MEDIUM", "{what}: the transfer completed");
    assert_eq!(f["flows"], serde_json::json!([flow["id"]]), "{what}");
    let ev = f["evidence"].to_string();
    assert!(ev.contains("VXLAN"), "{what}: the overlay named: {ev}");
    // The retransmission finding of that path points at the MTU.
    let re = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "retransmissions")
        .map(|f| f["evidence"].to_string())
        .unwrap_or_default();
    assert!(re.contains(&format!("(MTU {mtu})")), "{what}: {re}");
}

fn check_black_hole(pcap: &Path, truth: &Value, what: &str) {
    let (j, flow) = analyze(pcap, truth, what);
    // The node sent its ICMP errors and nftables dropped every one.
    let sent = truth["node_icmp_dest_unreachs_sent"].as_u64().unwrap();
    assert!(sent > 0, "{what}: {truth}");
    assert_eq!(truth["icmp_filtered"].as_u64(), Some(sent), "{what}");
    assert_eq!(flow["icmp_errors"], serde_json::json!([]), "{what}");
    assert_eq!(
        truth["client_aborted"], true,
        "{what}: the transfer stalled"
    );
    let r = &flow["tcp"]["retransmissions"]["client"];
    let resent = truth["total_retrans"].as_u64().unwrap();
    assert!(resent >= 2, "{what}: {truth}");
    assert_eq!(
        r["segments"].as_u64(),
        Some(resent),
        "{what}: against TCP_INFO"
    );
    assert_eq!(r["rto"].as_u64(), Some(resent), "{what}: all by timeout");
    let findings = j["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["kind"] != "path_mtu"),
        "{what}: no ICMP, no path_mtu finding"
    );
    let f = findings
        .iter()
        .find(|f| f["kind"] == "path_mtu_black_hole")
        .unwrap_or_else(|| panic!("{what}: no path_mtu_black_hole finding: {findings:#?}"));
    assert_eq!(f["severity"], "HIGH", "{what}");
    assert_eq!(f["flows"], serde_json::json!([flow["id"]]), "{what}");
    let server = format!(
        "{}:{}",
        truth["server"]["ip"].as_str().unwrap(),
        truth["server"]["port"]
    );
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains(&server), "{what}: {summary}");
    assert!(
        summary.contains(&format!("{resent} time(s)")),
        "{what}: {summary}"
    );
}

#[test]
fn saved_black_hole_capture_is_named_and_no_other_capture_raises_it() {
    let dir = testdata("groundtruth");
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("mtu-blackhole.truth.json")).unwrap(),
    )
    .unwrap();
    check_black_hole(&dir.join("mtu-blackhole.pcap"), &truth, "saved");
    // Lossy bulk transfers (RTO retransmissions among them), think time,
    // every connection state, DNS, the path-MTU capture itself: none is a
    // black hole.
    for name in [
        "loss.pcap",
        "loss.receiver.pcap",
        "think.pcap",
        "states.pcap",
        "dns.pcap",
        "mtu.pcap",
    ] {
        let (_, j, _) = analyze_json(&[&dir.join(name)], &[]);
        let kinds: Vec<&str> = j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["kind"].as_str())
            .collect();
        assert!(!kinds.contains(&"path_mtu_black_hole"), "{name}: {kinds:?}");
    }
}

#[test]
fn saved_capture_names_the_path_mtu() {
    let dir = testdata("groundtruth");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("mtu.truth.json")).unwrap())
            .unwrap();
    check(&dir.join("mtu.pcap"), &truth, "saved");
}

#[test]
fn fresh_overlay_capture_names_the_path_mtu() {
    if !require(root().and(tool("tcpdump")).and(tool("ethtool"))) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/groundtruth/mtu.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mtu.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("mtu.truth.json")).unwrap())
            .unwrap();
    check(&dir.path().join("mtu.pcap"), &truth, "fresh");
}

#[test]
fn fresh_black_hole_capture_is_named() {
    if !require(
        root()
            .and(tool("tcpdump"))
            .and(tool("ethtool"))
            .and(tool("nft")),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/groundtruth/mtu.py"))
        .arg(dir.path())
        .arg("blackhole")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mtu.py blackhole: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("mtu-blackhole.truth.json")).unwrap(),
    )
    .unwrap();
    check_black_hole(&dir.path().join("mtu-blackhole.pcap"), &truth, "fresh");
}
