//! Roll-ups on small hand-made flow batches, with expectations worked out
//! independently (by hand or with plain loops).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt16Array, UInt64Array};
use retina_rollups::*;

struct Flow {
    proto: &'static str,
    client: &'static str,
    server: &'static str,
    sent: u64,
    recv: u64,
    retrans: Option<(u64, u64)>,
    hs: Option<f64>,
    rtt: Option<f64>,
    ns: &'static str,
}

fn batch(flows: &[Flow]) -> RecordBatch {
    let s = |f: fn(&Flow) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from(flows.iter().map(f).collect::<Vec<_>>()))
    };
    let u = |f: fn(&Flow) -> Option<u64>| -> ArrayRef {
        Arc::new(UInt64Array::from(flows.iter().map(f).collect::<Vec<_>>()))
    };
    let fl = |f: fn(&Flow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(flows.iter().map(f).collect::<Vec<_>>()))
    };
    RecordBatch::try_from_iter([
        ("proto", s(|f| f.proto)),
        ("client_ip", s(|f| f.client)),
        ("server_ip", s(|f| f.server)),
        ("bytes_total", u(|f| Some(f.sent + f.recv))),
        ("ip_bytes_client", u(|f| Some(f.sent))),
        ("ip_bytes_server", u(|f| Some(f.recv))),
        ("retrans_segments_client", u(|f| f.retrans.map(|r| r.0))),
        ("retrans_segments_server", u(|f| f.retrans.map(|r| r.1))),
        ("handshake_rtt_ms", fl(|f| f.hs)),
        ("rtt_ms_p50", fl(|f| f.rtt)),
        ("response_time_ms_p50", fl(|_| None)),
        ("namespace", s(|f| f.ns)),
    ])
    .unwrap()
}

fn sample() -> Vec<Flow> {
    vec![
        Flow {
            proto: "tcp",
            client: "10.0.1.5",
            server: "10.0.2.9",
            sent: 100,
            recv: 900,
            retrans: Some((2, 1)),
            hs: Some(1.0),
            rtt: Some(2.0),
            ns: "web",
        },
        Flow {
            proto: "tcp",
            client: "10.0.1.6",
            server: "10.0.2.9",
            sent: 50,
            recv: 4000,
            retrans: Some((0, 3)),
            hs: Some(3.0),
            rtt: None,
            ns: "web",
        },
        Flow {
            proto: "udp",
            client: "10.0.1.5",
            server: "10.0.3.1",
            sent: 70,
            recv: 130,
            retrans: None,
            hs: None,
            rtt: None,
            ns: "dns",
        },
        Flow {
            proto: "tcp",
            client: "fd00::1",
            server: "fd00::2",
            sent: 10,
            recv: 20,
            retrans: Some((0, 0)),
            hs: Some(5.0),
            rtt: Some(4.0),
            ns: "web",
        },
    ]
}

fn col<'a>(t: &'a Table, name: &str) -> Vec<&'a Cell> {
    let i = t
        .columns
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("{name} in {:?}", t.columns));
    t.rows.iter().map(|r| &r[i]).collect()
}

#[test]
fn numeric_columns_cross_the_c_data_interface_without_a_copy() {
    let a = UInt64Array::from(vec![1u64, 2, 3, 4]);
    let s = series_from_arrow("x", &a).unwrap();
    let ca = s.u64().unwrap();
    let chunk = ca.downcast_iter().next().unwrap();
    assert_eq!(chunk.values().as_ptr(), a.values().as_ptr(), "same buffer");
    assert_eq!(
        ca.iter().collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3), Some(4)]
    );
    // Nulls and strings arrive intact.
    let strs = StringArray::from(vec![Some("a"), None, Some("ccc")]);
    let s = series_from_arrow("s", &strs).unwrap();
    assert_eq!(
        s.str().unwrap().iter().collect::<Vec<_>>(),
        vec![Some("a"), None, Some("ccc")]
    );
    let f = Float64Array::from(vec![Some(1.5), None]);
    let s = series_from_arrow("f", &f).unwrap();
    assert_eq!(s.null_count(), 1);
}

#[test]
fn unsupported_and_missing_columns_are_clear_errors() {
    let b =
        RecordBatch::try_from_iter([("port", Arc::new(UInt16Array::from(vec![1u16])) as ArrayRef)])
            .unwrap();
    let e = dataframe(&b, &["port"]).unwrap_err().to_string();
    assert!(e.contains("port") && e.contains("UInt16"), "{e}");
    let e = dataframe(&b, &["nope"]).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn top_endpoints_sum_both_sides_of_every_flow() {
    let flows = sample();
    let r = compute(&batch(&flows), 3).unwrap();
    let t = &r.top_endpoints;
    assert_eq!(
        t.columns,
        [
            "ip",
            "flows",
            "bytes_sent",
            "bytes_received",
            "bytes",
            "retrans_sent"
        ]
    );
    assert_eq!(t.rows.len(), 3, "limited to n");
    // By hand: 10.0.2.9 is the server of flows 0 and 1: 5050 bytes.
    assert_eq!(col(t, "ip")[0], &Cell::Str("10.0.2.9".into()));
    assert_eq!(col(t, "bytes")[0], &Cell::U64(5050));
    assert_eq!(col(t, "bytes_sent")[0], &Cell::U64(4900));
    assert_eq!(col(t, "flows")[0], &Cell::U64(2));
    assert_eq!(col(t, "retrans_sent")[0], &Cell::U64(4));
    // Then 10.0.1.6 (4050) and 10.0.1.5 (1000 + 200 over two flows).
    assert_eq!(col(t, "ip")[1], &Cell::Str("10.0.1.6".into()));
    assert_eq!(col(t, "ip")[2], &Cell::Str("10.0.1.5".into()));
    assert_eq!(col(t, "bytes")[2], &Cell::U64(1200));
    assert_eq!(col(t, "flows")[2], &Cell::U64(2));
    // Every byte is counted once per side, so all endpoints add up to twice the flows.
    let all = compute(&batch(&flows), 100).unwrap().top_endpoints;
    let total: u64 = col(&all, "bytes")
        .iter()
        .map(|c| match c {
            Cell::U64(x) => *x,
            _ => 0,
        })
        .sum();
    assert_eq!(
        total,
        2 * flows.iter().map(|f| f.sent + f.recv).sum::<u64>()
    );
}

#[test]
fn top_pairs_and_subnets() {
    let r = compute(&batch(&sample()), 10).unwrap();
    let p = &r.top_pairs;
    assert_eq!(col(p, "client_ip")[0], &Cell::Str("10.0.1.6".into()));
    assert_eq!(col(p, "retrans_segments")[0], &Cell::U64(3));
    assert_eq!(p.rows.len(), 4);
    let s = &r.subnets;
    let nets: Vec<_> = col(s, "subnet");
    // 10.0.1.5 (1200) + 10.0.1.6 (4050) outweigh 10.0.2.9 (5050).
    assert_eq!(nets[0], &Cell::Str("10.0.1.0/24".into()));
    assert_eq!(col(s, "bytes")[0], &Cell::U64(5250));
    assert_eq!(nets[1], &Cell::Str("10.0.2.0/24".into()));
    assert_eq!(col(s, "bytes")[1], &Cell::U64(5050));
    let i = nets
        .iter()
        .position(|n| **n == Cell::Str("10.0.1.0/24".into()))
        .unwrap();
    assert_eq!(
        col(s, "endpoints")[i],
        &Cell::U64(2),
        "10.0.1.5 and 10.0.1.6"
    );
    assert_eq!(col(s, "flows")[i], &Cell::U64(3));
    let v6 = nets
        .iter()
        .position(|n| **n == Cell::Str("fd00::/64".into()))
        .unwrap();
    assert_eq!(
        col(s, "flows")[v6],
        &Cell::U64(2),
        "both ends of the IPv6 flow"
    );
    assert_eq!(
        subnet_of("192.168.7.200").as_deref(),
        Some("192.168.7.0/24")
    );
    assert_eq!(
        subnet_of("2001:db8:1:2:3:4:5:6").as_deref(),
        Some("2001:db8:1:2::/64")
    );
    assert_eq!(subnet_of("not-an-ip"), None);
}

#[test]
fn quantiles_over_flows_by_any_key() {
    // 100 flows with handshake RTT 1..=100 ms: linear quantiles are exact here.
    let mut flows = Vec::new();
    for i in 1..=100u64 {
        flows.push(Flow {
            proto: "tcp",
            client: "10.0.0.1",
            server: "10.0.0.2",
            sent: i,
            recv: 0,
            retrans: Some((0, 0)),
            hs: Some(i as f64),
            rtt: (i % 2 == 0).then_some(i as f64),
            ns: if i <= 40 { "a" } else { "b" },
        });
    }
    let df = dataframe(
        &batch(&flows),
        &[&FLOW_COLUMNS[..], &["namespace"]].concat(),
    )
    .unwrap();
    let t = table(&group_stats(&df, &["proto"]).unwrap()).unwrap();
    assert_eq!(t.rows.len(), 1);
    assert_eq!(col(&t, "flows")[0], &Cell::U64(100));
    assert_eq!(col(&t, "bytes")[0], &Cell::U64(5050));
    assert_eq!(col(&t, "handshake_rtt_ms_flows")[0], &Cell::U64(100));
    assert_eq!(col(&t, "handshake_rtt_ms_p50")[0], &Cell::F64(50.5));
    match col(&t, "handshake_rtt_ms_p99")[0] {
        Cell::F64(x) => assert!((x - 99.01).abs() < 1e-9, "{x}"),
        c => panic!("{c:?}"),
    }
    // Nulls (odd flows have no data RTT) are left out, not counted as zero.
    assert_eq!(col(&t, "data_rtt_ms_flows")[0], &Cell::U64(50));
    assert_eq!(col(&t, "data_rtt_ms_p50")[0], &Cell::F64(51.0));
    assert_eq!(col(&t, "response_time_ms_flows")[0], &Cell::U64(0));
    assert_eq!(col(&t, "response_time_ms_p50")[0], &Cell::Null);
    // A new key column (here a namespace) needs no code change.
    let t = table(&group_stats(&df, &["namespace"]).unwrap()).unwrap();
    assert_eq!(
        col(&t, "namespace"),
        [&Cell::Str("b".into()), &Cell::Str("a".into())]
    );
    assert_eq!(col(&t, "flows"), [&Cell::U64(60), &Cell::U64(40)]);
    assert_eq!(col(&t, "handshake_rtt_ms_p50")[1], &Cell::F64(20.5));
    let t = table(&group_stats(&df, &["namespace", "proto"]).unwrap()).unwrap();
    assert_eq!(t.columns[..3], ["namespace", "proto", "flows"]);
}
