//! Step 1 of a run: read and decode every capture, merge the files by
//! time, and build the flows.
//!
//! Each input file is read and decoded on its own thread; decoded packets
//! flow back in bounded batches (memory stays bounded whatever the file
//! size) and are merged in timestamp order, so several captures analyze as
//! one. Merged packets pass the fragment tracker and are routed to
//! flow-table shards by the symmetric flow hash. The result is the same for
//! any shard count (tested), which is what lets shards move to threads.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;

use super::points::{Point, Stage};
use super::Progress;
use crate::decode::{self, Packet, Skip, Transport};
use crate::flow::points::PointId;
use crate::flow::{endpoints, Endpoint, FlowKey, FlowTable, FragmentTracker, Timeouts};
use crate::flow::{ClockEstimate, MultiConfig};
use crate::record::Sink;
use crate::report::{FlowRecord, LogHistogram, ProtoTotals, TimeBin};
use crate::source::{read_capture, FileInfo, Record, SourceError};

/// Packets sent between threads per message: amortizes channel cost.
const BATCH: usize = 1024;
/// Expiry is checked at most this often (capture time), keeping the sweep
/// cost proportional to active flows per interval, not per packet.
const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;
/// Batches in flight per file: bounds memory while decoding runs ahead.
const BATCHES_IN_FLIGHT: usize = 8;
/// Packets routed to the shards before the workers process them: large
/// enough to amortize a parallel step, small enough to stay in cache.
const WORK_BATCH: usize = 8192;

/// What a flow-table shard does next, in capture order.
// Nearly every item is a packet: boxing it would allocate per packet.
#[allow(clippy::large_enum_variant)]
enum Work {
    /// A packet, and the addresses it was seen with before a translation.
    Packet(Packet, Option<(Endpoint, Endpoint)>),
    /// Expire idle flows at this capture time (every shard, same time).
    Sweep(i64),
}

/// Runs every shard's queued work: in parallel on `pool`, each shard on
/// one worker and in capture order, then hands the rows to `sink` shard
/// by shard (one order for any thread count).
fn run_work<'s>(
    pool: Option<&rayon::ThreadPool>,
    tables: &mut [FlowTable],
    queues: &mut [Vec<Work>],
    sink: Option<&mut (dyn Sink + 's)>,
) {
    let work = |(t, q): (&mut FlowTable, &mut Vec<Work>)| {
        for w in q.drain(..) {
            match w {
                Work::Packet(p, seen_as) => {
                    t.process(&p);
                    if let Some((src, dst)) = seen_as {
                        t.note_translation(&p, src, dst);
                    }
                }
                Work::Sweep(now) => t.sweep(now),
            }
        }
    };
    match pool {
        Some(pool) => {
            use rayon::prelude::*;
            pool.install(|| {
                tables
                    .par_iter_mut()
                    .zip(queues.par_iter_mut())
                    .for_each(work)
            });
        }
        None => tables.iter_mut().zip(queues.iter_mut()).for_each(work),
    }
    if let Some(s) = sink {
        for t in tables.iter_mut() {
            t.drain_records(s);
        }
    }
}

/// A pool of `threads` workers (0: one per core); `None` for one thread,
/// which then runs everything on the calling thread.
pub fn pool(threads: usize) -> Option<rayon::ThreadPool> {
    let n = if threads == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    if n <= 1 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("retina-worker-{i}"))
        .build()
        .ok()
}

/// Everything reading the captures produced, for the later steps.
pub struct Merged {
    /// Finished flows, ordered by first packet (ids are their positions).
    pub flows: Vec<FlowRecord>,
    /// One result per capture file, in input order.
    pub files: Vec<FileResult>,
    /// Packets, bytes and payload by IP protocol number.
    pub by_proto: BTreeMap<u8, ProtoTotals>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// Activity per timeline tick, and every data RTT sample.
    pub per_tick: BTreeMap<i64, TimeBin>,
    pub rtt_histogram: LogHistogram,
    /// IP fragments whose first fragment was never seen.
    pub fragments_unattributed: u64,
    /// Packets merged (read and decoded).
    pub packets: u64,
    /// Most flows held in memory at once.
    pub peak_active_flows: usize,
    /// Flows ended early to stay within the flow limit, and the limit.
    pub evicted_flows: u64,
    pub max_flows: usize,
    /// The capture points, by id.
    pub points: Vec<Point>,
    /// Clock offsets between points of different files (best estimate).
    pub clocks: BTreeMap<(PointId, PointId), ClockEstimate>,
    /// What the reader of the report should know about the points.
    pub point_warnings: Vec<String>,
}

/// Settings of capture-point matching.
#[derive(Debug, Clone, Copy)]
pub struct PointsConfig {
    /// How long after its last sighting a packet is decided seen everywhere
    /// it will be: longer than any one-way delay plus clock offset between points.
    pub window_ns: i64,
}

impl Default for PointsConfig {
    fn default() -> Self {
        PointsConfig {
            // Linux holds packets up to 3 s while it resolves a neighbour.
            window_ns: 3_500_000_000,
        }
    }
}

/// IP protocol number of a flow's `proto` name.
fn proto_number(name: &str) -> u8 {
    match name {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "icmpv6" => 58,
        "gre" => 47,
        "esp" => 50,
        "sctp" => 132,
        n => n
            .strip_prefix("ip-proto-")
            .and_then(|x| x.parse().ok())
            .unwrap_or(0),
    }
}

/// What one file's reader thread hands back when done.
pub struct FileResult {
    pub info: FileInfo,
    pub error: Option<SourceError>,
    /// Frames skipped, by reason: how many, and the number of the first
    /// (1-based, in the file's record order, as Wireshark numbers frames).
    pub skips: BTreeMap<Skip, (u64, u64)>,
    pub truncated: u64,
    pub link_counts: BTreeMap<u16, u64>,
    /// The link type of each interface that captured packets (names points).
    pub iface_links: BTreeMap<u32, u16>,
}

/// What a file's first record says of its capture points: 1 one point,
/// 2 several (Linux cooked headers name interfaces; a pcapng section
/// declares several), 0 not known yet (no record).
type PointsHint = Arc<AtomicU8>;

fn spawn_reader(
    index: usize,
    path: PathBuf,
    progress: Progress,
    hint: PointsHint,
) -> (Receiver<Vec<Packet>>, thread::JoinHandle<FileResult>) {
    let (tx, rx) = sync_channel::<Vec<Packet>>(BATCHES_IN_FLIGHT);
    let handle = thread::spawn(move || {
        let mut iface_links: BTreeMap<u32, u16> = BTreeMap::new();
        let mut skips: BTreeMap<Skip, (u64, u64)> = BTreeMap::new();
        let mut frame = 0u64;
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
                frame += 1;
                if receiver_gone {
                    return;
                }
                *link_counts.entry(rec.linktype).or_insert(0) += 1;
                let cooked = rec.linktype == decode::LINKTYPE_LINUX_SLL2;
                if hint.load(Ordering::Relaxed) == 0 {
                    let several = cooked || rec.interfaces > 1;
                    hint.store(if several { 2 } else { 1 }, Ordering::Relaxed);
                }
                if !cooked {
                    iface_links.entry(rec.interface).or_insert(rec.linktype);
                }
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
                        if cooked {
                            iface_links.entry(p.interface).or_insert(rec.linktype);
                        }
                        batch.push(p);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            receiver_gone = tx.send(full).is_err();
                        }
                    }
                    Err(skip) => skips.entry(skip).or_insert((0, frame)).0 += 1,
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
            iface_links,
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

/// How flows are kept: timeouts, shards, and the most open at once.
#[derive(Debug, Clone, Copy)]
pub struct TablesConfig {
    pub timeouts: Timeouts,
    pub shards: usize,
    pub max_flows: usize,
}

/// Reads `files` into flows. Event, DNS and packet rows stream to `sink`
/// while packets are read (see [`crate::record`]).
pub fn read(
    files: &[PathBuf],
    tables: &TablesConfig,
    pool: Option<&rayon::ThreadPool>,
    points: &PointsConfig,
    progress: &Progress,
    mut sink: Option<&mut dyn Sink>,
) -> Merged {
    let TablesConfig {
        timeouts,
        shards,
        max_flows,
    } = *tables;
    let shards = shards.max(1);
    let packets_on = sink.as_ref().is_some_and(|s| s.wants_packets());
    let mut streams = Vec::new();
    let mut handles = Vec::new();
    let mut hints = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let hint = PointsHint::default();
        let (rx, h) = spawn_reader(i, path.clone(), progress.clone(), hint.clone());
        let mut s = Stream {
            rx,
            batch: Vec::new().into_iter(),
            head: None,
        };
        // The first batch: the file's first record has set its hint.
        s.advance();
        streams.push(s);
        handles.push(h);
        hints.push(hint);
    }
    // Several points: several files, or one file whose first record says
    // so. Decided before any packet is analyzed; a point that only shows
    // up later is counted, not matched (and said).
    let multi = files.len() > 1 || hints.iter().any(|h| h.load(Ordering::Relaxed) == 2);
    let mut stage = Stage::new(multi, points.window_ns);
    let mut tables: Vec<FlowTable> = (0..shards)
        .map(|i| {
            // The limit is shared evenly: flows spread evenly over shards.
            let mut t = FlowTable::new(timeouts)
                .with_uids(i as u64, shards as u64)
                .with_max_flows(max_flows.div_ceil(shards));
            if multi {
                t = t.with_points(MultiConfig {
                    spans: stage.spans.clone(),
                    window_ns: points.window_ns,
                });
            }
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

    // k-way merge on (timestamp, file index): deterministic for equal times.
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    for (i, s) in streams.iter().enumerate() {
        if let Some(p) = &s.head {
            heap.push(Reverse((p.ts_ns, i)));
        }
    }
    let mut ready = Vec::with_capacity(8);
    let mut queues: Vec<Vec<Work>> = (0..shards).map(|_| Vec::new()).collect();
    let mut queued = 0usize;
    let mut merged = 0u64;
    let mut next_sweep = i64::MIN;
    // Files with no packet left (a later file may continue their points).
    let mut ended: Vec<bool> = streams.iter().map(|s| s.head.is_none()).collect();
    while let Some(Reverse((_, i))) = heap.pop() {
        let s = &mut streams[i];
        let Some(mut pkt) = s.head.take() else {
            continue;
        };
        s.advance();
        ended[i] = s.head.is_none();
        stage.assign(&mut pkt, &ended);
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
            for q in &mut queues {
                q.push(Work::Sweep(now));
            }
            next_sweep = now.saturating_add(SWEEP_INTERVAL_NS);
        }
        if !multi {
            // With several points, packets seen twice count once: from the flows.
            let t = by_proto.entry(pkt.proto).or_default();
            t.packets += 1;
            t.ip_bytes += u64::from(pkt.ip_len);
            t.payload_bytes += u64::from(pkt.payload_len);
        }
        frags.push(pkt, &mut ready);
        for mut p in ready.drain(..) {
            let seen_as = stage.translate(&mut p);
            let shard = (route_hash(&p) % shards as u64) as usize;
            queues[shard].push(Work::Packet(p, seen_as));
            queued += 1;
        }
        if queued >= WORK_BATCH {
            run_work(pool, &mut tables, &mut queues, sink.as_deref_mut());
            queued = 0;
        }
    }
    run_work(pool, &mut tables, &mut queues, sink.as_deref_mut());
    progress.packets.store(merged, Ordering::Relaxed);
    frags.finish();
    drop(streams);

    let results: Vec<FileResult> = handles
        .into_iter()
        .zip(files.iter())
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
                iface_links: BTreeMap::new(),
            })
        })
        .collect();

    let peak_active_flows = tables.iter().map(|t| t.peak_active).sum();
    let evicted_flows = tables.iter().map(|t| t.evicted).sum();
    let mut per_tick: BTreeMap<i64, TimeBin> = BTreeMap::new();
    let mut rtt_histogram = LogHistogram::default();
    let end_ns = last_ns.unwrap_or(0);
    let mut flows = Vec::new();
    let mut clocks: BTreeMap<(PointId, PointId), ClockEstimate> = BTreeMap::new();
    let ends: Vec<crate::flow::TableEnd> = match pool {
        Some(pool) => {
            use rayon::prelude::*;
            pool.install(|| {
                tables
                    .into_par_iter()
                    .map(|t| t.finish_all(end_ns))
                    .collect()
            })
        }
        None => tables.into_iter().map(|t| t.finish_all(end_ns)).collect(),
    };
    // Sized once; each shard's chunks of records move in and are freed
    // one by one: the records exist about once, not twice.
    flows.reserve_exact(ends.iter().map(|e| e.flows.len()).sum());
    for mut end in ends {
        for chunk in std::mem::take(&mut end.flows).into_chunks() {
            flows.extend(chunk);
        }
        // After the flows ended: with several points, a flow's activity
        // joins the timeline when its primary point is known.
        for (sec, bin) in &end.timeline {
            per_tick.entry(*sec).or_default().add(bin);
        }
        rtt_histogram.merge(&end.rtt_histogram);
        if let (Some(mut rec), Some(s)) = (end.rec, sink.as_deref_mut()) {
            rec.drain_into(s);
        }
        for (k, e) in end.clocks {
            match clocks.get_mut(&k) {
                None => {
                    clocks.insert(k, e);
                }
                Some(c) => {
                    // NTP's choice: the estimate with the smallest delay.
                    let flows = c.flows + e.flows;
                    if e.delay_ns < c.delay_ns {
                        *c = e;
                    }
                    c.flows = flows;
                }
            }
        }
    }
    // One order for any shard count: by first packet, then by key fields.
    let order = |a: &FlowRecord, b: &FlowRecord| {
        (
            a.first_ts_ns,
            a.proto.as_str(),
            a.client,
            a.server,
            a.tunnel,
            &a.vlan,
        )
            .cmp(&(
                b.first_ts_ns,
                b.proto.as_str(),
                b.client,
                b.server,
                b.tunnel,
                &b.vlan,
            ))
    };
    match pool {
        Some(pool) => {
            use rayon::prelude::*;
            pool.install(|| flows.par_sort_by(order));
        }
        None => flows.sort_by(order),
    }
    for (i, f) in flows.iter_mut().enumerate() {
        f.id = i as u64;
        if multi {
            let t = by_proto.entry(proto_number(&f.proto)).or_default();
            t.packets += f.packets.total();
            t.ip_bytes += f.ip_bytes.total();
            t.payload_bytes += f.payload_bytes.total();
        }
    }
    let mut point_warnings = Vec::new();
    if stage.late_point {
        point_warnings.push(
            "a capture interface appeared after the start of a file read as one capture point: its packets are counted but not matched with the other points'"
                .to_string(),
        );
    }
    if stage.too_many_points {
        point_warnings.push(format!(
            "more than {} capture points: packets of the others are not matched across points",
            crate::flow::points::MAX_POINTS
        ));
    }
    Merged {
        flows,
        files: results,
        by_proto,
        first_ns,
        last_ns,
        per_tick,
        rtt_histogram,
        fragments_unattributed: frags.unattributed,
        packets: merged,
        peak_active_flows,
        evicted_flows,
        max_flows,
        points: stage.points().to_vec(),
        clocks,
        point_warnings,
    }
}

/// The shard of a packet: the hash of the flow it belongs to (for an ICMP
/// error, the flow it quotes).
fn route_hash(p: &Packet) -> u64 {
    let quoted = match &p.transport {
        Transport::Icmp(i) => i.quoted,
        _ => None,
    };
    let (proto, a, b) = match quoted {
        Some(q) => (
            q.proto,
            Endpoint {
                ip: q.src,
                port: q.sport,
            },
            Endpoint {
                ip: q.dst,
                port: q.dport,
            },
        ),
        None => {
            let (a, b) = endpoints(p);
            (p.proto, a, b)
        }
    };
    FlowKey::new(proto, a, b, p.tunnel, p.vlan).0.shard_hash()
}
