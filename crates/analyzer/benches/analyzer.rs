//! Micro-benchmarks of the per-packet path (docs/performance.md):
//! frame decoding, the flow table's key hashing and lookup (foldhash against
//! the standard library's SipHash), and the TCP analyzer on a real lossy
//! bulk transfer. `cargo bench -p retina-analyzer --bench analyzer`.
//! Under `cargo test` each benchmark runs once, as a check.

use std::collections::HashMap as StdMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use retina_analyzer::analysis::tcp::{Seen, TcpAnalyzer};
use retina_analyzer::decode::{decode, Packet, Transport};
use retina_analyzer::flow::{endpoints, FlowKey, FlowTable, Timeouts};
use retina_analyzer::source::{read_capture, Record};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

/// Every record of a capture, copied out: (link type, bytes, wire length, time).
fn records(path: &Path) -> Vec<(u16, Vec<u8>, u32, i64)> {
    let mut out = Vec::new();
    let stop = AtomicBool::new(false);
    let (_, err) = read_capture(
        path,
        Arc::new(AtomicU64::new(0)),
        &stop,
        &mut |r: Record<'_>| out.push((r.linktype, r.data.to_vec(), r.orig_len, r.ts_ns)),
    );
    assert!(err.is_none(), "{path:?}: {err:?}");
    out
}

fn packets(path: &Path) -> Vec<Packet> {
    records(path)
        .iter()
        .filter_map(|(lt, d, len, ts)| decode(*lt, d, *len, *ts, 0, 0).ok())
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let recs = records(&testdata("groundtruth/loss.pcap"));
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("ethernet_ipv4_tcp", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (lt, d, len, ts) in &recs {
                if let Ok(p) = decode(*lt, d, *len, *ts, 0, 0) {
                    n += u64::from(p.payload_len);
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

fn bench_flow_lookup(c: &mut Criterion) {
    // 100k distinct flows of a flood-like key set, then one lookup each.
    let base = packets(&testdata("tcp-udp-ipv4.pcap"));
    let p = base
        .iter()
        .find(|p| matches!(p.transport, Transport::Tcp(_)))
        .expect("a TCP packet");
    let keys: Vec<FlowKey> = (0..100_000u32)
        .map(|i| {
            let (mut a, b) = endpoints(p);
            a.port = (i % 60_000) as u16 + 1024;
            if let std::net::IpAddr::V4(v4) = a.ip {
                a.ip = std::net::Ipv4Addr::from(u32::from(v4).wrapping_add(i / 60_000)).into();
            }
            FlowKey::new(p.proto, a, b, None, p.vlan).0
        })
        .collect();
    let mut g = c.benchmark_group("flow_lookup");
    g.throughput(Throughput::Elements(keys.len() as u64));
    let fold: foldhash::HashMap<FlowKey, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect();
    let sip: StdMap<FlowKey, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect();
    g.bench_function("foldhash", |b| {
        b.iter(|| keys.iter().map(|k| fold[k] as u64).sum::<u64>())
    });
    g.bench_function("siphash_std", |b| {
        b.iter(|| keys.iter().map(|k| sip[k] as u64).sum::<u64>())
    });
    g.finish();
}

fn bench_tcp(c: &mut Criterion) {
    // A real bulk transfer through 2% nftables loss (testdata/groundtruth).
    let pkts = packets(&testdata("groundtruth/loss.pcap"));
    let mut g = c.benchmark_group("tcp");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("analyzer_lossy_bulk", |b| {
        b.iter_batched(
            || {
                let client = pkts.first().map(|p| (p.src, p.sport));
                (TcpAnalyzer::default(), client)
            },
            |(mut a, client)| {
                for p in &pkts {
                    let Transport::Tcp(t) = &p.transport else {
                        continue;
                    };
                    let dir = usize::from(Some((p.src, p.sport)) != client);
                    black_box(a.packet(Seen {
                        ts_ns: p.ts_ns,
                        dir,
                        tcp: t,
                        payload_len: p.payload_len,
                        ip_id: p.ip_id,
                    }));
                }
                black_box(a.finish())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("flow_table_lossy_bulk", |b| {
        b.iter_batched(
            || FlowTable::new(Timeouts::default()),
            |mut t| {
                for p in &pkts {
                    t.process(p);
                }
                black_box(t.finish(i64::MAX))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_flow_lookup, bench_tcp);
criterion_main!(benches);
