use super::*;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hubble")
        .join(name)
}

fn read(name: &str) -> (HubbleFile, Vec<HubbleFlow>) {
    let mut flows = Vec::new();
    let file = read_file(&testdata(name), |f| flows.push(f));
    (file, flows)
}

#[test]
fn cilium_json_with_wrapper() {
    let (file, flows) = read("cilium-observe.json");
    assert_eq!(file.error, None);
    assert_eq!(file.lines, 15);
    assert_eq!(file.records, 8);
    assert_eq!(file.skipped, 5);
    let bad: Vec<u64> = file.bad_lines.iter().map(|b| b.line).collect();
    assert_eq!(bad, [10, 11, 12, 13, 15]);
    assert!(
        file.bad_lines[0].error.contains("not JSON"),
        "{:?}",
        file.bad_lines[0]
    );

    let syn = &flows[0];
    assert_eq!(syn.line, 1);
    assert_eq!(syn.time_ns, Some(1_795_168_800_000_000_001));
    assert_eq!(syn.verdict, "FORWARDED");
    assert_eq!(syn.protocol.as_deref(), Some("TCP"));
    assert_eq!(syn.src_ip, Some("10.0.1.10".parse().unwrap()));
    assert_eq!((syn.src_port, syn.dst_port), (Some(40001), Some(8080)));
    assert_eq!(syn.tcp_flags, ["SYN"]);
    assert_eq!(syn.src.pod.as_deref(), Some("web-6d4cf56db6-abcde"));
    assert_eq!(syn.src.workload.as_deref(), Some("web"));
    assert_eq!(syn.dst.workload_kind.as_deref(), Some("Deployment"));
    assert_eq!(syn.dst_service.as_deref(), Some("shop/api"));
    assert_eq!(syn.node.as_deref(), Some("node-a"));
    assert_eq!(syn.direction.as_deref(), Some("EGRESS"));
    assert_eq!(syn.is_reply, Some(false));
    assert_eq!(syn.bytes, None);
    assert_eq!(syn.packets, 1);

    assert_eq!(flows[1].tcp_flags, ["SYN", "ACK"]);
    let drop = &flows[2];
    assert_eq!(drop.verdict, "DROPPED");
    assert_eq!(drop.drop_reason.as_deref(), Some("POLICY_DENIED"));
    assert_eq!(drop.dst.workload_kind.as_deref(), Some("StatefulSet"));
    assert!(flows[4].has_flag("RST"));

    let q = flows[5].dns.as_ref().unwrap();
    assert_eq!(
        (q.query.as_str(), q.response, q.rcode.as_deref()),
        ("api.shop.svc.cluster.local.", false, None)
    );
    assert_eq!(q.qtypes, ["A"]);
    let r = flows[6].dns.as_ref().unwrap();
    assert_eq!((r.response, r.rcode.as_deref()), (true, Some("NOERROR")));
    let nx = flows[7].dns.as_ref().unwrap();
    assert_eq!(nx.rcode.as_deref(), Some("NXDOMAIN"));
    // Only the top-level time: taken from the wrapper.
    assert_eq!(flows[5].time_ns, Some(1_795_168_804_500_000_000));
}

#[test]
fn retina_jsonpb_verdicts_and_extensions() {
    let (file, flows) = read("retina-observe.jsonpb");
    assert_eq!((file.records, file.skipped), (5, 0), "{:?}", file.bad_lines);
    let rt = &flows[0];
    assert_eq!(rt.verdict, "RETRANSMISSION");
    assert_eq!((rt.src_port, rt.dst_port), (Some(8080), Some(40001)));
    assert_eq!(
        rt.src.pod.as_deref(),
        Some("api-7d9f8b6c5d-x2x9q"),
        "camelCase podName"
    );
    assert_eq!(rt.node.as_deref(), Some("node-b"));
    assert_eq!(rt.is_reply, Some(true));
    assert_eq!(rt.bytes, Some(1448));
    let q = &flows[1];
    assert_eq!(q.verdict, "DNS");
    assert!(!q.dns.as_ref().unwrap().response);
    // No l7 type: Retina's dns_type extension says it is a response.
    let r = flows[2].dns.as_ref().unwrap();
    assert_eq!((r.response, r.rcode.as_deref()), (true, Some("SERVFAIL")));
    let drop = &flows[3];
    assert_eq!(drop.verdict, "DROPPED");
    assert_eq!(
        drop.drop_reason.as_deref(),
        Some("IPTABLE_RULE_DROP"),
        "extension reason beats DROP_REASON_UNKNOWN"
    );
    // Unwrapped record, aggregated by Retina.
    let agg = &flows[4];
    assert_eq!(agg.packets, 10);
    assert_eq!(agg.bytes, Some(14052));
    assert_eq!(agg.time_ns, Some(1_795_168_862_000_000_000));
}

#[test]
fn gzip_and_line_errors() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("flows.json.gz");
    let raw = std::fs::read(testdata("retina-observe.jsonpb")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    std::fs::write(&p, gz.finish().unwrap()).unwrap();
    let mut n = 0;
    let file = read_file(&p, |_| n += 1);
    assert!(file.gzip);
    assert_eq!((file.records, n), (5, 5));
    assert_eq!(
        crate::source::sniff_kind(&p).unwrap(),
        crate::source::InputKind::FlowLog
    );

    assert!(
        parse_line("{\"flow\": {\"verdict\": 2, \"IP\": {\"source\": \"::1\"}}}")
            .unwrap()
            .is_some()
    );
    assert_eq!(parse_line("   ").unwrap(), None);
    assert!(parse_line("{}").is_err());
    assert!(
        parse_line("{\"flow\": {\"verdict\": 99}}")
            .unwrap()
            .unwrap()
            .verdict
            == "VERDICT_99"
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let file = read_file(Path::new("/nonexistent/flows.json"), |_| {});
    let e = file.error.unwrap();
    assert!(e.contains("/nonexistent/flows.json"), "{e}");
}

#[test]
fn hubble_names_feed_the_index() {
    let (_, flows) = read("cilium-observe.json");
    let mut ix = K8sIndex::default();
    for f in &flows {
        learn_names(&mut ix, f);
    }
    let web = ix.lookup("10.0.1.10".parse().unwrap()).unwrap();
    assert_eq!(web.label(), "shop/web-6d4cf56db6-abcde");
    assert_eq!(web.workload.as_deref(), Some("web"));
    assert_eq!(
        ix.lookup("10.0.3.30".parse().unwrap()).unwrap().label(),
        "db/postgres-0"
    );
}
