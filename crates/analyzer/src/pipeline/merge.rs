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
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread;

use super::Progress;
use crate::decode::{self, Packet, Skip, Transport};
use crate::flow::{endpoints, Endpoint, FlowKey, FlowTable, FragmentTracker, Timeouts};
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
}

/// What one file's reader thread hands back when done.
pub struct FileResult {
    pub info: FileInfo,
    pub error: Option<SourceError>,
    pub skips: BTreeMap<Skip, u64>,
    pub truncated: u64,
    pub link_counts: BTreeMap<u16, u64>,
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

/// Reads `files` into flows. Event, DNS and packet rows stream to `sink`
/// while packets are read (see [`crate::record`]).
pub fn read(
    files: &[PathBuf],
    timeouts: Timeouts,
    shards: usize,
    progress: &Progress,
    mut sink: Option<&mut dyn Sink>,
) -> Merged {
    let shards = shards.max(1);
    let packets_on = sink.as_ref().is_some_and(|s| s.wants_packets());
    let mut tables: Vec<FlowTable> = (0..shards)
        .map(|i| {
            let t = FlowTable::new(timeouts).with_uids(i as u64, shards as u64);
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
    for (i, path) in files.iter().enumerate() {
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
            })
        })
        .collect();

    let peak_active_flows = tables.iter().map(|t| t.peak_active).sum();
    let mut per_tick: BTreeMap<i64, TimeBin> = BTreeMap::new();
    let mut rtt_histogram = LogHistogram::default();
    for t in &tables {
        for (sec, bin) in &t.timeline {
            per_tick.entry(*sec).or_default().add(bin);
        }
        rtt_histogram.merge(&t.rtt_histogram);
    }
    let end_ns = last_ns.unwrap_or(0);
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
    for (i, f) in flows.iter_mut().enumerate() {
        f.id = i as u64;
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
