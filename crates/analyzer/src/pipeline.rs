//! The analysis pipeline: files → records → packets → flows → report.
//!
//! Each input file is read and decoded on its own thread; decoded packets
//! flow back in bounded batches (memory stays bounded whatever the file size)
//! and are merged in timestamp order, so several captures analyze as one.
//! Merged packets pass the fragment tracker and are routed to flow-table
//! shards by the symmetric flow hash. The result is the same for any shard
//! count (tested), which is what lets shards move to threads.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;

use crate::decode::{self, linktype_name, Packet, Skip, Transport};
use crate::flow::{
    endpoints, Endpoint, FlowKey, FlowTable, FragmentTracker, Timeouts, TIMELINE_TICK_NS,
};
use crate::record::Sink;
use crate::report::{
    ns_to_s, proto_name, CaptureInfo, FileError, FileRecord, InterfaceRecord, LinkTypeCount,
    LogHistogram, ProtoTotals, Report, TimeBin, Timeline, ToolInfo, MAX_BINS, SCHEMA_VERSION,
};
use crate::source::{read_capture, FileInfo, Record, SourceError};

/// Packets sent between threads per message: amortizes channel cost.
const BATCH: usize = 1024;
/// Expiry is checked at most this often (capture time), keeping the sweep
/// cost proportional to active flows per interval, not per packet.
const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;
/// Flows kept in each worst-flows ranking.
const WORST_FLOWS: usize = 10;
/// Batches in flight per file: bounds memory while decoding runs ahead.
const BATCHES_IN_FLIGHT: usize = 8;

/// Validated settings of one analysis run.
#[derive(Debug, Clone)]
pub struct Config {
    pub files: Vec<PathBuf>,
    pub timeouts: Timeouts,
    /// Flow-table shards (1 or more). Output does not depend on it.
    pub shards: usize,
    /// Limits for findings.
    pub thresholds: crate::report::Thresholds,
    /// Kubernetes names for flow ends (`--k8s`, Hubble flows); empty for none.
    pub k8s: crate::context::K8sIndex,
}

/// Live counters for a progress display and for interruption.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Bytes read from the input files so far (compressed size for gzip).
    pub bytes_read: Arc<AtomicU64>,
    /// Packets merged so far.
    pub packets: Arc<AtomicU64>,
    /// Set to stop reading early (Ctrl-C); what was read is still analyzed.
    pub stop: Arc<AtomicBool>,
}

/// Outcome of a run: the report and the per-file errors that happened.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub errors: Vec<SourceError>,
    /// Reading was stopped by [`Progress::stop`].
    pub interrupted: bool,
    /// Most flows held in memory at once.
    pub peak_active_flows: usize,
}

impl Outcome {
    /// No file yielded anything: nothing to report.
    pub fn nothing_read(&self) -> bool {
        self.report.capture.files.iter().all(|f| f.format.is_none())
    }
}

/// What one file's reader thread hands back when done.
struct FileResult {
    info: FileInfo,
    error: Option<SourceError>,
    skips: BTreeMap<Skip, u64>,
    truncated: u64,
    link_counts: BTreeMap<u16, u64>,
}

fn spawn_reader(
    index: usize,
    path: PathBuf,
    progress: Progress,
) -> (Receiver<Vec<Packet>>, thread::JoinHandle<FileResult>) {
    let (tx, rx) = sync_channel::<Vec<Packet>>(BATCHES_IN_FLIGHT);
    let handle = thread::spawn(move || {
        let mut skips = BTreeMap::new();
        let mut truncated = 0u64;
        let mut link_counts = BTreeMap::new();
        let mut batch = Vec::with_capacity(BATCH);
        let mut receiver_gone = false;
        let file = u16::try_from(index).unwrap_or(u16::MAX);
        let stop = progress.stop.clone();
        let (info, mut error) = read_capture(
            &path,
            progress.bytes_read.clone(),
            &stop,
            &mut |rec: Record<'_>| {
                if receiver_gone {
                    return;
                }
                *link_counts.entry(rec.linktype).or_insert(0) += 1;
                match decode::decode(
                    rec.linktype,
                    rec.data,
                    rec.orig_len,
                    rec.ts_ns,
                    file,
                    rec.interface,
                ) {
                    Ok(p) => {
                        truncated += u64::from(p.truncated);
                        batch.push(p);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            receiver_gone = tx.send(full).is_err();
                        }
                    }
                    Err(skip) => *skips.entry(skip).or_insert(0) += 1,
                }
            },
        );
        if !batch.is_empty() && !receiver_gone {
            let _ = tx.send(batch);
        }
        if stop.load(Ordering::Relaxed) && error.as_ref().is_some_and(|e| !e.is_damage()) {
            error = None;
        }
        FileResult {
            info,
            error,
            skips,
            truncated,
            link_counts,
        }
    });
    (rx, handle)
}

/// A file's stream of decoded packets, one batch at a time.
struct Stream {
    rx: Receiver<Vec<Packet>>,
    batch: std::vec::IntoIter<Packet>,
    head: Option<Packet>,
}

impl Stream {
    /// Moves to the next packet; `head` is `None` at the end of the file.
    fn advance(&mut self) {
        loop {
            if let Some(p) = self.batch.next() {
                self.head = Some(p);
                return;
            }
            match self.rx.recv() {
                Ok(b) => self.batch = b.into_iter(),
                Err(_) => {
                    self.head = None;
                    return;
                }
            }
        }
    }
}

/// Runs the analysis.
pub fn run(config: &Config, progress: &Progress) -> Outcome {
    run_with(config, progress, None)
}

/// Runs the analysis, streaming event, DNS and packet rows to `sink` while
/// packets are read (see [`crate::record`]).
pub fn run_with(config: &Config, progress: &Progress, mut sink: Option<&mut dyn Sink>) -> Outcome {
    let shards = config.shards.max(1);
    let packets_on = sink.as_ref().is_some_and(|s| s.wants_packets());
    let mut tables: Vec<FlowTable> = (0..shards)
        .map(|i| {
            let t = FlowTable::new(config.timeouts).with_uids(i as u64, shards as u64);
            if sink.is_some() {
                t.with_records(packets_on)
            } else {
                t
            }
        })
        .collect();
    let mut frags = FragmentTracker::default();
    // By protocol number while packets stream (no per-packet allocation).
    let mut by_proto: BTreeMap<u8, ProtoTotals> = BTreeMap::new();
    let mut first_ns: Option<i64> = None;
    let mut last_ns: Option<i64> = None;

    let mut streams = Vec::new();
    let mut handles = Vec::new();
    for (i, path) in config.files.iter().enumerate() {
        let (rx, h) = spawn_reader(i, path.clone(), progress.clone());
        let mut s = Stream {
            rx,
            batch: Vec::new().into_iter(),
            head: None,
        };
        s.advance();
        streams.push(s);
        handles.push(h);
    }

    // k-way merge on (timestamp, file index): deterministic for equal times.
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    for (i, s) in streams.iter().enumerate() {
        if let Some(p) = &s.head {
            heap.push(Reverse((p.ts_ns, i)));
        }
    }
    let mut ready = Vec::with_capacity(8);
    let mut merged = 0u64;
    let mut next_sweep = i64::MIN;
    while let Some(Reverse((_, i))) = heap.pop() {
        let s = &mut streams[i];
        let Some(pkt) = s.head.take() else { continue };
        s.advance();
        if let Some(next) = &s.head {
            heap.push(Reverse((next.ts_ns, i)));
        }
        merged += 1;
        if merged % 4096 == 0 {
            progress.packets.store(merged, Ordering::Relaxed);
        }
        first_ns = Some(first_ns.map_or(pkt.ts_ns, |f| f.min(pkt.ts_ns)));
        let now = last_ns.map_or(pkt.ts_ns, |l| l.max(pkt.ts_ns));
        last_ns = Some(now);
        // Every shard expires flows on the same capture clock, so results
        // do not depend on how flows are spread over shards.
        if now >= next_sweep {
            for t in &mut tables {
                t.sweep(now);
                if let Some(s) = sink.as_deref_mut() {
                    t.drain_records(s);
                }
            }
            next_sweep = now.saturating_add(SWEEP_INTERVAL_NS);
        }
        let t = by_proto.entry(pkt.proto).or_default();
        t.packets += 1;
        t.ip_bytes += u64::from(pkt.ip_len);
        t.payload_bytes += u64::from(pkt.payload_len);
        frags.push(pkt, &mut ready);
        for p in ready.drain(..) {
            let shard = (route_hash(&p) % shards as u64) as usize;
            tables[shard].process(&p);
            if let Some(s) = sink.as_deref_mut() {
                tables[shard].drain_records(s);
            }
        }
    }
    progress.packets.store(merged, Ordering::Relaxed);
    frags.finish();
    drop(streams);

    let mut results: Vec<FileResult> = handles
        .into_iter()
        .zip(config.files.iter())
        .map(|(h, path)| {
            h.join().unwrap_or_else(|_| FileResult {
                info: FileInfo {
                    path: path.clone(),
                    ..FileInfo::default()
                },
                error: Some(SourceError::Damaged {
                    path: path.clone(),
                    offset: 0,
                    compressed: false,
                    what: "internal error while reading (reader thread panicked)".into(),
                }),
                skips: BTreeMap::new(),
                truncated: 0,
                link_counts: BTreeMap::new(),
            })
        })
        .collect();

    let peak_active_flows = tables.iter().map(|t| t.peak_active).sum();
    let end_ns = last_ns.unwrap_or(0);
    let mut per_tick: BTreeMap<i64, TimeBin> = BTreeMap::new();
    let mut rtt_histogram = LogHistogram::default();
    for t in &tables {
        for (sec, bin) in &t.timeline {
            per_tick.entry(*sec).or_default().add(bin);
        }
        rtt_histogram.merge(&t.rtt_histogram);
    }
    let mut flows = Vec::new();
    for t in tables {
        let (done, rec) = t.finish_with_records(end_ns);
        flows.extend(done);
        if let (Some(mut rec), Some(s)) = (rec, sink.as_deref_mut()) {
            rec.drain_into(s);
        }
    }
    // One order for any shard count: by first packet, then by key fields.
    flows.sort_by(|a, b| {
        (
            a.first_ts_ns,
            a.proto.as_str(),
            a.client,
            a.server,
            a.tunnel,
        )
            .cmp(&(
                b.first_ts_ns,
                b.proto.as_str(),
                b.client,
                b.server,
                b.tunnel,
            ))
    });
    let mut totals: BTreeMap<String, ProtoTotals> = by_proto
        .into_iter()
        .map(|(p, t)| (proto_name(p), t))
        .collect();
    for (i, f) in flows.iter_mut().enumerate() {
        f.id = i as u64;
        let t = totals.entry(f.proto.clone()).or_default();
        t.flows += 1;
    }

    let interrupted = progress.stop.load(Ordering::Relaxed);
    let mut warnings = Vec::new();
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    let mut link_types: BTreeMap<u16, u64> = BTreeMap::new();
    let mut truncated_packets = 0;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut partial = interrupted;
    for r in results.drain(..) {
        let path = r.info.path.display().to_string();
        for (lt, n) in &r.link_counts {
            *link_types.entry(*lt).or_insert(0) += n;
        }
        truncated_packets += r.truncated;
        for (skip, n) in &r.skips {
            match skip {
                Skip::NotIp => {}
                Skip::UnsupportedLinkType(_) => {
                    // Part of the input could not be analyzed at all.
                    partial = true;
                    warnings.push(format!("{path}: {n} packet(s) skipped: {skip}"));
                }
                _ => warnings.push(format!("{path}: {n} packet(s) skipped: {skip}")),
            }
            *skipped.entry(skip_key(skip)).or_insert(0) += n;
        }
        warnings.extend(r.info.warnings.iter().cloned());
        let error = r.error.as_ref().map(|e| FileError {
            offset: match e {
                SourceError::Damaged { offset, .. } | SourceError::Io { offset, .. } => {
                    Some(*offset)
                }
                _ => None,
            },
            message: e.to_string(),
        });
        let file_partial = r.error.is_some();
        if let Some(e) = &r.error {
            partial = true;
            if r.info.packets > 0 || e.is_damage() {
                warnings.push(format!(
                    "{e}; analyzed the {} packet(s) before it (partial)",
                    r.info.packets
                ));
            } else {
                warnings.push(e.to_string());
            }
        }
        files.push(FileRecord {
            path,
            format: r.info.format.map(|f| f.to_string()),
            compression: r.info.gzip.then(|| "gzip".to_string()),
            size_bytes: r.info.size,
            packets: r.info.packets,
            bytes: r.info.bytes,
            sections: r.info.sections,
            interfaces: r
                .info
                .interfaces
                .iter()
                .map(|i| InterfaceRecord {
                    linktype: i.linktype,
                    linktype_name: linktype_name(i.linktype),
                    name: i.name.clone(),
                    snaplen: i.snaplen,
                    ts_resolution_ns: 1e9 / i.ts_units_per_sec as f64,
                })
                .collect(),
            partial: file_partial,
            error,
        });
        if let Some(e) = r.error {
            errors.push(e);
        }
    }
    if frags.unattributed > 0 {
        warnings.push(format!(
            "{} IP fragment(s) skipped: their first fragment (with the ports) was not captured",
            frags.unattributed
        ));
        skipped.insert("fragment_without_first".into(), frags.unattributed);
    }
    if interrupted {
        warnings.push(format!(
            "interrupted: analysis covers the {merged} packet(s) read before the stop"
        ));
    }

    // Names first: findings and roll-ups group and describe by them.
    crate::context::label_flows(&mut flows, &config.k8s);
    let packets = files.iter().map(|f| f.packets).sum();
    let bytes = files.iter().map(|f| f.bytes).sum();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "retina-analyze",
            version: env!("CARGO_PKG_VERSION"),
        },
        capture: CaptureInfo {
            files,
            packets,
            bytes,
            first_ts: first_ns.map(ns_to_s),
            last_ts: last_ns.map(ns_to_s),
            first_ts_ns: first_ns,
            last_ts_ns: last_ns,
            duration_s: match (first_ns, last_ns) {
                (Some(f), Some(l)) => ns_to_s(l - f),
                _ => 0.0,
            },
            link_types: link_types
                .into_iter()
                .map(|(linktype, packets)| LinkTypeCount {
                    linktype,
                    name: linktype_name(linktype),
                    packets,
                })
                .collect(),
            partial,
            warnings,
            skipped,
            truncated_packets,
            flows: flows.len() as u64,
            archives: Vec::new(),
        },
        protocols: totals,
        drops: None,
        kernel_retransmissions: None,
        dns: crate::analysis::dns::summarize(
            flows
                .iter()
                .filter_map(|f| f.dns.as_ref().map(|d| (f.server.ip, f.server.port, d))),
        ),
        worst_flows: crate::analysis::worst::rank(&flows, WORST_FLOWS),
        timeline: timeline(per_tick, rtt_histogram, &flows, first_ns, last_ns),
        findings: Vec::new(),
        metrics: BTreeMap::new(),
        hubble: None,
        rollups: None,
        flows,
    };
    report.findings = crate::analysis::findings::findings(&report, &config.thresholds);
    let high = report
        .findings
        .iter()
        .filter(|f| f.severity == crate::report::Severity::High)
        .count();
    report.metrics = crate::analysis::gate::metrics(&report, high);
    // Once per run, over the finished flows: never on the per-packet path.
    #[cfg(feature = "polars")]
    match crate::rollups::compute(&report) {
        Ok(r) => report.rollups = r,
        Err(e) => report.capture.warnings.push(e),
    }
    Outcome {
        report,
        errors,
        interrupted,
        peak_active_flows,
    }
}

/// Re-bins per-tick activity into at most [`MAX_BINS`] bins of a round
/// width, and places unanswered DNS queries.
fn timeline(
    per_tick: BTreeMap<i64, TimeBin>,
    rtt_histogram: LogHistogram,
    flows: &[crate::report::FlowRecord],
    first_ns: Option<i64>,
    last_ns: Option<i64>,
) -> Timeline {
    let (Some(first), Some(last)) = (first_ns, last_ns) else {
        return Timeline {
            rtt_histogram,
            ..Timeline::default()
        };
    };
    // Bin widths in ticks (100 ms): round numbers from 100 ms to a day.
    const WIDTHS: [i64; 19] = [
        1, 2, 5, 10, 20, 50, 100, 150, 300, 600, 1200, 3000, 6000, 9000, 18000, 36000, 72000,
        216_000, 864_000,
    ];
    let tick = TIMELINE_TICK_NS;
    let start = first.div_euclid(tick);
    let end = last.div_euclid(tick);
    let span = end - start + 1;
    let width = WIDTHS
        .iter()
        .copied()
        .find(|w| (span + w - 1) / w <= MAX_BINS as i64)
        .unwrap_or((span + MAX_BINS as i64 - 1) / MAX_BINS as i64);
    let start = start.div_euclid(width) * width;
    let n = (((end - start) / width + 1) as usize).clamp(1, MAX_BINS);
    let mut bins = vec![TimeBin::default(); n];
    let index = |t: i64| (((t - start) / width).max(0) as usize).min(n - 1);
    for (t, b) in per_tick {
        bins[index(t)].add(&b);
    }
    for f in flows {
        for &ts in f.dns.iter().flat_map(|d| d.unanswered_at.iter()) {
            bins[index(ts.div_euclid(tick))].dns_unanswered += 1;
        }
    }
    Timeline {
        start_ts: (start * tick) as f64 / 1e9,
        bin_s: (width * tick) as f64 / 1e9,
        bins,
        rtt_histogram,
    }
}

/// The shard of a packet: the hash of the flow it belongs to (for an ICMP
/// error, the flow it quotes).
fn route_hash(p: &Packet) -> u64 {
    let (proto, a, b) = match &p.transport {
        Transport::Icmp(i) if i.quoted.is_some() => {
            let q = i.quoted.expect("checked");
            (
                q.proto,
                Endpoint {
                    ip: q.src,
                    port: q.sport,
                },
                Endpoint {
                    ip: q.dst,
                    port: q.dport,
                },
            )
        }
        _ => {
            let (a, b) = endpoints(p);
            (p.proto, a, b)
        }
    };
    FlowKey::new(proto, a, b, p.tunnel).0.shard_hash()
}

fn skip_key(s: &Skip) -> String {
    match s {
        Skip::NotIp => "not_ip".into(),
        Skip::UnsupportedLinkType(l) => format!("unsupported_linktype_{l}"),
        Skip::Malformed(_) => "malformed".into(),
        Skip::TruncatedIp => "truncated_ip_header".into(),
    }
}
