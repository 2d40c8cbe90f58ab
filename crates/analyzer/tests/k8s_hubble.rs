//! Kubernetes context (`--k8s`) on a project capture, and Hubble flow logs
//! through the real binary.

mod common;
use common::*;

#[test]
fn kubectl_fixture_names_the_capture_endpoints() {
    let cap = testdata("tcp-udp-ipv4.pcap");
    let k8s = testdata("k8s/cluster.json");
    let (code, j, err) = analyze_json(&[&cap], &["--k8s", k8s.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let flows = j["flows"].as_array().unwrap();
    assert!(!flows.is_empty());
    for f in flows {
        let (c, s) = (&f["client_k8s"], &f["server_k8s"]);
        assert_eq!(f["client"]["ip"], "10.99.0.1");
        assert_eq!(c["kind"], "pod");
        assert_eq!(c["namespace"], "shop");
        assert_eq!(c["name"], "web-5f7b9c6d4-abcde");
        assert_eq!(c["workload"], "web");
        assert_eq!(c["workload_kind"], "Deployment");
        assert_eq!(c["node"], "node-a");
        // The running StatefulSet pod, not the finished Job pod that had the address.
        assert_eq!(s["name"], "api-0", "{s}");
        assert_eq!(s["namespace"], "backend");
        assert_eq!(s["workload"], "api");
        assert_eq!(s["workload_kind"], "StatefulSet");
    }
    // Roll-ups group the flows by workload (polars).
    #[cfg(feature = "polars")]
    {
        let by = &j["rollups"]["by_server_workload"];
        let cols: Vec<&str> = by["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let row = &by["rows"][0];
        let at = |c: &str| &row[cols.iter().position(|x| *x == c).unwrap()];
        assert_eq!(
            (at("server_namespace"), at("server_workload")),
            (&"backend".into(), &"api".into())
        );
        assert_eq!(at("flows").as_u64(), Some(flows.len() as u64));
        assert_eq!(j["rollups"]["by_client_workload"]["rows"][0][1], "web");
    }
    // The flows table carries the same names.
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .arg(&cap)
        .args(["--k8s", k8s.to_str().unwrap(), "-q", "--parquet"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = std::fs::File::open(dir.path().join("flows.parquet")).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let b = r.build().unwrap().next().unwrap().unwrap();
    let col = |n: &str| {
        retina_tables::arrow_array::cast::AsArray::as_string::<i32>(b.column_by_name(n).unwrap())
            .value(0)
            .to_string()
    };
    assert_eq!(col("client_namespace"), "shop");
    assert_eq!(col("client_workload"), "web");
    assert_eq!(col("server_name"), "api-0");
    assert_eq!(col("server_workload_kind"), "StatefulSet");
    // Without --k8s the names are null.
    let (_, plain, _) = analyze_json(&[&cap], &[]);
    assert!(plain["flows"][0]["client_k8s"].is_null());
}

#[test]
fn bad_k8s_files_are_clear_errors() {
    let cap = testdata("tcp-udp-ipv4.pcap");
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("pods.txt");
    std::fs::write(&not_json, "NAME READY STATUS\n").unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{\"kind\": \"List\", \"items\": []}").unwrap();
    for (path, want) in [
        (not_json.clone(), "not JSON"),
        (empty.clone(), "no pods, services or nodes"),
        (dir.path().join("missing.json"), "missing.json"),
    ] {
        let out = bin().arg(&cap).arg("--k8s").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&*path.to_string_lossy()) && err.contains(want),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn hubble_logs_are_read_with_bad_lines_counted() {
    let a = testdata("hubble/cilium-observe.json");
    let b = testdata("hubble/retina-observe.jsonpb");
    let (code, j, err) = analyze_json(&[&a, &b], &[]);
    // Skipped lines make the run partial.
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("skipped 5 line(s)") && err.contains("line 10"),
        "{err}"
    );
    let h = &j["hubble"];
    assert_eq!(h["records"], 13);
    assert_eq!(h["skipped_lines"], 5);
    assert_eq!(h["files"][0]["bad_lines"].as_array().unwrap().len(), 5);
    assert_eq!(j["capture"]["files"].as_array().unwrap().len(), 0);
    // Only well-formed logs: a clean run.
    let (code, j, err) = analyze_json(&[&b], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["hubble"]["records"], 5);
}

#[test]
fn hubble_names_label_capture_flows() {
    // A flow log that names the capture's addresses, as Hubble would.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flows.json");
    std::fs::write(
        &log,
        r#"{"flow":{"time":"2026-11-26T12:42:12Z","verdict":"FORWARDED","IP":{"source":"10.99.0.1","destination":"10.99.0.2"},"l4":{"TCP":{"source_port":40001,"destination_port":8080,"flags":{"SYN":true}}},"source":{"namespace":"shop","pod_name":"web-1"},"destination":{"namespace":"backend","pod_name":"api-0","workloads":[{"name":"api","kind":"StatefulSet"}]}}}
"#,
    )
    .unwrap();
    let cap = testdata("tcp-udp-ipv4.pcap");
    let (code, j, err) = analyze_json(&[&cap, &log], &[]);
    assert_eq!(code, 0, "{err}");
    let f = &j["flows"][0];
    assert_eq!(f["client_k8s"]["name"], "web-1");
    assert_eq!(f["server_k8s"]["workload"], "api");
    assert_eq!(j["hubble"]["records"], 1);
    // kubectl wins over Hubble where both name an address.
    let k8s = testdata("k8s/cluster.json");
    let (_, j, _) = analyze_json(&[&cap, &log], &["--k8s", k8s.to_str().unwrap()]);
    assert_eq!(j["flows"][0]["client_k8s"]["name"], "web-5f7b9c6d4-abcde");
}

#[test]
fn hubble_records_are_written_as_a_parquet_table() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let a = testdata("hubble/cilium-observe.json");
    let b = testdata("hubble/retina-observe.jsonpb");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tables");
    std::fs::create_dir(&out).unwrap();
    let o = bin()
        .args([&a, &b])
        .arg("--parquet")
        .arg(&out)
        .args(["-q", "-f", "json"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let f = std::fs::File::open(out.join("hubble.parquet")).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let fields: Vec<String> = r
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let want: Vec<&str> = retina_tables::hubble::HUBBLE
        .columns
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(fields, want);
    let batches: Vec<_> = r.build().unwrap().map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 13);
    let verdicts = retina_tables::arrow_array::cast::AsArray::as_string::<i32>(
        batches[0].column_by_name("verdict").unwrap(),
    )
    .iter()
    .map(|v| v.unwrap().to_string())
    .collect::<Vec<_>>();
    assert!(verdicts.contains(&"RETRANSMISSION".to_string()) || batches.len() > 1);
    let labels = batches[0].column_by_name("src_label").unwrap();
    let labels = retina_tables::arrow_array::cast::AsArray::as_string::<i32>(labels);
    assert_eq!(labels.value(0), "shop/web");
    let svc = batches[0].column_by_name("service").unwrap();
    let svc = retina_tables::arrow_array::cast::AsArray::as_string::<i32>(svc);
    assert_eq!(
        svc.value(0),
        "shop/api:8080",
        "destination_service with the port"
    );
    assert_eq!(
        svc.value(1),
        "shop/api:8080",
        "a SYN+ACK names the service it comes from"
    );
}

/// The roll-ups of the two sample logs, each number counted by hand from
/// the sample lines (testdata/hubble). Roll-ups need the `polars` feature.
#[cfg(feature = "polars")]
#[test]
fn hubble_rollups_match_the_samples() {
    let a = testdata("hubble/cilium-observe.json");
    let b = testdata("hubble/retina-observe.jsonpb");
    let (_, j, _) = analyze_json(&[&a, &b], &[]);
    let s = &j["hubble"]["summary"];
    let group = |list: &str, key: &str| -> serde_json::Value {
        s[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("{list} has no {key}: {}", s[list]))
            .clone()
    };
    // 6 Cilium records + Retina's aggregated record of 1 + 9 previous packets.
    let fwd = group("verdicts", "FORWARDED");
    assert_eq!(
        (fwd["records"].as_u64(), fwd["packets"].as_u64()),
        (Some(7), Some(16))
    );
    assert_eq!(fwd["bytes"], 14052);
    assert_eq!(group("verdicts", "DROPPED")["packets"], 3);
    assert_eq!(group("verdicts", "RETRANSMISSION")["retransmissions"], 1);
    assert_eq!(group("verdicts", "DNS")["packets"], 2);
    assert_eq!(group("drop_reasons", "POLICY_DENIED")["packets"], 2);
    assert_eq!(group("drop_reasons", "IPTABLE_RULE_DROP")["packets"], 1);
    // Records without `workloads` take the workload other records gave the pod.
    let web = group("by_workload", "shop/web");
    assert_eq!(
        (web["packets"].as_u64(), web["dropped"].as_u64()),
        (Some(16), Some(3))
    );
    assert_eq!(web["drop_reasons"]["POLICY_DENIED"], 2);
    assert_eq!(web["drop_reasons"]["IPTABLE_RULE_DROP"], 1);
    assert!(s["by_workload"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["key"] != "shop/web-6d4cf56db6-abcde"));
    assert_eq!(group("by_namespace", "kube-system")["packets"], 3);
    assert_eq!(group("by_node", "node-b")["retransmissions"], 1);
    // Pods by source: web's pod sent 4 Cilium and 3 Retina records.
    assert_eq!(group("by_pod", "web-6d4cf56db6-abcde")["records"], 7);
    // Dropped traffic with both workloads.
    let dropped = s["dropped"].as_array().unwrap();
    let pg = dropped
        .iter()
        .find(|d| d["destination"] == "db/postgres")
        .unwrap();
    assert_eq!(
        (
            pg["source"].as_str(),
            pg["reason"].as_str(),
            pg["packets"].as_u64()
        ),
        (Some("shop/web"), Some("POLICY_DENIED"), Some(2))
    );
    assert_eq!(pg["service"], "db/postgres:5432");
    // Connection attempts: two client sockets tried shop/api:8080, one got a SYN+ACK.
    let svc = |name: &str| {
        s["tcp_by_service"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["service"] == name)
            .unwrap()
            .clone()
    };
    let api = svc("shop/api:8080");
    assert_eq!(
        (
            api["connection_attempts"].as_u64(),
            api["answered"].as_u64(),
            api["unanswered"].as_u64(),
            api["resets"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(1))
    );
    let db = svc("db/postgres:5432");
    assert_eq!(
        (
            db["connection_attempts"].as_u64(),
            db["unanswered"].as_u64()
        ),
        (Some(1), Some(1)),
        "a resent SYN is one attempt"
    );
    // DNS by name and rcode; queries have a null rcode.
    let dns = s["dns"].as_array().unwrap();
    let find = |q: &str, rc: serde_json::Value| {
        dns.iter()
            .find(|d| d["query"] == q && d["rcode"] == rc)
            .map(|d| d["records"].clone())
    };
    assert_eq!(
        find("missing.shop.svc.cluster.local.", "NXDOMAIN".into()),
        Some(1.into())
    );
    assert_eq!(
        find("payments.example.com.", "SERVFAIL".into()),
        Some(1.into())
    );
    assert_eq!(
        find("payments.example.com.", serde_json::Value::Null),
        Some(1.into())
    );
    // Top talkers by bytes: Retina's aggregated web → api record (14052 B)
    // and its dropped SYN (60 B) lead.
    assert_eq!(s["top_talkers"][0]["source"], "shop/web");
    assert_eq!(s["top_talkers"][0]["destination"], "shop/api");
    assert_eq!(s["top_talkers"][0]["bytes"], 14112);
}

#[test]
fn hubble_only_reports_render() {
    let b = testdata("hubble/cilium-observe.json");
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg(&b)
        .arg("--report")
        .arg(dir.path().join("r"))
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("r/report.md")).unwrap();
    assert!(md.starts_with("# Network analysis: `"), "{md}");
    assert!(md.contains("## Hubble flow logs"), "{md}");
    if cfg!(not(feature = "polars")) {
        // Without polars there are no roll-ups to show.
        return;
    }
    assert!(md.contains("POLICY\\_DENIED"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("r/report.html")).unwrap();
    assert!(html.contains("<h2>Hubble flow logs</h2>") && html.contains("<h3>TCP by service</h3>"));
    // (minijinja escapes the slash.)
    assert!(
        html.contains("<code>db&#x2f;postgres:5432</code>"),
        "{html}"
    );
    let text = String::from_utf8_lossy(&bin().arg(&b).output().unwrap().stdout).into_owned();
    assert!(
        text.contains("TCP trouble by service") && text.contains("NXDOMAIN"),
        "{text}"
    );
}

/// Hubble `DROPPED` records become findings by drop reason, naming both
/// workloads and the service; the flow-log drop metrics gate. Flow-log
/// findings come from the roll-ups, which need the `polars` feature.
#[cfg(feature = "polars")]
#[test]
fn hubble_drops_are_findings_and_gate() {
    let cilium = testdata("hubble/cilium-observe.json");
    let (_, j, _) = analyze_json(&[&cilium], &[]);
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "flow_log_drops")
        .unwrap_or_else(|| panic!("no flow_log_drops finding: {}", j["findings"]));
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("POLICY_DENIED"), "{summary}");
    assert!(
        summary.contains("shop/web") && summary.contains("db/postgres:5432"),
        "{summary}"
    );
    assert!(summary.contains("network policy"), "{summary}");
    assert_eq!(
        f["severity"], "MEDIUM",
        "2 drops, below --flow-log-drops-high"
    );
    let (_, jh, _) = analyze_json(&[&cilium], &["--flow-log-drops-high", "2"]);
    assert!(jh["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "flow_log_drops" && f["severity"] == "HIGH"));
    assert_eq!(j["metrics"]["flow_log_drops.POLICY_DENIED"], 2.0);
    for (gate, code) in [
        ("flow_log_drops>0", 4),
        ("flow_log_drops>2", 3),
        ("flow_log_drops.POLICY_DENIED>=2", 4),
        ("flow_log_drops.POLICY_DENIED>2", 3),
        ("flow_log_drops.AUTH_REQUIRED>0", 3),
    ] {
        // 3: the sample holds bad lines on purpose (a gate that holds wins).
        let (c, _, err) = analyze_json(&[&cilium], &["--fail-on", gate]);
        assert_eq!(c, code, "--fail-on {gate}: {err}");
    }
}

/// Retina's RETRANSMISSION verdicts are judged like captured
/// retransmissions: a workload whose records retransmit more than
/// --retrans-threshold of its packets is a finding.
#[cfg(feature = "polars")] // flow-log findings come from the roll-ups
#[test]
fn hubble_retransmission_verdicts_are_judged_like_captured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retina.json");
    let mut lines = String::new();
    let line = |verdict: u32, i: u32| {
        format!(
            r#"{{"flow":{{"time":"2026-11-20T10:01:{:02}.{:03}Z","verdict":{verdict},"IP":{{"source":"10.0.2.20","destination":"10.0.1.10"}},"l4":{{"TCP":{{"source_port":8080,"destination_port":40001,"flags":{{"ACK":true}}}}}},"source":{{"namespace":"shop","pod_name":"api-1","workloads":[{{"name":"api","kind":"Deployment"}}]}},"destination":{{"namespace":"shop","pod_name":"web-1"}},"Type":"L3_L4","node_name":"node-b"}}}}"#,
            i / 1000,
            i % 1000
        ) + "\n"
    };
    for i in 0..90 {
        lines.push_str(&line(1, i));
    }
    for i in 90..100 {
        lines.push_str(&line(15, i));
    }
    std::fs::write(&path, lines).unwrap();
    let (code, j, err) = analyze_json(&[&path], &[]);
    assert_eq!(code, 0, "{err}");
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "flow_log_retransmissions")
        .unwrap_or_else(|| panic!("no retransmission finding: {}", j["findings"]));
    assert!(f["summary"].as_str().unwrap().contains("10.0%"), "{f}");
    assert!(f["summary"].as_str().unwrap().contains("shop/api"), "{f}");
    assert_eq!(f["severity"], "HIGH", "10% is above 5 × the 1% threshold");
    // Above the threshold only: at 20% allowed, nothing.
    let (_, j, _) = analyze_json(&[&path], &["--retrans-threshold", "0.2"]);
    assert!(!j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "flow_log_retransmissions"));
}
