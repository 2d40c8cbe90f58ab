//! Capture points against the kernel's ground truth: one lossy path,
//! client | forwarding router | server, captured on the client's veth, with
//! `tcpdump -i any` on the router and on the server's veth
//! (scripts/groundtruth/points.py). nftables in the router's FORWARD chain
//! drops some of the client's data packets and counts them; the client's
//! TCP_INFO says how many segments it retransmitted.
//!
//! Checked on the captures saved in testdata/points (any machine), and on
//! fresh ones made in network namespaces (root; a failure in CI when that
//! cannot run):
//! - every combination of the three captures counts the client capture's
//!   packets and bytes exactly, once;
//! - the sender's retransmissions come out exactly, from all three, from the
//!   router's `-i any` alone, and from sender- plus receiver-side captures;
//! - packets lost between the router's two interfaces equal the nftables
//!   counter (packets and bytes), also with offloads merging segments;
//! - a DNAT to a virtual IP is one flow that carries both tuples;
//! - a file whose clock is off by milliseconds: the offset is estimated
//!   within 100 µs and the loss is still located.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{analyze_json, repo_root, require, root, tool};
use serde_json::Value;

/// The one TCP flow of the path (to the server port, or the DNAT's).
fn tcp_flow(j: &Value, truth: &Value) -> Value {
    let port = truth["dialed"]["port"].as_u64().unwrap();
    let flows: Vec<&Value> = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["proto"] == "tcp" && f["server"]["port"] == port)
        .collect();
    assert_eq!(flows.len(), 1, "one TCP flow to port {port}: {flows:?}");
    flows[0].clone()
}

fn load_truth(dir: &Path, scenario: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{scenario}.truth.json"))).unwrap(),
    )
    .unwrap()
}

fn file(dir: &Path, scenario: &str, point: &str) -> PathBuf {
    let plain = dir.join(format!("{scenario}.{point}.pcap"));
    if plain.exists() {
        plain
    } else {
        dir.join(format!("{scenario}.{point}.pcap.gz"))
    }
}

fn run(files: &[&Path]) -> Value {
    let (code, j, err) = analyze_json(files, &[]);
    assert!(code == 0 || code == 3, "exit {code}: {err}");
    j
}

/// Loss between two points of the router's file, client's packets.
fn router_loss(j: &Value, f: &Value) -> (u64, u64, u64) {
    let points = j["capture"]["points"].as_array().unwrap();
    let in_router = |id: &Value| {
        points[id.as_u64().unwrap() as usize]["file"]
            .as_str()
            .unwrap()
            .contains(".router.")
    };
    let mut total = (0, 0, 0);
    for l in f["lost_between"].as_array().unwrap() {
        assert_eq!(
            l["direction"], "client",
            "only the client's packets are dropped: {l}"
        );
        assert!(
            in_router(&l["from"]) && in_router(&l["to"]),
            "lost between the router's interfaces, not {l}\npoints: {}\npath: {}\nflow points: {}\ndelays: {}",
            j["capture"]["points"],
            f["path"],
            f["points"],
            f["point_delays"]
        );
        total.0 += l["packets"].as_u64().unwrap();
        total.1 += l["bytes"].as_u64().unwrap();
        total.2 += l["segments"].as_u64().unwrap();
    }
    total
}

fn check_scenario(dir: &Path, scenario: &str) {
    let truth = load_truth(dir, scenario);
    let (c, r, s) = (
        file(dir, scenario, "client"),
        file(dir, scenario, "router"),
        file(dir, scenario, "server"),
    );
    let drops = &truth["router_forward_drops"];
    let (drop_pk, drop_bytes) = (
        drops["packets"].as_u64().unwrap(),
        drops["bytes"].as_u64().unwrap(),
    );
    let offloads = truth["offloads"].as_bool().unwrap();
    let retrans = truth["total_retrans"].as_u64().unwrap();
    // The client capture alone: what the client sent and received.
    let alone = tcp_flow(&run(&[&c]), &truth);
    assert!(alone["points"].as_array().unwrap().is_empty());
    let sender_retrans = &alone["tcp"]["retransmissions"]["client"]["segments"];
    let ctx = |what: &str| format!("{scenario}, {what}");

    let all = run(&[&c, &r, &s]);
    let router = run(&[&r]);
    let ends = run(&[&c, &s]);
    for (what, j) in [
        ("all three", &all),
        ("router alone", &router),
        ("client + server", &ends),
    ] {
        let f = tcp_flow(j, &truth);
        if !(offloads && what == "router alone") {
            // Counted once: exactly the client capture's packets and bytes.
            assert_eq!(f["packets"], alone["packets"], "{}", ctx(what));
            assert_eq!(f["ip_bytes"], alone["ip_bytes"], "{}", ctx(what));
            assert_eq!(f["payload_bytes"], alone["payload_bytes"], "{}", ctx(what));
            // The sender's retransmissions: the client capture's, which
            // equal the kernel's count (tail probes aside, none here) ...
            let got = f["tcp"]["retransmissions"]["client"]["segments"]
                .as_u64()
                .unwrap();
            let sent = sender_retrans.as_u64().unwrap();
            let reordered = f["tcp"]["out_of_order"]["client"].as_u64().unwrap();
            let client_reordered = alone["tcp"]["out_of_order"]["client"].as_u64().unwrap();
            if reordered > client_reordered {
                // The router itself received the client's data out of
                // order (veth delivers through per-CPU backlogs: a sender
                // moving between CPUs reorders a burst). Those late
                // segments fill holes; sent before the receiver's duplicate
                // ACKs could reach the client, they are reordering, not
                // retransmissions (timestamps, IPv4 ids, or the time since
                // that ACK passed against the client's round trip).
                eprintln!(
                    "{}: {reordered} client segments arrived out of order",
                    ctx(what)
                );
            }
            assert_eq!(got, sent, "{}: reordered {reordered}", ctx(what));
        } else {
            // The router saw merged packets: the same bytes, once.
            assert_eq!(
                f["payload_bytes"]["client"],
                alone["payload_bytes"]["client"],
                "{}",
                ctx(what)
            );
        }
        assert!(
            f["points"].as_array().unwrap().len() >= 2,
            "{}: {}",
            ctx(what),
            f["points"]
        );
    }
    if scenario == "dnat" {
        for (what, j) in [
            ("all three", &all),
            ("router alone", &router),
            ("client + server", &ends),
        ] {
            let f = tcp_flow(j, &truth);
            assert_eq!(f["server"]["ip"], "10.81.9.9", "{}", ctx(what));
            let t = &f["translations"];
            assert!(
                t.as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["server"]["ip"] == "10.81.2.2"
                        && t["server"]["port"] == 5301
                        && t["client"] == f["client"]),
                "{}: both tuples: {t}",
                ctx(what)
            );
            assert!(
                f["lost_between"].as_array().unwrap().is_empty(),
                "{}",
                ctx(what)
            );
        }
        return;
    }
    assert!(
        drop_pk > 0,
        "{scenario}: nftables dropped nothing; nothing to locate"
    );
    if !offloads {
        // TCP_INFO's total_retrans counts a retransmitted SYN too (IPv6's
        // first SYN can wait out neighbour discovery).
        let syn = alone["tcp"]["syn_retransmissions"].as_u64().unwrap();
        assert_eq!(
            sender_retrans.as_u64().unwrap() + syn,
            retrans,
            "{scenario}: capture vs TCP_INFO"
        );
    }
    for (what, j) in [("all three", &all), ("router alone", &router)] {
        let f = tcp_flow(j, &truth);
        let (pk, bytes, segments) = router_loss(j, &f);
        assert_eq!(
            (pk, bytes),
            (drop_pk, drop_bytes),
            "{}: lost between vs nft",
            ctx(what)
        );
        if !offloads {
            assert_eq!(segments, drop_pk, "{}", ctx(what));
        }
        // The finding says where.
        let finding = j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| {
                x["kind"] == "lost_between_points"
                    && x["flows"].as_array().unwrap().contains(&f["id"])
            })
            .unwrap_or_else(|| panic!("{}: no finding", ctx(what)));
        // Nothing else is lost between points (link-local chatter included).
        let others: Vec<&Value> = j["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["id"] != f["id"] && !x["lost_between"].as_array().unwrap().is_empty())
            .collect();
        assert!(others.is_empty(), "{}: {others:?}", ctx(what));
        let summary = finding["summary"].as_str().unwrap();
        assert!(
            summary.contains("never leaving it"),
            "{}: {summary}",
            ctx(what)
        );
        assert_eq!(
            j["metrics"]["lost_between_points"].as_f64().unwrap() as u64,
            segments
        );
    }
    // Sender and receiver side: the loss is between them.
    let f = tcp_flow(&ends, &truth);
    let lost: u64 = f["lost_between"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["payload_bytes"].as_u64().unwrap())
        .sum();
    let r_all = tcp_flow(&all, &truth);
    let lost_router: u64 = r_all["lost_between"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["payload_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        lost, lost_router,
        "{scenario}: same payload lost, wherever it is seen"
    );
}

/// Rewrites a (gzip) pcap with every timestamp moved by `shift_ns`.
fn shifted_copy(src: &Path, dst: &Path, shift_ns: i64) {
    use std::io::Read;
    let raw = std::fs::read(src).unwrap();
    let mut data = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut data)
            .unwrap();
    } else {
        data = raw;
    }
    let magic = u32::from_le_bytes(data[..4].try_into().unwrap());
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        m => panic!("{}: not a little-endian pcap ({m:#x})", src.display()),
    };
    let mut at = 24;
    while at + 16 <= data.len() {
        let sec = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as i64;
        let frac = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as i64;
        let ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 } + shift_ns;
        let (s, f) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
        data[at..at + 4].copy_from_slice(&(s as u32).to_le_bytes());
        let f = if nanos { f } else { f / 1000 };
        data[at + 4..at + 8].copy_from_slice(&(f as u32).to_le_bytes());
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    std::fs::write(dst, data).unwrap();
}

/// Another clock: the server's file 5 ms (IPv4) and -12.3 ms (IPv6) off.
fn check_offset(dir: &Path, scenario: &str, shift_ns: i64) {
    let truth = load_truth(dir, scenario);
    let tmp = tempfile::tempdir().unwrap();
    let shifted = tmp.path().join("server-shifted.pcap");
    shifted_copy(&file(dir, scenario, "server"), &shifted, shift_ns);
    let c = file(dir, scenario, "client");
    let r = file(dir, scenario, "router");
    let j = run(&[&c, &r, &shifted]);
    let points = j["capture"]["points"].as_array().unwrap();
    let file_of = |id: &Value| {
        points[id.as_u64().unwrap() as usize]["file"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let offsets = j["capture"]["clock_offsets"].as_array().unwrap();
    let to_server: Vec<f64> = offsets
        .iter()
        .filter(|o| {
            file_of(&o["to"]).contains("server-shifted")
                && !file_of(&o["from"]).contains("server-shifted")
        })
        .map(|o| o["offset_ms"].as_f64().unwrap())
        .collect();
    assert!(
        !to_server.is_empty(),
        "{scenario}: no offset to the shifted file: {offsets:?}"
    );
    for o in to_server {
        assert!(
            (o - shift_ns as f64 / 1e6).abs() < 0.1,
            "{scenario}: offset {o} ms, shifted by {} ms",
            shift_ns as f64 / 1e6
        );
    }
    let f = tcp_flow(&j, &truth);
    let drops = &truth["router_forward_drops"];
    let (pk, bytes, _) = router_loss(&j, &f);
    assert_eq!(
        (pk, bytes),
        (
            drops["packets"].as_u64().unwrap(),
            drops["bytes"].as_u64().unwrap()
        )
    );
    // The order of the points survives the clock: client, router in/out, server.
    let path: Vec<String> = f["path"]["client"]
        .as_array()
        .unwrap()
        .iter()
        .map(file_of)
        .collect();
    assert!(path[0].contains(".client."), "{path:?}");
    assert!(path[path.len() - 1].contains("server-shifted"), "{path:?}");
}

fn check_all(dir: &Path) {
    for scenario in ["router", "ipv6", "gso", "dnat"] {
        check_scenario(dir, scenario);
    }
    check_offset(dir, "router", 5_000_000);
    check_offset(dir, "ipv6", -12_300_000);
}

#[test]
fn saved_captures_count_once_and_locate_loss() {
    check_all(&repo_root().join("testdata/points"));
}

#[test]
fn fresh_namespace_captures_count_once_and_locate_loss() {
    let ready = root()
        .and_then(|_| tool("tcpdump"))
        .and_then(|_| tool("nft"))
        .and_then(|_| tool("ethtool"));
    if !require(ready) {
        return;
    }
    // RETINA_POINTS_DIR keeps the captures (to look at a failure).
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("RETINA_POINTS_DIR").map_or(tmp.path().to_path_buf(), PathBuf::from);
    let script = repo_root().join("scripts/groundtruth/points.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_all(&dir);
}

/// The reports show the points, and where on the path packets were lost.
#[test]
fn reports_draw_the_path_and_the_loss() {
    let dir = repo_root().join("testdata/points");
    let files = ["client", "router", "server"].map(|p| file(&dir, "router", p));
    let out = tempfile::tempdir().unwrap();
    let rep = out.path().join("report");
    let o = common::bin()
        .args(&files)
        .args(["-q", "-o", "/dev/null", "--report"])
        .arg(&rep)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let truth = load_truth(&dir, "router");
    let lost = truth["router_forward_drops"]["packets"].as_u64().unwrap();
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("## Capture points"), "{md}");
    assert!(md.contains(&format!("✗{lost}→")), "{md}");
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("<h2>Capture points</h2>"));
    assert!(
        html.contains(&format!("✗ {lost} lost →")),
        "no lost hop in the HTML"
    );
    // And the terminal.
    let o = common::bin().args(&files).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Capture points (4)"), "{text}");
    assert!(text.contains(&format!("✗{lost}→")), "{text}");
}
