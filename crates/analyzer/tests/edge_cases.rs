//! The hand-built edge-case captures of testdata/edge, checked against the
//! facts recorded independently by scripts/make-edge-cases.py in
//! testdata/edge/expected.json (and cross-checked there with tshark).

mod common;

use std::collections::BTreeMap;

use common::{analyze_json, testdata};
use serde_json::Value;

fn expected() -> Value {
    let text = std::fs::read_to_string(testdata("edge/expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// Parses "1.2.3.4:80" or "[2001:db8::1]:80".
fn parse_endpoint(s: &str) -> (String, u64) {
    let (ip, port) = s.rsplit_once(':').expect("endpoint has a port");
    (
        ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        port.parse().expect("port"),
    )
}

fn per_dir(v: &Value, field: &str) -> (u64, u64) {
    (
        v[field]["client"].as_u64().expect("client count"),
        v[field]["server"].as_u64().expect("server count"),
    )
}

/// Earliest timestamp of a flow's packets (inner flow for tunnelled ones);
/// `None` when the records carry no timestamp (simple packet blocks).
fn flow_first_ts(exp: &Value, key: &str) -> Option<i64> {
    let packets = exp["packets"].as_array().expect("packets");
    let of_flow: Vec<&Value> = packets
        .iter()
        .filter(|p| p["flow"] == key || p["inner"]["flow"] == key)
        .collect();
    assert!(!of_flow.is_empty(), "{key} has packets");
    of_flow.iter().map(|p| p["ts_ns"].as_i64()).min().flatten()
}

/// Checks every flow the expectation lists, and that there are no others.
fn check_flows(file: &str) {
    let all = expected();
    let exp = &all[file];
    let (code, out, stderr) = analyze_json(&[&testdata(&format!("edge/{file}"))], &[]);
    let damaged = exp.get("damage_offset").is_some();
    assert_eq!(
        code,
        if damaged { 3 } else { 0 },
        "{file}: exit code; stderr: {stderr}"
    );
    let flows = out["flows"].as_array().expect("flows array");
    let mut matched = vec![false; flows.len()];
    let mut icmp_errors: BTreeMap<String, u64> = BTreeMap::new();
    for (key, want) in exp["flows"].as_object().expect("flows object") {
        let c2s = &want["c2s"];
        let s2c = &want["s2c"];
        let words: Vec<&str> = key.split_whitespace().collect();
        if words.get(1) == Some(&"error") {
            // "ICMP error REPORTER -> DEST": attributed to the quoted flow.
            *icmp_errors.entry(words[2].to_string()).or_default() +=
                c2s["packets"].as_u64().unwrap();
            continue;
        }
        let idx = if words.get(1) == Some(&"echo") {
            // "ICMP echo A -> B id=0x1234"
            let id = u64::from_str_radix(words[5].trim_start_matches("id=0x"), 16).unwrap();
            flows.iter().position(|f| {
                f["proto"].as_str().unwrap().starts_with("icmp")
                    && f["client"]["ip"] == words[2]
                    && f["server"]["ip"] == words[4]
                    && f["icmp"]["echo_id"] == id
            })
        } else {
            let (cip, cport) = parse_endpoint(words[1]);
            let (sip, sport) = parse_endpoint(words[3]);
            let proto = words[0].to_lowercase();
            flows.iter().position(|f| {
                f["proto"] == proto.as_str()
                    && f["client"]["ip"] == cip.as_str()
                    && f["client"]["port"] == cport
                    && f["server"]["ip"] == sip.as_str()
                    && f["server"]["port"] == sport
            })
        };
        let idx = idx.unwrap_or_else(|| panic!("{file}: flow {key} not found in {flows:#?}"));
        matched[idx] = true;
        let f = &flows[idx];
        let pairs = [
            ("packets", "packets"),
            ("ip_bytes", "ip_bytes"),
            ("payload_bytes", "l4_payload_bytes"),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(
                per_dir(f, ours),
                (c2s[theirs].as_u64().unwrap(), s2c[theirs].as_u64().unwrap()),
                "{file}: {key}: {ours}"
            );
        }
        if let Some(ts) = flow_first_ts(exp, key) {
            assert_eq!(
                f["first_ts_ns"].as_i64().unwrap(),
                ts,
                "{file}: {key}: first timestamp (exact to the nanosecond)"
            );
        }
    }
    for (i, f) in flows.iter().enumerate() {
        if f["packets"]["client"].as_u64().unwrap() + f["packets"]["server"].as_u64().unwrap() == 0
        {
            continue; // a record made only to hold ICMP errors
        }
        assert!(matched[i], "{file}: unexpected flow {f}");
    }
    for (reporter, n) in icmp_errors {
        let got: u64 = flows
            .iter()
            .flat_map(|f| f["icmp_errors"].as_array().unwrap().iter())
            .filter(|e| e["reporter"] == reporter.as_str())
            .map(|e| e["count"].as_u64().unwrap())
            .sum();
        assert_eq!(got, n, "{file}: ICMP errors from {reporter}");
    }
    assert_eq!(
        out["capture"]["packets"].as_u64().unwrap(),
        exp["records"].as_u64().unwrap(),
        "{file}: packets read"
    );
    if let Some(off) = exp.get("damage_offset") {
        let files = out["capture"]["files"].as_array().unwrap();
        assert_eq!(files[0]["error"]["offset"], *off, "{file}: damage offset");
        assert_eq!(files[0]["partial"], true);
        assert_eq!(out["capture"]["partial"], true);
        assert!(
            stderr.contains(file),
            "{file}: error names the file: {stderr}"
        );
        assert!(
            stderr.contains(&format!("byte {off}")),
            "{file}: error names the offset: {stderr}"
        );
    }
}

#[test]
fn pcap_big_endian_microseconds() {
    check_flows("pcap-be-usec.pcap");
}

#[test]
fn pcap_little_endian_nanoseconds() {
    check_flows("pcap-le-nsec.pcap");
}

#[test]
fn pcap_big_endian_nanoseconds() {
    check_flows("pcap-be-nsec.pcap");
}

#[test]
fn pcapng_interfaces_with_different_link_types_and_resolutions() {
    check_flows("multi-if.pcapng");
    let (_, out, _) = analyze_json(&[&testdata("edge/multi-if.pcapng")], &[]);
    let ifaces = out["capture"]["files"][0]["interfaces"].as_array().unwrap();
    let res: Vec<f64> = ifaces
        .iter()
        .map(|i| i["ts_resolution_ns"].as_f64().unwrap())
        .collect();
    assert!(res.len() >= 3, "{ifaces:?}");
    assert!(
        out["capture"]["warnings"].as_array().unwrap().is_empty(),
        "{out}"
    );
}

#[test]
fn pcapng_several_sections() {
    check_flows("multi-section.pcapng");
    let (_, out, _) = analyze_json(&[&testdata("edge/multi-section.pcapng")], &[]);
    assert_eq!(out["capture"]["files"][0]["sections"], 3);
}

#[test]
fn pcapng_simple_packet_blocks() {
    check_flows("spb.pcapng");
}

#[test]
fn vlan_and_qinq() {
    check_flows("vlan.pcap");
}

#[test]
fn geneve_is_decapsulated() {
    check_flows("geneve.pcap");
    let (_, out, _) = analyze_json(&[&testdata("edge/geneve.pcap")], &[]);
    for f in out["flows"].as_array().unwrap() {
        assert_eq!(f["tunnel"]["type"], "geneve", "{f}");
        assert_eq!(f["tunnel"]["vni"], 1234, "{f}");
    }
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    check_flows("ipv6-ext.pcap");
}

#[test]
fn ipv4_fragments_count_to_their_flow() {
    check_flows("ipv4-frag.pcap");
}

#[test]
fn icmp_errors_are_attributed_to_the_quoted_flow() {
    check_flows("icmp-errors.pcap");
}

#[test]
fn truncated_pcap_keeps_packets_before_the_damage() {
    check_flows("truncated.pcap");
}

#[test]
fn corrupt_record_length_is_reported_with_offset() {
    check_flows("corrupt-caplen.pcap");
}

#[test]
fn truncated_pcapng_keeps_packets_before_the_damage() {
    check_flows("truncated.pcapng");
}

#[test]
fn snaplen_cut_packets_use_ip_lengths() {
    check_flows("snaplen-cut.pcap");
}

#[test]
fn header_only_capture_is_empty_not_an_error() {
    let (code, out, _) = analyze_json(&[&testdata("edge/header-only.pcap")], &[]);
    assert_eq!(code, 0);
    assert_eq!(out["capture"]["packets"], 0);
    assert_eq!(out["flows"].as_array().unwrap().len(), 0);
}

#[test]
fn not_a_capture_and_empty_file_are_clear_errors() {
    for name in ["edge/not-a-capture.txt", "edge/empty.pcap"] {
        let path = testdata(name);
        let (code, out, stderr) = analyze_json(&[&path], &[]);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert_eq!(out, Value::Null, "{name}: no report on stdout");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (_, _, stderr) = analyze_json(&[&testdata("edge/not-a-capture.txt")], &[]);
    assert!(stderr.contains("not a pcap or pcapng capture"), "{stderr}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, _, stderr) = analyze_json(&[&testdata("edge/no-such-file.pcap")], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no-such-file.pcap") && stderr.contains("cannot open"),
        "{stderr}"
    );
}

#[test]
fn unknown_link_type_is_warned_and_partial() {
    let (code, out, _) = analyze_json(&[&testdata("edge/unknown-linktype.pcap")], &[]);
    assert_eq!(code, 3);
    let w = out["capture"]["warnings"].to_string();
    assert!(
        w.contains("unknown-linktype.pcap") && w.contains("147"),
        "{w}"
    );
    assert_eq!(out["capture"]["skipped"]["unsupported_linktype_147"], 2);
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let good = testdata("edge/pcap-be-usec.pcap");
    let bad = testdata("edge/not-a-capture.txt");
    let (code, out, stderr) = analyze_json(&[&good, &bad], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(out["flows"].as_array().unwrap().len(), 1);
    assert!(stderr.contains("not-a-capture.txt"));
}
