//! `rollups` in the JSON (polars feature): checked against the flows of the
//! same document with plain loops; null without the feature.

mod common;

use common::{analyze_json, testdata};
#[cfg(feature = "polars")]
use serde_json::Value;
#[cfg(feature = "polars")]
use std::collections::BTreeMap;

#[cfg(feature = "polars")]
fn column<'a>(t: &'a Value, name: &str) -> Vec<&'a Value> {
    let i = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {}", t["columns"]));
    t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r[i])
        .collect()
}

#[cfg(feature = "polars")]
/// Linear-interpolation quantile (numpy's default, polars' `Linear`).
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(feature = "polars")]
#[test]
fn rollups_agree_with_the_flows() {
    for name in [
        "groundtruth/loss.pcap",
        "groundtruth/dns.pcap",
        "groundtruth/think.pcap",
        "ipv6.pcapng",
    ] {
        let (code, json, err) = analyze_json(&[&testdata(name)], &[]);
        assert_eq!(code, 0, "{name}: {err}");
        let flows = json["flows"].as_array().unwrap();
        let r = &json["rollups"];
        assert!(r.is_object(), "{name}: rollups present");

        // Top talkers: bytes per address over both ends of every flow.
        let mut by_ip: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for f in flows {
            let (c, s) = (&f["ip_bytes"]["client"], &f["ip_bytes"]["server"]);
            let total = c.as_u64().unwrap() + s.as_u64().unwrap();
            for ip in [&f["client"]["ip"], &f["server"]["ip"]] {
                let e = by_ip.entry(ip.as_str().unwrap().to_string()).or_default();
                e.0 += 1;
                e.1 += total;
            }
        }
        let t = &r["top_endpoints"];
        let ips = column(t, "ip");
        let bytes = column(t, "bytes");
        let nflows = column(t, "flows");
        assert_eq!(ips.len(), by_ip.len().min(10), "{name}");
        let max = by_ip.values().map(|v| v.1).max().unwrap();
        assert_eq!(bytes[0].as_u64().unwrap(), max, "{name}: largest first");
        for i in 0..ips.len() {
            let want = by_ip[ips[i].as_str().unwrap()];
            assert_eq!(nflows[i].as_u64().unwrap(), want.0, "{name} {}", ips[i]);
            assert_eq!(bytes[i].as_u64().unwrap(), want.1, "{name} {}", ips[i]);
        }

        // Per protocol: flow counts and handshake RTT quantiles over flows.
        let bp = &r["by_proto"];
        for (i, proto) in column(bp, "proto").into_iter().enumerate() {
            let mine: Vec<&Value> = flows.iter().filter(|f| &f["proto"] == proto).collect();
            assert_eq!(column(bp, "flows")[i].as_u64().unwrap(), mine.len() as u64);
            let hs: Vec<f64> = mine
                .iter()
                .filter_map(|f| f["tcp"]["handshake_rtt_ms"].as_f64())
                .collect();
            assert_eq!(
                column(bp, "handshake_rtt_ms_flows")[i].as_u64().unwrap(),
                hs.len() as u64
            );
            for (q, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
                let got = column(bp, &format!("handshake_rtt_ms_{label}"))[i].as_f64();
                match got {
                    Some(g) => {
                        let want = quantile(hs.clone(), q);
                        assert!(
                            (g - want).abs() <= 0.0011,
                            "{name} {proto} {label}: {g} vs {want}"
                        );
                    }
                    None => assert!(hs.is_empty(), "{name} {proto}: null only without samples"),
                }
            }
        }
        // Subnets cover every flow end once.
        let ends: u64 = column(&r["subnets"], "flows")
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        if column(&r["subnets"], "subnet").len() < 10 {
            assert_eq!(
                ends,
                2 * flows.len() as u64,
                "{name}: every flow end in a subnet"
            );
        }
    }
}

#[cfg(feature = "polars")]
#[test]
fn terminal_and_markdown_show_top_talkers_and_subnets() {
    let out = common::bin()
        .arg(testdata("groundtruth/dns.pcap"))
        .args(["--color", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Top talkers") && text.contains("10.98.0.0/24"),
        "{text}"
    );
}

#[cfg(not(feature = "polars"))]
#[test]
fn without_polars_rollups_are_null() {
    let (code, json, _) = analyze_json(&[&testdata("tcp-udp-ipv4.pcap")], &[]);
    assert_eq!(code, 0);
    assert!(json["rollups"].is_null());
}

/// The edit-test loop (`--no-default-features`) must not build polars.
#[test]
fn polars_stays_out_of_the_no_default_features_build() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |extra: &[&str]| -> String {
        let out = std::process::Command::new(&cargo)
            .current_dir(common::repo_root())
            .args(["tree", "-p", "retina-analyzer", "-e", "normal", "--offline"])
            .args(extra)
            .output()
            .expect("run cargo tree");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!tree(&["--no-default-features"]).contains("polars"));
    assert!(
        tree(&[]).contains("polars v0.55"),
        "the default build has it"
    );
}
