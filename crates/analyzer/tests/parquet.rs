//! `--parquet DIR` (+ `--parquet-packets`): the tables agree with the JSON
//! output of the same run, join on flow_id, carry their metadata, and bad
//! output paths fail clearly without leaving anything that looks complete.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{
    Array, BooleanArray, RecordBatch, StringArray, TimestampNanosecondArray, UInt16Array,
    UInt64Array,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use retina_tables::analyzer::{DNS, EVENTS, FLOWS, PACKETS};
use retina_tables::TableDef;
use serde_json::Value;

use common::{bin, interrupted_stdin_run, testdata};

const CAPTURES: [&str; 9] = [
    "groundtruth/loss.dropped.pcap",
    "groundtruth/think.pcap",
    "tcp-udp-ipv4.pcap",
    "groundtruth/loss.pcap",
    "groundtruth/loss.receiver.pcap",
    "groundtruth/dns.pcap",
    "groundtruth/states.pcap",
    "ipv6.pcapng",
    "vxlan.pcap",
];

/// Runs `--format json --parquet dir --parquet-packets`; returns the JSON.
fn run(capture: &Path, dir: &Path, extra: &[&str]) -> Value {
    let out = bin()
        .arg(capture)
        .args(["--quiet", "--format", "json", "--parquet"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Table {
    batch: RecordBatch,
    meta: BTreeMap<String, String>,
}

fn read(dir: &Path, def: &TableDef) -> Table {
    let path = dir.join(def.file_name());
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let meta = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = b.schema().clone();
    assert_eq!(
        schema.fields(),
        def.arrow_schema().fields(),
        "{}: column names and types as declared",
        def.name
    );
    let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
    let batch = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    Table { batch, meta }
}

fn u64s(t: &Table, name: &str) -> Vec<Option<u64>> {
    let c = t.batch.column_by_name(name).unwrap();
    let a = c.as_any().downcast_ref::<UInt64Array>().unwrap();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn strs(t: &Table, name: &str) -> Vec<Option<String>> {
    let c = t.batch.column_by_name(name).unwrap();
    let a = c.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn bools(t: &Table, name: &str) -> Vec<Option<bool>> {
    let c = t.batch.column_by_name(name).unwrap();
    let a = c.as_any().downcast_ref::<BooleanArray>().unwrap();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn both(v: &Value) -> u64 {
    u(&v["client"]) + u(&v["server"])
}

/// Sum over flows of a per-direction TCP counter.
fn tcp_sum(json: &Value, f: impl Fn(&Value) -> u64) -> u64 {
    json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["tcp"].is_null())
        .map(|fl| f(&fl["tcp"]))
        .sum()
}

/// Records of a classic little-endian pcap file: (header, records).
fn pcap_records(data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    assert!(matches!(
        &data[..4],
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]
    ));
    let mut recs = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        recs.push(data[at..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    (data[..24].to_vec(), recs)
}

/// loss.pcap with some data segments removed (capture loss) and some
/// adjacent data segments swapped (network reordering), so that those
/// event kinds are exercised too.
fn damaged_capture(dir: &Path) -> std::path::PathBuf {
    let data = std::fs::read(testdata("groundtruth/loss.pcap")).unwrap();
    let (header, mut recs) = pcap_records(&data);
    // Original length (the capture keeps only the headers).
    let big = |r: &Vec<u8>| u32::from_le_bytes(r[12..16].try_into().unwrap()) > 1000;
    let mut i = 10;
    let mut swapped = 0;
    while i + 1 < recs.len() && swapped < 5 {
        if big(&recs[i]) && big(&recs[i + 1]) {
            recs.swap(i, i + 1);
            swapped += 1;
            i += 60;
        } else {
            i += 1;
        }
    }
    let mut n = 0;
    recs.retain(|r| {
        n += 1;
        !(big(r) && n % 97 == 0)
    });
    let path = dir.join("damaged.pcap");
    let mut out = header;
    for r in recs {
        out.extend(r);
    }
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn tables_match_the_json_of_the_same_run() {
    let mut kinds_seen = BTreeMap::new();
    let scratch = tempfile::tempdir().unwrap();
    let damaged = damaged_capture(scratch.path());
    let damaged_name = damaged.display().to_string();
    for name in CAPTURES.iter().copied().chain([damaged_name.as_str()]) {
        let dir = tempfile::tempdir().unwrap();
        let capture = if Path::new(name).is_absolute() {
            Path::new(name).to_path_buf()
        } else {
            testdata(name)
        };
        let json = run(&capture, dir.path(), &["--parquet-packets"]);
        let flows_json = json["flows"].as_array().unwrap();
        let n = flows_json.len() as u64;

        // Exactly the six tables, nothing else (no spool, no temporary file).
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "dns.parquet",
                "events.parquet",
                "flows.parquet",
                "lost_between.parquet",
                "packets.parquet",
                "points.parquet"
            ],
            "{name}"
        );
        // points: one row per capture point, as in the JSON.
        let points = read(dir.path(), &retina_tables::analyzer::POINTS);
        let json_points = json["capture"]["points"].as_array().unwrap();
        assert_eq!(points.batch.num_rows(), json_points.len(), "{name}: points");

        // flows: one row per JSON flow, same ids, endpoints and counters.
        let flows = read(dir.path(), &FLOWS);
        assert_eq!(flows.batch.num_rows() as u64, n, "{name}: flows rows");
        let ids = u64s(&flows, "flow_id");
        let client_ip = strs(&flows, "client_ip");
        let cid = strs(&flows, "community_id");
        let proto = strs(&flows, "proto");
        let pk_c = u64s(&flows, "packets_client");
        let retrans_c = u64s(&flows, "retrans_segments_client");
        let first = flows
            .batch
            .column_by_name("first_time")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap()
            .clone();
        for (i, f) in flows_json.iter().enumerate() {
            assert_eq!(ids[i], Some(u(&f["id"])), "{name}: flow_id order");
            assert_eq!(
                client_ip[i].as_deref(),
                f["client"]["ip"].as_str(),
                "{name} flow {i}"
            );
            assert_eq!(cid[i].as_deref(), f["community_id"].as_str());
            assert_eq!(proto[i].as_deref(), f["proto"].as_str());
            assert_eq!(pk_c[i], Some(u(&f["packets"]["client"])));
            assert_eq!(first.value(i), f["first_ts_ns"].as_i64().unwrap());
            let rc = f["tcp"]["retransmissions"]["client"]["segments"].as_u64();
            assert_eq!(
                retrans_c[i], rc,
                "{name} flow {i}: null exactly for non-TCP"
            );
        }
        assert_eq!(
            flows.meta.get("retina.tool_version").map(String::as_str),
            json["tool"]["version"].as_str()
        );
        assert!(
            flows.meta["retina.input_files"].contains(&capture.display().to_string()),
            "{name}: input files in the metadata"
        );
        assert_eq!(flows.meta["retina.schema_version"], "1");

        // events: per kind, the sum of `count` is the JSON counter.
        let ev = read(dir.path(), &EVENTS);
        let kinds = strs(&ev, "kind");
        let counts = u64s(&ev, "count");
        let classes = strs(&ev, "class");
        let spurious = bools(&ev, "spurious");
        let ev_flow = u64s(&ev, "flow_id");
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
        let mut spurious_rows = 0;
        for i in 0..ev.batch.num_rows() {
            let k = kinds[i].clone().unwrap();
            *by_kind.entry(k.clone()).or_default() += counts[i].unwrap();
            *kinds_seen.entry(k.clone()).or_insert(0) += 1;
            let fid = ev_flow[i].unwrap();
            assert!(fid < n, "{name}: event of flow {fid} joins a flow");
            if k == "retransmission" {
                *by_class.entry(classes[i].clone().unwrap()).or_default() += 1;
                spurious_rows += u64::from(spurious[i].unwrap());
            }
            if k == "spurious_retransmission" {
                spurious_rows += 1;
            }
            if k != "dns_timeout" {
                assert!(
                    flows_json[fid as usize]["tcp"].is_object(),
                    "{name}: TCP event on a TCP flow"
                );
            }
        }
        let get = |k: &str| by_kind.get(k).copied().unwrap_or(0);
        let r = |key: &'static str| {
            tcp_sum(&json, move |t| {
                u(&t["retransmissions"]["client"][key]) + u(&t["retransmissions"]["server"][key])
            })
        };
        assert_eq!(
            get("retransmission"),
            r("segments"),
            "{name}: retransmissions"
        );
        for class in ["rto", "fast", "tlp"] {
            assert_eq!(
                by_class.get(class).copied().unwrap_or(0),
                r(class),
                "{name}: {class}"
            );
        }
        assert_eq!(spurious_rows, r("spurious"), "{name}: spurious");
        for (kind, field) in [
            ("out_of_order", "out_of_order"),
            ("capture_loss", "capture_lost_segments"),
            ("zero_window", "zero_windows"),
            ("reset", "resets"),
            ("duplicate", "duplicates"),
        ] {
            assert_eq!(
                get(kind),
                tcp_sum(&json, |t| both(&t[field])),
                "{name}: {kind} events vs tcp.{field}"
            );
        }
        assert_eq!(
            get("syn_retry"),
            tcp_sum(&json, |t| u(&t["syn_retransmissions"])),
            "{name}: syn retries"
        );
        let dns_json = |k: &str| -> u64 {
            flows_json
                .iter()
                .filter(|f| f["dns"].is_object())
                .map(|f| u(&f["dns"][k]))
                .sum()
        };
        assert_eq!(
            get("dns_timeout"),
            dns_json("unanswered"),
            "{name}: dns timeouts"
        );

        // dns: one row per query.
        let dns = read(dir.path(), &DNS);
        assert_eq!(
            dns.batch.num_rows() as u64,
            dns_json("queries"),
            "{name}: dns rows"
        );
        let status = strs(&dns, "status");
        for (st, k) in [
            ("unanswered", "unanswered"),
            ("pending_at_end", "pending_at_end"),
            ("retry", "retries"),
        ] {
            let rows = status.iter().filter(|s| s.as_deref() == Some(st)).count() as u64;
            assert_eq!(rows, dns_json(k), "{name}: dns {st}");
        }
        let answered = status
            .iter()
            .filter(|s| s.as_deref() == Some("answered"))
            .count() as u64;
        assert_eq!(
            answered,
            dns_json("responses") - dns_json("unmatched_responses"),
            "{name}: answered queries"
        );
        if !json["dns"].is_null() {
            assert_eq!(dns.batch.num_rows() as u64, u(&json["dns"]["queries"]));
        }
        let txid = dns.batch.column_by_name("txid").unwrap();
        assert!(txid.as_any().downcast_ref::<UInt16Array>().is_some());

        // packets: one row per flow packet; per flow, the JSON's packet count.
        let pk = read(dir.path(), &PACKETS);
        let total: u64 = flows_json.iter().map(|f| both(&f["packets"])).sum();
        assert_eq!(pk.batch.num_rows() as u64, total, "{name}: packet rows");
        let has_icmp_errors = flows_json
            .iter()
            .any(|f| !f["icmp_errors"].as_array().unwrap().is_empty());
        if !has_icmp_errors && json["capture"]["skipped"].as_object().unwrap().is_empty() {
            assert_eq!(
                total,
                u(&json["capture"]["packets"]),
                "{name}: every packet"
            );
        }
        let mut per_flow = vec![0u64; n as usize];
        for fid in u64s(&pk, "flow_id") {
            per_flow[fid.unwrap() as usize] += 1;
        }
        for (i, f) in flows_json.iter().enumerate() {
            assert_eq!(
                per_flow[i],
                both(&f["packets"]),
                "{name}: packets of flow {i}"
            );
        }
        let retrans_pk = bools(&pk, "retransmission")
            .iter()
            .filter(|b| **b == Some(true))
            .count() as u64;
        assert_eq!(retrans_pk, r("segments"), "{name}: retransmitted packets");
        assert!(pk.meta.contains_key("retina.input_files"));
    }
    // The captures exercise the interesting kinds (so the sums above test something).
    for k in [
        "retransmission",
        "reset",
        "dns_timeout",
        "capture_loss",
        "out_of_order",
        "syn_retry",
    ] {
        assert!(
            kinds_seen.contains_key(k),
            "no {k} event in any capture: {kinds_seen:?}"
        );
    }
}

#[test]
fn without_packets_flag_there_is_no_packets_table() {
    let dir = tempfile::tempdir().unwrap();
    run(&testdata("tcp-udp-ipv4.pcap"), dir.path(), &[]);
    assert!(dir.path().join("flows.parquet").exists());
    assert!(!dir.path().join("packets.parquet").exists());
}

#[test]
fn parquet_packets_needs_parquet() {
    let out = bin()
        .arg(testdata("tcp-udp-ipv4.pcap"))
        .arg("--parquet-packets")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn existing_tables_are_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let capture = testdata("tcp-udp-ipv4.pcap");
    std::fs::write(dir.path().join("events.parquet"), b"keep me").unwrap();
    let out = bin()
        .arg(&capture)
        .args(["--quiet", "--parquet"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("events.parquet") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("events.parquet")).unwrap(),
        b"keep me"
    );
    assert!(
        !dir.path().join("flows.parquet").exists(),
        "nothing written"
    );
    assert!(out.stdout.is_empty(), "fails before the analysis");
    // --force replaces it.
    run(&capture, dir.path(), &["--force"]);
    let t = read(dir.path(), &EVENTS);
    assert!(t.meta.contains_key("retina.tool"));
}

#[test]
fn bad_output_directories_fail_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let below_file = file.join("sub");
    // Not creatable even by root.
    let proc_dir = Path::new("/proc/retina-analyze-test-out");
    for (out_dir, what) in [
        (file.as_path(), "not a directory"),
        (below_file.as_path(), "cannot create"),
        (proc_dir, "cannot create"),
    ] {
        let out = bin()
            .arg(testdata("tcp-udp-ipv4.pcap"))
            .args(["--quiet", "--parquet"])
            .arg(out_dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", out_dir.display());
        assert!(
            err.contains(&out_dir.display().to_string()) && err.contains(what),
            "{}: {err}",
            out_dir.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("a/b");
    run(&testdata("groundtruth/dns.pcap"), &out_dir, &[]);
    assert!(out_dir.join("dns.parquet").exists());
}

#[test]
fn an_interrupted_run_writes_complete_tables_of_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(testdata("nanosecond.pcap")).unwrap();
    let mut args = [
        "--format",
        "json",
        "--quiet",
        "--parquet-packets",
        "--parquet",
    ]
    .map(std::ffi::OsStr::new)
    .to_vec();
    args.push(dir.path().as_os_str());
    let out = interrupted_stdin_run(&data, &args);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flows = read(dir.path(), &FLOWS);
    assert_eq!(flows.meta["retina.interrupted"], "true");
    assert_eq!(flows.meta["retina.partial"], "true");
    assert_eq!(
        flows.batch.num_rows(),
        json["flows"].as_array().unwrap().len()
    );
    let packets = read(dir.path(), &PACKETS);
    let flow_packets: u64 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| both(&f["packets"]))
        .sum();
    assert!(flow_packets > 0);
    assert_eq!(packets.batch.num_rows() as u64, flow_packets);
    assert_eq!(packets.meta["retina.interrupted"], "true");
}

#[test]
fn tables_are_written_in_row_groups_of_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg(testdata("groundtruth/loss.pcap"))
        .args([
            "--quiet",
            "--format",
            "json",
            "--parquet-packets",
            "--parquet",
        ])
        .arg(dir.path())
        .env("RETINA_PARQUET_ROW_GROUP_ROWS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flow_packets: u64 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| both(&f["packets"]))
        .sum();
    let f = File::open(dir.path().join("packets.parquet")).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let groups: Vec<i64> = b
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups.iter().sum::<i64>() as u64, flow_packets);
    assert_eq!(
        groups.len() as u64,
        flow_packets.div_ceil(100),
        "{groups:?}"
    );
    assert!(
        groups[..groups.len() - 1].iter().all(|&n| n == 100),
        "{groups:?}"
    );
}

/// Several capture points: the points table, the loss between them, and
/// every point's copy of a packet in packets.parquet (the distinct copies
/// being the flow's counts).
#[test]
fn capture_points_and_loss_between_them_are_tables() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        ["client", "router", "server"].map(|p| testdata(&format!("points/router.{p}.pcap.gz")));
    let out = common::bin()
        .args(&files)
        .args(["--format", "json", "--quiet", "--parquet"])
        .arg(dir.path())
        .arg("--parquet-packets")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = read(dir.path(), &retina_tables::analyzer::POINTS);
    assert_eq!(points.batch.num_rows(), 4);
    assert_eq!(
        u64s(&points, "packets").iter().flatten().sum::<u64>(),
        json["capture"]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["packets"].as_u64().unwrap())
            .sum::<u64>()
    );
    let lost = read(dir.path(), &retina_tables::analyzer::LOST_BETWEEN);
    let json_lost: Vec<&serde_json::Value> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["lost_between"].as_array().unwrap())
        .collect();
    assert_eq!(lost.batch.num_rows(), json_lost.len());
    assert_eq!(
        u64s(&lost, "packets").iter().flatten().sum::<u64>(),
        json_lost
            .iter()
            .map(|l| l["packets"].as_u64().unwrap())
            .sum::<u64>()
    );
    // packets: a row per copy; the distinct copies add up to the flows' packets.
    let packets = read(dir.path(), &retina_tables::analyzer::PACKETS);
    let distinct = packets
        .batch
        .column_by_name("distinct")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    let n_distinct = (0..distinct.len()).filter(|i| distinct.value(*i)).count() as u64;
    let json_packets: u64 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["packets"]["client"].as_u64().unwrap() + f["packets"]["server"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(n_distinct, json_packets);
    let copies: u64 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["points"].as_array().unwrap())
        .map(|p| {
            p["packets"]["client"].as_u64().unwrap() + p["packets"]["server"].as_u64().unwrap()
        })
        .sum();
    assert!(
        packets.batch.num_rows() as u64 >= copies,
        "every copy is a row"
    );
}
