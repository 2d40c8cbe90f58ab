//! Input handling on the project's own captures (testdata/, made from real
//! Linux traffic by scripts/make-testdata.sh): compression, several files,
//! link types, tunnels, and output that does not depend on internal sharding.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{analyze_json, assert_json_eq, bin, interrupted_stdin_run, testdata};
use serde_json::Value;

/// Real captures in testdata/ (not the hand-built edge cases).
const REAL: &[&str] = &[
    "tcp-udp-ipv4.pcap",
    "ipv6.pcapng",
    "vxlan.pcap",
    "any-sll.pcap",
    "any-sll2.pcap",
    "nanosecond.pcap",
];

fn flows(v: &Value) -> &Vec<Value> {
    v["flows"].as_array().expect("flows")
}

#[test]
fn gzip_gives_the_same_flows_as_the_plain_file() {
    for (plain, gz) in [
        ("tcp-udp-ipv4.pcap", "tcp-udp-ipv4.pcap.gz"),
        ("ipv6.pcapng", "ipv6.pcapng.gz"),
        ("nanosecond.pcap", "gzip-misnamed.pcap"),
    ] {
        let (c1, a, _) = analyze_json(&[&testdata(plain)], &[]);
        let (c2, b, _) = analyze_json(&[&testdata(gz)], &[]);
        assert_eq!((c1, c2), (0, 0));
        assert!(!flows(&a).is_empty());
        assert_json_eq(&a["flows"], &b["flows"], &format!("{plain} vs {gz}"));
        assert_eq!(b["capture"]["files"][0]["compression"], "gzip", "{gz}");
        assert_eq!(a["capture"]["files"][0]["compression"], Value::Null);
    }
}

#[test]
fn link_types_are_recognized() {
    for (file, linktype) in [
        ("any-sll.pcap", 113),
        ("any-sll2.pcap", 276),
        ("tcp-udp-ipv4.pcap", 1),
    ] {
        let (code, out, _) = analyze_json(&[&testdata(file)], &[]);
        assert_eq!(code, 0);
        let lts = out["capture"]["link_types"].as_array().unwrap();
        assert_eq!(lts.len(), 1, "{file}");
        assert_eq!(lts[0]["linktype"], linktype, "{file}");
        assert!(!flows(&out).is_empty(), "{file}");
        assert_eq!(out["capture"]["skipped"].get("malformed"), None, "{file}");
    }
}

#[test]
fn vxlan_flows_are_the_inner_flows() {
    let (code, out, _) = analyze_json(&[&testdata("vxlan.pcap")], &[]);
    assert_eq!(code, 0);
    // make-testdata.sh builds a VXLAN device with VNI 42 on UDP 4789.
    for f in flows(&out) {
        assert_eq!(f["tunnel"]["type"], "vxlan", "{f}");
        assert_eq!(f["tunnel"]["vni"], 42, "{f}");
        assert_ne!(f["server"]["port"], 4789, "outer flow leaked: {f}");
    }
    assert!(flows(&out).iter().any(|f| f["proto"] == "tcp"));
}

/// Output must not depend on how many flow-table shards there are.
#[test]
fn output_is_identical_for_any_shard_count() {
    for file in REAL {
        let (_, one, _) = analyze_json(&[&testdata(file)], &["--shards", "1"]);
        for n in ["2", "7"] {
            let (_, many, _) = analyze_json(&[&testdata(file)], &["--shards", n]);
            assert_json_eq(&one, &many, &format!("{file} with {n} shards"));
        }
    }
}

/// Splits a little-endian pcap into two files, records dealt alternately,
/// so every flow's packets are spread over both files. Records with the same
/// timestamp stay in one file: across files their order would be unknowable.
fn split_pcap(src: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let data = std::fs::read(src).unwrap();
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "test expects LE µs pcap"
    );
    let (hdr, mut rest) = data.split_at(24);
    let a = dir.join("a.pcap");
    let b = dir.join("b.pcap");
    let mut fa = std::fs::File::create(&a).unwrap();
    let mut fb = std::fs::File::create(&b).unwrap();
    fa.write_all(hdr).unwrap();
    fb.write_all(hdr).unwrap();
    let mut i = 0;
    let mut last_ts: &[u8] = &[];
    while rest.len() >= 16 {
        let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (rec, tail) = rest.split_at(16 + caplen);
        if rec[..8] != *last_ts {
            i += 1;
        }
        last_ts = &rec[..8];
        let out = if i % 2 == 0 { &mut fa } else { &mut fb };
        out.write_all(rec).unwrap();
        rest = tail;
    }
    (a, b)
}

#[test]
fn several_files_are_merged_by_time_into_one_capture() {
    let dir = tempfile::tempdir().unwrap();
    let orig = testdata("tcp-udp-ipv4.pcap");
    let (a, b) = split_pcap(&orig, dir.path());
    let (_, whole, _) = analyze_json(&[&orig], &[]);
    // Order on the command line must not matter either.
    for files in [[&a, &b], [&b, &a]] {
        let (code, mut merged, _) = analyze_json(&[files[0], files[1]], &[]);
        assert_eq!(code, 0);
        // Two files at once are two capture points (each saw half of the
        // packets): where the packets were seen is told, and nothing else
        // changes.
        for f in merged["flows"].as_array_mut().unwrap() {
            let f = f.as_object_mut().unwrap();
            let points = f.remove("points").unwrap();
            assert!(points.as_array().unwrap().len() <= 2);
            assert!(f
                .remove("lost_between")
                .unwrap()
                .as_array()
                .unwrap()
                .is_empty());
            for k in ["path", "primary_point", "point_delays"] {
                f.remove(k);
            }
            f.insert("points".into(), serde_json::json!([]));
            for k in ["path", "primary_point"] {
                f.insert(k.into(), serde_json::Value::Null);
            }
            f.insert("point_delays".into(), serde_json::json!([]));
            f.insert("lost_between".into(), serde_json::json!([]));
        }
        assert_json_eq(&whole["flows"], &merged["flows"], "split files merged");
        assert_eq!(merged["capture"]["files"].as_array().unwrap().len(), 2);
        assert_eq!(merged["capture"]["packets"], whole["capture"]["packets"]);
    }
}

#[test]
fn different_captures_in_one_run_keep_their_flows() {
    let (_, a, _) = analyze_json(&[&testdata("tcp-udp-ipv4.pcap")], &[]);
    let (_, b, _) = analyze_json(&[&testdata("vxlan.pcap")], &[]);
    let (_, both, _) = analyze_json(
        &[&testdata("tcp-udp-ipv4.pcap"), &testdata("vxlan.pcap")],
        &[],
    );
    assert_eq!(flows(&both).len(), flows(&a).len() + flows(&b).len());
    let ts: Vec<i64> = flows(&both)
        .iter()
        .map(|f| f["first_ts_ns"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "flows ordered by time");
}

#[test]
fn json_has_the_documented_minimum_contract() {
    let (_, out, _) = analyze_json(&[&testdata("tcp-udp-ipv4.pcap")], &[]);
    assert_eq!(out["schema_version"], 1);
    let c = &out["capture"];
    for k in [
        "files", "packets", "bytes", "first_ts", "last_ts", "warnings",
    ] {
        assert!(c.get(k).is_some(), "capture.{k}");
    }
    assert!(c["first_ts"].as_f64().unwrap() > 1.6e9);
    for f in flows(&out) {
        for k in [
            "proto",
            "client",
            "server",
            "first_ts",
            "duration_s",
            "packets",
            "ip_bytes",
            "payload_bytes",
            "tunnel",
        ] {
            assert!(f.get(k).is_some(), "flow.{k}: {f}");
        }
        for side in ["client", "server"] {
            assert!(f[side]["ip"].is_string() && f[side]["port"].is_u64(), "{f}");
            for k in ["packets", "ip_bytes", "payload_bytes"] {
                assert!(f[k][side].is_u64(), "{k}.{side}: {f}");
            }
        }
    }
}

#[test]
fn tcp_clients_are_the_syn_senders() {
    // make-testdata.sh's client namespace is 10.99.0.1 / fd00:99::1.
    for (file, client) in [
        ("tcp-udp-ipv4.pcap", "10.99.0.1"),
        ("ipv6.pcapng", "fd00:99::1"),
    ] {
        let (_, out, _) = analyze_json(&[&testdata(file)], &[]);
        for f in flows(&out).iter().filter(|f| f["role_basis"] == "syn") {
            assert_eq!(f["client"]["ip"], client, "{f}");
        }
        assert!(flows(&out).iter().any(|f| f["role_basis"] == "syn"));
    }
}

fn text_output(file: &Path, extra: &[&str]) -> String {
    let out = bin().arg(file).args(extra).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn terminal_summary_fits_80_columns_and_has_no_color_when_piped() {
    for file in REAL {
        let text = text_output(&testdata(file), &[]);
        assert!(
            !text.contains('\x1b'),
            "{file}: escape codes in piped output"
        );
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{file}: line over 80 columns: {line:?}"
            );
        }
        for section in ["Files", "Protocols", "Top flows by bytes"] {
            assert!(text.contains(section), "{file}: {section}");
        }
    }
    // Damaged files (warnings) under a long path still fit.
    let dir = tempfile::tempdir().unwrap();
    let deep = dir
        .path()
        .join("a-rather-long-directory-name/another-long-directory-name-for-captures");
    std::fs::create_dir_all(&deep).unwrap();
    let mut files = Vec::new();
    for name in [
        "truncated.pcap",
        "corrupt-caplen.pcap",
        "unknown-linktype.pcap",
        "icmp-errors.pcap",
        "multi-if.pcapng",
    ] {
        let to = deep.join(format!("node-7-incident-20261126-capture-{name}"));
        std::fs::copy(testdata(&format!("edge/{name}")), &to).unwrap();
        files.push(to);
    }
    let out = bin().args(&files).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Warnings"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "line over 80 columns: {line:?}");
    }
    let colored = text_output(&testdata("nanosecond.pcap"), &["--color", "always"]);
    assert!(colored.contains('\x1b'));
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.json");
    let status = bin()
        .arg(testdata("nanosecond.pcap"))
        .args(["--format", "json", "-o"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
    let v: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    let bad = bin()
        .arg(testdata("nanosecond.pcap"))
        .args(["-o", "/nonexistent-dir/out.json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent-dir"));
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("Examples:") && help.contains("Exit status:"),
        "{help}"
    );
    let usage = bin().output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn standard_input_is_read_and_ctrl_c_loses_nothing() {
    let data = std::fs::read(testdata("nanosecond.pcap")).unwrap();
    let args = ["--format", "json", "--quiet"].map(std::ffi::OsStr::new);
    let out = interrupted_stdin_run(&data, &args);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["capture"]["packets"], 12,
        "every packet written before the stop is analyzed"
    );
    assert_eq!(v["flows"].as_array().unwrap().len(), 1);
    assert_eq!(v["flows"][0]["packets"]["client"], 5);
    assert_eq!(v["capture"]["partial"], true);
    assert!(v["capture"]["warnings"].to_string().contains("interrupted"));
}

#[test]
fn timeline_accounts_for_every_flow_packet() {
    for file in REAL {
        let (_, out, _) = analyze_json(&[&testdata(file)], &[]);
        let t = &out["timeline"];
        let bins = t["bins"].as_array().unwrap();
        assert!(!bins.is_empty() && bins.len() <= 240, "{file}");
        let sum = |k: &str| bins.iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
        let flow_sum = |k: &str, side: &str| {
            flows(&out)
                .iter()
                .map(|f| f[k][side].as_u64().unwrap())
                .sum::<u64>()
        };
        assert_eq!(
            sum("packets"),
            flow_sum("packets", "client") + flow_sum("packets", "server"),
            "{file}"
        );
        assert_eq!(
            sum("bytes_to_server"),
            flow_sum("ip_bytes", "client"),
            "{file}"
        );
        assert_eq!(
            sum("bytes_to_client"),
            flow_sum("ip_bytes", "server"),
            "{file}"
        );
        let start = t["start_ts"].as_f64().unwrap();
        let first = out["capture"]["first_ts"].as_f64().unwrap();
        let width = t["bin_s"].as_f64().unwrap();
        assert!(
            start <= first && first < start + width,
            "{file}: first packet in the first bin"
        );
    }
}
