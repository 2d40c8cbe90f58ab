//! Findings and `--fail-on` gates on the project's own captures.

mod common;

use common::{analyze_json, bin, testdata};

#[test]
fn refused_connection_is_a_finding_pointing_at_its_flow() {
    // make-testdata.sh connects once to the closed port 8099.
    let (code, out, _) = analyze_json(&[&testdata("tcp-udp-ipv4.pcap")], &[]);
    assert_eq!(code, 0);
    let findings = out["findings"].as_array().unwrap();
    let refused: Vec<_> = findings.iter().filter(|f| f["kind"] == "refused").collect();
    assert_eq!(refused.len(), 1, "{findings:?}");
    let f = refused[0];
    assert!(f["summary"].as_str().unwrap().contains("10.99.0.2:8099"));
    let id = f["flows"][0].as_u64().unwrap() as usize;
    let flow = &out["flows"][id];
    assert_eq!(flow["tcp"]["conn_state"], "REJ");
    assert_eq!(flow["server"]["port"], 8099);
    assert_eq!(out["metrics"]["refused"], 1.0);
}

#[test]
fn fail_on_sets_exit_status_4_and_says_why() {
    let file = testdata("tcp-udp-ipv4.pcap");
    let run = |exprs: &[&str]| {
        let mut c = bin();
        c.arg(&file).arg("--quiet");
        for e in exprs {
            c.args(["--fail-on", e]);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["refused>0"]);
    assert_eq!(code, Some(4));
    assert!(
        err.contains("refused>0") && err.contains("refused = 1"),
        "{err}"
    );
    let (code, _) = run(&["refused>1", "dns_unanswered>0"]);
    assert_eq!(code, Some(0));
    let (code, _) = run(&["retrans_rate>=0", "flows<1"]);
    assert_eq!(code, Some(4));
    let (code, err) = run(&["no_such_metric>1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown metric"), "{err}");
}

#[test]
fn findings_lead_the_terminal_summary() {
    let out = bin().arg(testdata("tcp-udp-ipv4.pcap")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let f = text.find("finding(s)").expect("findings section");
    let files = text.find("Files").unwrap();
    assert!(f < files, "findings come before the file list");
    assert!(text.contains("refused"));
}

fn kinds(file: &str) -> Vec<(String, String)> {
    let (_, out, _) = analyze_json(&[&testdata(file)], &[]);
    out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The kernel ground-truth scenarios produce the findings their truth implies.
#[test]
fn ground_truth_scenarios_raise_the_expected_findings() {
    let states = kinds("groundtruth/states.pcap");
    for (kind, sev) in [("unanswered_syn", "HIGH"), ("refused", "MEDIUM")] {
        assert!(
            states.contains(&(kind.into(), sev.into())),
            "states: {states:?}"
        );
    }
    assert!(
        states.iter().any(|(k, _)| k == "server_resets"),
        "states: {states:?}"
    );
    let dns = kinds("groundtruth/dns.pcap");
    for (kind, sev) in [("dns_unanswered", "HIGH"), ("dns_servfail", "MEDIUM")] {
        assert!(dns.contains(&(kind.into(), sev.into())), "dns: {dns:?}");
    }
    // 2% random drops on one port, deliberate tail drops on another.
    let loss = kinds("groundtruth/loss.pcap");
    assert!(
        loss.iter().filter(|(k, _)| k == "retransmissions").count() >= 1,
        "loss: {loss:?}"
    );
    // A quiet capture has none of these.
    let clean = kinds("nanosecond.pcap");
    assert!(clean.is_empty(), "{clean:?}");
}

/// Zeek's echo-connections trace (public corpus, when present): 500
/// loopback connections to one server, 158 of which retried their SYN for
/// about 3 s. The handshake RTT (last SYN) hides it; the connect time and
/// the slow_connect finding show it, and the retried SYNs agree with
/// tshark's count of retransmitted SYNs.
#[test]
fn syn_retries_make_a_slow_connect_finding_and_gate() {
    let path = common::repo_root()
        .join("../shared/corpus/zeek/testing/btest/Traces/echo-connections.pcap.gz");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not here (the shared public corpus is optional)",
            path.display()
        );
        return;
    }
    let (code, out, stderr) = analyze_json(
        &[&path],
        &[
            "--fail-on",
            "connect_p99_ms>1000",
            "--fail-on",
            "syn_retries>0",
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    let slow: Vec<_> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "slow_connect")
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    let f = slow[0];
    assert_eq!(f["severity"], "HIGH");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("127.0.0.1:7000: 158 of 500 connections"),
        "{summary}"
    );
    // Every listed flow retried its SYN and waited over a second, though
    // its handshake RTT is well under one.
    for id in f["flows"].as_array().unwrap() {
        let t = &out["flows"][id.as_u64().unwrap() as usize]["tcp"];
        assert!(t["syn_retransmissions"].as_u64().unwrap() > 0, "{t}");
        assert!(t["connect_ms"].as_f64().unwrap() > 1000.0, "{t}");
        assert!(t["handshake_rtt_ms"].as_f64().unwrap() < 100.0, "{t}");
    }
    let retries = out["metrics"]["syn_retries"].as_f64().unwrap();
    if common::tool("tshark").is_ok() {
        let t = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args([
                "-Y",
                "tcp.analysis.retransmission && tcp.flags.syn == 1 && tcp.flags.ack == 0",
                "-T",
                "fields",
                "-e",
                "frame.number",
            ])
            .output()
            .unwrap();
        let tshark = String::from_utf8_lossy(&t.stdout).lines().count() as f64;
        assert_eq!(
            retries, tshark,
            "retried SYNs: ours {retries}, tshark {tshark}"
        );
    }
    assert!(out["metrics"]["connect_p99_ms"].as_f64().unwrap() > 3000.0);
}

/// suricata-verify's tls-subjectaltname trace (public corpus, when
/// present): two SYN / challenge-ACK / RST exchanges whose ACK carries an
/// older connection's numbers made 2 GB of "capture loss" and a
/// capture_loss_rate of 1420. They are out of window, not capture loss.
#[test]
fn a_challenge_ack_is_no_capture_loss_and_the_rate_stays_a_share() {
    let path = common::repo_root()
        .join("../shared/corpus/suricata-verify/tests/tls/tls-subjectaltname/input.pcap");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not here (the shared public corpus is optional)",
            path.display()
        );
        return;
    }
    let (_, out, stderr) = analyze_json(&[&path], &[]);
    let rate = out["metrics"]["capture_loss_rate"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&rate),
        "capture_loss_rate {rate}: {stderr}"
    );
    assert!(
        !out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "capture_loss"),
        "{}",
        out["findings"]
    );
    let challenged: Vec<_> = out["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["tcp"]["out_of_window"]["client"].as_u64() == Some(1))
        .collect();
    assert_eq!(challenged.len(), 2);
    for f in challenged {
        assert_eq!(f["tcp"]["history"], "SaR");
        assert_eq!(f["tcp"]["capture_lost_bytes"]["client"], 0);
    }
}

/// Severity follows impact: a capture that ends right after a connection's
/// first SYN (testdata's think capture cut there) has that attempt as a LOW
/// unanswered_syn (it may have been answered after the capture), not HIGH;
/// Zeek's wikipedia trace (public corpus, when present), whose only
/// unanswered queries are mDNS and LLMNR, has them as LOW and no HIGH
/// finding at all; findings of one severity come largest impact first.
#[test]
fn severity_follows_impact() {
    let think = testdata("groundtruth/think.pcap");
    let (_, full, _) = analyze_json(&[&think], &[]);
    let flows = full["flows"].as_array().unwrap();
    let last_syn = flows
        .iter()
        .filter(|f| {
            f["tcp"]["history"]
                .as_str()
                .is_some_and(|h| h.starts_with('S'))
        })
        .map(|f| f["first_ts_ns"].as_i64().unwrap())
        .max()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    let (bytes, end) = common::pcap_until(&think, last_syn);
    assert_eq!(end, Some(last_syn), "the cut ends with that SYN");
    std::fs::write(&cut, bytes).unwrap();
    let (_, j, _) = analyze_json(&[&cut], &[]);
    let syn: Vec<&serde_json::Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unanswered_syn")
        .collect();
    assert_eq!(syn.len(), 1, "{:#}", j["findings"]);
    assert_eq!(syn[0]["severity"], "LOW");
    assert!(syn[0]["summary"].as_str().unwrap().contains("last second"));
    for w in j["findings"].as_array().unwrap().windows(2) {
        if w[0]["severity"] == w[1]["severity"] {
            assert!(w[0]["impact"].as_u64() >= w[1]["impact"].as_u64(), "{w:?}");
        }
    }

    let wiki =
        common::repo_root().join("../shared/corpus/zeek/testing/btest/Traces/wikipedia.pcap");
    if !wiki.exists() {
        eprintln!("SKIPPED (wikipedia part): {} is not here", wiki.display());
        return;
    }
    let (_, j, _) = analyze_json(&[&wiki], &[]);
    let findings = j["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["severity"] != "HIGH"),
        "{findings:#?}"
    );
    let dns = findings
        .iter()
        .find(|f| f["kind"] == "dns_unanswered")
        .expect("dns_unanswered");
    assert_eq!(dns["severity"], "LOW");
    assert!(dns["summary"].as_str().unwrap().contains("multicast"));
}
