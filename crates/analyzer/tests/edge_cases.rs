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

/// Zeek's vlan-collisions trace (public corpus, when present): one TCP
/// 5-tuple on three VLANs (untagged, 42, and QinQ 10/20), each a complete
/// connection of 14 packets. Three flows, as Zeek keeps them, each with its
/// VLAN ids and no retransmission (Wireshark, which ignores VLANs, calls 18
/// of the packets retransmissions).
#[test]
fn flows_on_different_vlans_stay_apart() {
    let path =
        common::repo_root().join("../shared/corpus/zeek/testing/btest/Traces/vlan-collisions.pcap");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not here (the shared public corpus is optional)",
            path.display()
        );
        return;
    }
    let (code, j, err) = common::analyze_json(&[&path], &[]);
    assert_eq!(code, 0, "{err}");
    let flows = j["flows"].as_array().unwrap();
    let mut vlans: Vec<serde_json::Value> = flows.iter().map(|f| f["vlan"].clone()).collect();
    vlans.sort_by_key(|v| v.to_string());
    assert_eq!(
        vlans,
        vec![
            serde_json::json!([10, 20]),
            serde_json::json!([42]),
            serde_json::Value::Null,
        ],
        "one flow per VLAN"
    );
    for f in flows {
        assert_eq!(
            f["packets"]["client"].as_u64().unwrap() + f["packets"]["server"].as_u64().unwrap(),
            14
        );
        assert_eq!(f["tcp"]["conn_state"], "SF", "{}", f["vlan"]);
        assert_eq!(f["tcp"]["retransmissions"]["client"]["segments"], 0);
        assert_eq!(f["tcp"]["retransmissions"]["server"]["segments"], 0);
    }
}

/// How a test wraps a captured frame in an overlay.
#[derive(Clone, Copy, Debug)]
enum Overlay {
    /// IPv4 + GRE with key 7 + the inner IP packet.
    GreIp,
    /// IPv4 + GRE (transparent Ethernet bridging, no key) + the inner frame.
    GreEthernet,
    /// IPv4 + the inner IP packet (4in4, or 6in4).
    IpIp,
    /// IPv4 + UDP to port 8472 (the Linux VXLAN default) + VXLAN (VNI 1) + the frame.
    Vxlan8472,
}

/// `src` (a classic pcap of Ethernet frames) with every IP frame wrapped in
/// `overlay` between two node addresses, as a node's uplink capture of that
/// traffic would show it. Lengths on the wire grow by the outer headers.
fn wrap_capture(src: &std::path::Path, overlay: Overlay) -> Vec<u8> {
    let d = std::fs::read(src).unwrap();
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian µs pcap");
    let mut out = d[..24].to_vec();
    // A larger snaplen: the outer headers come on top of the inner frame.
    out[16..20].copy_from_slice(&65535u32.to_le_bytes());
    let mut i = 24;
    while i + 16 <= d.len() {
        let caplen = u32::from_le_bytes(d[i + 8..i + 12].try_into().unwrap()) as usize;
        let origlen = u32::from_le_bytes(d[i + 12..i + 16].try_into().unwrap()) as usize;
        let frame = &d[i + 16..i + 16 + caplen];
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let ts = &d[i..i + 8];
        i += 16 + caplen;
        if ethertype != 0x0800 && ethertype != 0x86dd {
            continue; // ARP and the like: not in any flow either way
        }
        let inner_ip = &frame[14..];
        let (proto, mut l4): (u8, Vec<u8>) = match overlay {
            Overlay::GreIp => {
                let mut g = vec![0x20, 0x00];
                g.extend_from_slice(&ethertype.to_be_bytes());
                g.extend_from_slice(&7u32.to_be_bytes());
                g.extend_from_slice(inner_ip);
                (47, g)
            }
            Overlay::GreEthernet => {
                let mut g = vec![0x00, 0x00, 0x65, 0x58];
                g.extend_from_slice(frame);
                (47, g)
            }
            Overlay::IpIp => (if ethertype == 0x86dd { 41 } else { 4 }, inner_ip.to_vec()),
            Overlay::Vxlan8472 => {
                let mut u = Vec::new();
                u.extend_from_slice(&40000u16.to_be_bytes());
                u.extend_from_slice(&8472u16.to_be_bytes());
                u.extend_from_slice(&0u32.to_be_bytes()); // length, checksum: set below
                u.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
                u.extend_from_slice(frame);
                (17, u)
            }
        };
        // What the outer header adds to the inner bytes on the wire.
        let (inner_wire, added) = match overlay {
            Overlay::GreIp => (origlen - 14, 8),
            Overlay::GreEthernet => (origlen, 4),
            Overlay::IpIp => (origlen - 14, 0),
            Overlay::Vxlan8472 => (origlen, 16),
        };
        let l4_wire = inner_wire + added;
        if let Overlay::Vxlan8472 = overlay {
            l4[4..6].copy_from_slice(&(l4_wire as u16).to_be_bytes());
        }
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
        ip[2..4].copy_from_slice(&((20 + l4_wire) as u16).to_be_bytes());
        ip.extend_from_slice(&[192, 168, 50, 1, 192, 168, 50, 2]);
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&ip);
        f.extend_from_slice(&l4);
        out.extend_from_slice(ts);
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&((14 + 20 + l4_wire) as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    out
}

/// Overlays of Kubernetes CNIs, built by wrapping real captured traffic
/// (the lossy bulk transfers of testdata/groundtruth/loss.pcap; this kernel
/// has no ipip or gre modules): GRE with a key and with Ethernet inside,
/// IP-in-IP (Calico) and VXLAN on 8472 (Flannel, Cilium) each give the
/// inner flows exactly as the unwrapped capture does — packets, bytes,
/// retransmissions, RTTs — with the overlay named on the flow. With
/// `--vxlan-port 4789` alone, port 8472 is plain UDP again.
#[test]
fn overlays_of_cnis_are_decoded_to_the_inner_flows() {
    let src = testdata("groundtruth/loss.pcap");
    let (code, plain, err) = analyze_json(&[&src], &[]);
    assert_eq!(code, 0, "{err}");
    let key = |f: &Value| {
        format!(
            "{} {}:{} {}:{}",
            f["proto"],
            f["client"]["ip"],
            f["client"]["port"],
            f["server"]["ip"],
            f["server"]["port"]
        )
    };
    let same = [
        "/packets",
        "/ip_bytes",
        "/payload_bytes",
        "/tcp/conn_state",
        "/tcp/retransmissions",
        "/tcp/rtt_ms",
        "/tcp/handshake_rtt_ms",
        "/tcp/out_of_order",
    ];
    let by_key = |j: &Value| -> BTreeMap<String, Value> {
        j["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (key(f), f.clone()))
            .collect()
    };
    let want = by_key(&plain);
    assert!(
        want.len() >= 3,
        "flows in the plain capture: {}",
        want.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (overlay, kind, vni) in [
        (Overlay::GreIp, "gre", 7),
        (Overlay::GreEthernet, "gre", 0),
        (Overlay::IpIp, "ipip", 0),
        (Overlay::Vxlan8472, "vxlan", 1),
    ] {
        let path = dir.path().join(format!("{overlay:?}.pcap"));
        std::fs::write(&path, wrap_capture(&src, overlay)).unwrap();
        let (code, j, err) = analyze_json(&[&path], &[]);
        assert_eq!(code, 0, "{overlay:?}: {err}");
        let got = by_key(&j);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{overlay:?}: the inner flows"
        );
        for (k, f) in &got {
            assert_eq!(f["tunnel"]["type"], kind, "{overlay:?} {k}");
            assert_eq!(f["tunnel"]["vni"], vni, "{overlay:?} {k}");
            assert_eq!(
                f["tunnel_endpoints"],
                serde_json::json!({"client": "192.168.50.1", "server": "192.168.50.2"}),
                "{overlay:?} {k}: the outer header"
            );
            for p in same {
                assert_eq!(f.pointer(p), want[k].pointer(p), "{overlay:?} {k} {p}");
            }
        }
    }
    // Port 8472 only when asked for (or by default).
    let path = dir.path().join("Vxlan8472.pcap");
    let (_, j, _) = analyze_json(&[&path], &["--vxlan-port", "4789"]);
    let flows = j["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "one outer UDP flow");
    assert_eq!(flows[0]["proto"], "udp");
    assert_eq!(flows[0]["server"]["port"], 8472);
}

/// Zeek's gre-sample trace (public corpus, when present): SSH, DNS, NTP and
/// ping inside GRE. The inner connections as in Zeek's conn.log baseline
/// beside it (its seventh row, an ICMP port unreachable, is our DNS flow's
/// `icmp_errors`), each marked as carried in GRE.
#[test]
fn gre_sample_gives_zeeks_inner_connections() {
    let path = common::repo_root()
        .join("../shared/corpus/zeek/testing/btest/Traces/tunnels/gre-sample.pcap");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not here (the shared public corpus is optional)",
            path.display()
        );
        return;
    }
    let (code, j, err) = analyze_json(&[&path], &[]);
    assert_eq!(code, 0, "{err}");
    let mut got: Vec<String> = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["tunnel"]["type"], "gre", "{f}");
            format!(
                "{} {}:{} {}:{} {}",
                f["proto"].as_str().unwrap(),
                f["client"]["ip"].as_str().unwrap(),
                f["client"]["port"],
                f["server"]["ip"].as_str().unwrap(),
                f["server"]["port"],
                f["tcp"]["conn_state"].as_str().unwrap_or("-")
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "icmp 66.59.111.190:8 172.28.2.3:0 -",
            "tcp 66.59.111.190:40264 172.28.2.3:22 SF",
            "udp 66.59.111.190:123 129.170.17.4:123 -",
            "udp 66.59.111.190:123 18.26.4.105:123 -",
            "udp 66.59.111.190:123 66.59.111.182:123 -",
            "udp 66.59.111.190:37675 172.28.2.3:53 -",
        ]
    );
}
