//! Capture-agent bundles, Retina Capture tarballs and drops.parquet inputs:
//! captures inside archives are analyzed, drops are joined to their flows.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use retina_tables::agent::{DropTableRow, RetransTableRow};
use retina_tables::analyzer::DnsTableRow;
use retina_tables::TableWriter;

struct Drop<'a> {
    t: i64,
    reason: &'a str,
    proto: u8,
    src: &'a str,
    dst: &'a str,
    sport: u16,
    dport: u16,
}

fn write_drops(dir: &Path, drops: &[Drop]) -> PathBuf {
    let mut w = TableWriter::<DropTableRow>::create(dir, &[], false).unwrap();
    for d in drops {
        w.push(&DropTableRow {
            time: d.t,
            reason: d.reason.into(),
            reason_code: 2,
            location: Some("nft_do_chain+0x3c1".into()),
            ifindex: 3,
            ifname: Some("veth-test".into()),
            protocol: d.proto,
            src_ip: Some(d.src.into()),
            dst_ip: Some(d.dst.into()),
            src_port: Some(d.sport),
            dst_port: Some(d.dport),
            len: 0,
            l3_proto: 0,
            netns: 0,
        })
        .unwrap();
    }
    w.finish().unwrap();
    dir.join("drops.parquet")
}

fn tar_gz(out: &Path, members: &[(&str, &[u8])]) {
    let f = std::fs::File::create(out).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Raw name bytes: the builder would refuse the hostile `../` names
        // these tests need.
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        t.append(&h, *data).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

fn flow<'a>(j: &'a serde_json::Value, proto: &str, sport: u16) -> &'a serde_json::Value {
    j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["proto"] == proto && f["client"]["port"] == sport)
        .unwrap_or_else(|| panic!("no {proto} flow from port {sport}"))
}

#[test]
fn agent_bundle_drops_join_their_flows() {
    let cap = testdata("tcp-udp-ipv4.pcap");
    let (_, plain, _) = analyze_json(&[&cap], &[]);
    let tcp = flow(&plain, "tcp", 40010);
    let udp = flow(&plain, "udp", 40060);
    let t_tcp = tcp["first_ts_ns"].as_i64().unwrap() + 1_000_000;
    let t_udp = udp["first_ts_ns"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drops = write_drops(
        dir.path(),
        &[
            // Either direction of the 5-tuple belongs to the flow.
            Drop {
                t: t_tcp,
                reason: "NETFILTER_DROP",
                proto: 6,
                src: "10.99.0.1",
                dst: "10.99.0.2",
                sport: 40010,
                dport: 8081,
            },
            Drop {
                t: t_tcp + 5,
                reason: "NETFILTER_DROP",
                proto: 6,
                src: "10.99.0.2",
                dst: "10.99.0.1",
                sport: 8081,
                dport: 40010,
            },
            Drop {
                t: t_tcp + 9,
                reason: "TCP_OFOMERGE",
                proto: 6,
                src: "10.99.0.1",
                dst: "10.99.0.2",
                sport: 40010,
                dport: 8081,
            },
            // A socket closing with data queued: normal life, not loss.
            Drop {
                t: t_tcp + 11,
                reason: "QUEUE_PURGE",
                proto: 6,
                src: "10.99.0.2",
                dst: "10.99.0.1",
                sport: 8081,
                dport: 40010,
            },
            Drop {
                t: t_udp,
                reason: "NO_SOCKET",
                proto: 17,
                src: "10.99.0.1",
                dst: "10.99.0.2",
                sport: 40060,
                dport: 5300,
            },
            // Nothing in the capture: unattributed.
            Drop {
                t: t_udp,
                reason: "NO_SOCKET",
                proto: 17,
                src: "10.1.1.1",
                dst: "10.1.1.2",
                sport: 1,
                dport: 2,
            },
            // The right 5-tuple, but an hour later: another flow's, not this one's.
            Drop {
                t: t_tcp + 3_600_000_000_000,
                reason: "NETFILTER_DROP",
                proto: 6,
                src: "10.99.0.1",
                dst: "10.99.0.2",
                sport: 40010,
                dport: 8081,
            },
        ],
    );
    // Kernel retransmissions: two of the bulk flow, one of nothing captured.
    let rdir = dir.path().join("r");
    std::fs::create_dir(&rdir).unwrap();
    let mut w = TableWriter::<RetransTableRow>::create(&rdir, &[], false).unwrap();
    for (t, src, sport, dst, dport) in [
        (t_tcp, "10.99.0.1", 40010, "10.99.0.2", 8081),
        (t_tcp + 7, "10.99.0.2", 8081, "10.99.0.1", 40010),
        (t_tcp, "10.5.5.5", 1000, "10.6.6.6", 2000),
    ] {
        w.push(&RetransTableRow {
            time: t,
            src_ip: src.into(),
            dst_ip: dst.into(),
            src_port: sport,
            dst_port: dport,
            state: "ESTABLISHED".into(),
            err: 0,
            netns: 0,
        })
        .unwrap();
    }
    w.finish().unwrap();
    let retrans = rdir.join("retrans.parquet");
    let bundle = dir.path().join("node-a.tar.gz");
    let manifest = br#"{"tool":"retina-capture","hostname":"node-a","node":"node-a","lost_events":{"packets":0,"drops":2}}"#;
    tar_gz(
        &bundle,
        &[
            ("capture.pcapng", &std::fs::read(&cap).unwrap()),
            ("drops.parquet", &std::fs::read(&drops).unwrap()),
            ("retrans.parquet", &std::fs::read(&retrans).unwrap()),
            ("retina-bundle.json", manifest),
            ("metadata/ip-route.txt", b"default via 10.0.0.1 dev eth0\n"),
        ],
    );
    let (code, j, err) = analyze_json(&[&bundle], &[]);
    assert_eq!(code, 0, "{err}");
    // The capture inside is analyzed exactly as the plain file.
    assert_eq!(j["capture"]["packets"], plain["capture"]["packets"]);
    assert_eq!(
        j["flows"].as_array().unwrap().len(),
        plain["flows"].as_array().unwrap().len()
    );
    let path = j["capture"]["files"][0]["path"].as_str().unwrap();
    assert!(path.ends_with("node-a.tar.gz:capture.pcapng"), "{path}");
    let a = &j["capture"]["archives"][0];
    assert_eq!(a["kind"], "retina-capture bundle");
    assert_eq!(a["node"], "node-a");
    assert_eq!(a["lost_events"], 2);
    assert!(a["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "metadata/ip-route.txt"));

    let d = &j["drops"];
    assert_eq!(d["count"], 7);
    assert_eq!(
        (d["loss"].as_u64(), d["normal"].as_u64()),
        (Some(6), Some(1))
    );
    assert_eq!(d["by_reason"]["NETFILTER_DROP"], 3);
    assert_eq!(d["by_reason"]["NO_SOCKET"], 2);
    assert_eq!(d["by_reason"]["TCP_OFOMERGE"], 1);
    assert_eq!(d["by_interface"]["veth-test"], 7);
    assert_eq!(d["unattributed"], 2);
    let tcp = flow(&j, "tcp", 40010);
    assert_eq!(tcp["drops"]["count"], 3);
    assert_eq!(tcp["drops"]["by_reason"]["NETFILTER_DROP"], 2);
    assert_eq!(tcp["drops"]["by_reason"]["TCP_OFOMERGE"], 1);
    // The normal-life free is on the flow, apart: not one of its drops.
    assert_eq!(tcp["drops"]["normal"]["QUEUE_PURGE"], 1);
    assert!(tcp["drops"]["by_reason"]["QUEUE_PURGE"].is_null());

    // Findings: one per reason that lost packets, each naming where.
    let findings = j["findings"].as_array().unwrap();
    let drop_finding = |reason: &str| {
        findings
            .iter()
            .find(|f| {
                f["kind"] == "kernel_drops" && f["summary"].as_str().unwrap().contains(reason)
            })
            .unwrap_or_else(|| panic!("no kernel_drops finding for {reason}: {findings:?}"))
    };
    let nf = drop_finding("NETFILTER_DROP");
    assert_eq!(
        nf["severity"], "MEDIUM",
        "3 drops, below --kernel-drops-high"
    );
    assert!(nf["summary"]
        .as_str()
        .unwrap()
        .contains("firewall rule or network policy"));
    assert!(nf["summary"].as_str().unwrap().contains("10.99.0.2:8081"));
    assert_eq!(nf["flows"][0], tcp["id"]);
    let ev = nf["evidence"].to_string();
    assert!(
        ev.contains("veth-test") && ev.contains("nft_do_chain"),
        "{ev}"
    );
    assert_eq!(drop_finding("NO_SOCKET")["severity"], "MEDIUM");
    let ofo = drop_finding("TCP_OFOMERGE");
    assert_eq!(ofo["severity"], "LOW");
    assert!(ofo["summary"].as_str().unwrap().contains("consequence"));
    assert!(
        !findings
            .iter()
            .any(|f| f.to_string().contains("QUEUE_PURGE")),
        "normal-life frees are never findings"
    );
    // A lower threshold makes the policy drops HIGH.
    let (_, jh, _) = analyze_json(&[&bundle], &["--kernel-drops-high", "3"]);
    let nf = jh["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["kind"] == "kernel_drops" && f["summary"].to_string().contains("NETFILTER_DROP")
        })
        .unwrap();
    assert_eq!(nf["severity"], "HIGH");
    // Gates on drops: exit 4 when they hold, 0 when they do not.
    for (gate, code) in [
        ("kernel_drops>0", 4),
        ("kernel_drops>6", 0),
        ("kernel_drops.NETFILTER_DROP>=3", 4),
        ("kernel_drops.NETFILTER_DROP>3", 0),
        ("kernel_drops.QUEUE_PURGE>0", 0),
        ("kernel_drops.NO_SUCH_REASON>0", 0),
    ] {
        let (c, jg, err) = analyze_json(&[&bundle], &["--fail-on", gate]);
        assert_eq!(c, code, "--fail-on {gate}: {err}");
        assert!(jg["metrics"]["kernel_drops"].is_number());
        if code == 4 {
            assert!(err.contains(gate), "{err}");
        }
    }
    assert_eq!(flow(&j, "udp", 40060)["drops"]["by_reason"]["NO_SOCKET"], 1);
    assert!(flow(&j, "tcp", 40001)["drops"].is_null());
    assert_eq!(d["top_flows"][0]["flow"], tcp["id"]);
    let k = &j["kernel_retransmissions"];
    assert_eq!(
        (k["count"].as_u64(), k["unattributed"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(k["by_state"]["ESTABLISHED"], 3);
    assert_eq!(tcp["kernel_retransmissions"], 2);
    assert!(flow(&j, "tcp", 40001)["kernel_retransmissions"].is_null());
    // retrans.parquet given as a file is recognized by its table name.
    let (code, j3, err) = analyze_json(&[&cap, &retrans], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j3["kernel_retransmissions"]["count"], 3);
    assert!(j3["drops"].is_null());

    // The drop table given directly next to the capture gives the same join.
    let (code, j2, err) = analyze_json(&[&cap, &drops], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j2["drops"]["by_reason"], d["by_reason"]);
    assert_eq!(flow(&j2, "tcp", 40010)["drops"], tcp["drops"]);

    // The terminal summary shows drops by reason and on the flow.
    let out = bin().arg(&bundle).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Kernel drops") && text.contains("NETFILTER_DROP"),
        "{text}"
    );

    // So do the incident reports.
    let rep = dir.path().join("report");
    let out = bin()
        .arg(&bundle)
        .arg("--report")
        .arg(&rep)
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(
        md.contains("## Kernel drops") && md.contains("| NETFILTER\\_DROP | policy | 3 |"),
        "{md}"
    );
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("<h2>Kernel drops</h2>") && html.contains("<code>TCP_OFOMERGE</code>"));
    assert!(html.contains("3 dropped by the kernel (NETFILTER_DROP 2, TCP_OFOMERGE 1)"));
}

#[test]
fn retina_capture_tarball_is_read() {
    let cap = testdata("tcp-udp-ipv4.pcap");
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir
        .path()
        .join("incident-aks-nodepool1-0-20261126124212UTC.tar.gz");
    tar_gz(
        &tarball,
        &[
            ("incident.pcap", &std::fs::read(&cap).unwrap()),
            ("ip-resources.txt", b"1: lo: <LOOPBACK,UP>\n"),
            ("iptables-rules.txt", b"*filter\nCOMMIT\n"),
            ("socket-stats.txt", b"State Recv-Q\n"),
            ("proc-net/snmp", b"Ip: Forwarding\n"),
            ("../escape.pcap", b"not extracted"),
        ],
    );
    let (code, j, err) = analyze_json(&[&tarball, &tarball], &[]);
    assert_eq!(code, 0, "{err}");
    let a = &j["capture"]["archives"][0];
    assert_eq!(a["kind"], "Retina Capture");
    assert_eq!(a["name"], "incident");
    assert_eq!(a["node"], "aks-nodepool1-0");
    assert_eq!(a["started"], "20261126124212");
    assert_eq!(a["captures"], serde_json::json!(["incident.pcap"]));
    assert!(a["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m.as_str().unwrap().contains("escape.pcap (skipped")));
    assert_eq!(
        j["capture"]["files"].as_array().unwrap().len(),
        2,
        "one per node archive"
    );
    assert!(j["drops"].is_null());
}

#[test]
fn broken_archives_and_drop_tables_are_clear_errors() {
    let cap = testdata("tcp-udp-ipv4.pcap");
    let dir = tempfile::tempdir().unwrap();
    // An archive without a capture.
    let empty = dir.path().join("empty.tar.gz");
    tar_gz(&empty, &[("notes.txt", b"nothing")]);
    let (code, j, err) = analyze_json(&[&cap, &empty], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("empty.tar.gz") && err.contains("holds no capture"),
        "{err}"
    );
    assert_eq!(j["capture"]["files"].as_array().unwrap().len(), 1);
    // A truncated archive: what came before the damage is read.
    let good = dir.path().join("good.tar.gz");
    tar_gz(
        &good,
        &[
            ("a.pcap", &std::fs::read(&cap).unwrap()),
            ("b.txt", &vec![b'x'; 200_000]),
        ],
    );
    let raw = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.tar.gz");
    std::fs::write(&cut, &raw[..raw.len() * 2 / 3]).unwrap();
    let (code, j, err) = analyze_json(&[&cut], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cut.tar.gz"), "{err}");
    // Errors name the member as ARCHIVE:MEMBER, never the scratch directory.
    let text = j.to_string();
    assert!(text.contains("cut.tar.gz:"), "{text}");
    assert!(
        !text.contains("retina-analyze-"),
        "scratch path in the report: {text}"
    );
    assert!(j["capture"]["packets"].as_u64().unwrap() > 0);
    // A Parquet file that is neither a drop nor a retransmission table.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut w = TableWriter::<DnsTableRow>::create(&other, &[], false).unwrap();
    w.push(&DnsTableRow {
        qname: "x".into(),
        status: "answered".into(),
        ..DnsTableRow::default()
    })
    .unwrap();
    w.finish().unwrap();
    let (code, _, err) = analyze_json(&[&cap, &other.join("dns.parquet")], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("dns.parquet") && err.contains("column reason is missing"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The committed agent bundle (real namespace traffic, scripts/make-bundle.sh):
/// every lost packet is on a captured flow or counted as outside them, and
/// normal-life frees are in neither count.
#[test]
fn committed_bundle_drops_add_up() {
    let (code, j, err) = analyze_json(&[&testdata("bundle/node-b.tar.gz")], &[]);
    assert_eq!(code, 0, "{err}");
    let d = &j["drops"];
    let loss = d["loss"].as_u64().unwrap();
    let normal = d["normal"].as_u64().unwrap();
    assert!(loss > 0 && normal > 0, "{d}");
    assert_eq!(d["count"].as_u64().unwrap(), loss + normal);
    let on_flows: u64 = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["drops"]["count"].as_u64())
        .sum();
    assert_eq!(
        on_flows + d["unattributed"].as_u64().unwrap(),
        loss,
        "lost packets on flows + outside flows = all lost packets: {d}"
    );
}
