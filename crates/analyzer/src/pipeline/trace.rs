//! Time-sequence traces of chosen TCP flows (tcptrace-style graphs), made
//! by a second read of the capture once the worst flows are known.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::analysis::tcp::{Seen, SeqSpace, TcpAnalyzer};
use crate::decode::{decode, Packet, Transport};
use crate::flow::endpoints;
use crate::report::FlowRecord;
use crate::report::FlowTrace;
use crate::source::read_capture;

/// Packets kept per traced flow: a chart cannot show more.
const MAX_POINTS: usize = 100_000;

fn matches(f: &FlowRecord, p: &Packet) -> bool {
    let (a, b) = endpoints(p);
    p.tunnel == f.tunnel
        && ((a == f.client && b == f.server) || (a == f.server && b == f.client))
        && p.ts_ns >= f.first_ts_ns
        && p.ts_ns as f64 <= f.last_ts * 1e9 + 1e6
}

/// Traces `flows` (TCP) by reading `files` again.
pub fn trace(files: &[PathBuf], flows: &[&FlowRecord]) -> Vec<FlowTrace> {
    let stop = AtomicBool::new(false);
    let mut packets: Vec<Vec<(i64, usize, Packet)>> = vec![Vec::new(); flows.len()];
    for (fi, path) in files.iter().enumerate() {
        // Standard input cannot be read twice: its flows go untraced.
        if path.as_os_str() == crate::source::STDIN {
            continue;
        }
        let mut n = 0usize;
        let _ = read_capture(path, Arc::default(), &stop, &mut |rec| {
            n += 1;
            let Ok(p) = decode(
                rec.linktype,
                rec.data,
                rec.orig_len,
                rec.ts_ns,
                fi as u16,
                rec.interface,
            ) else {
                return;
            };
            if !matches!(p.transport, Transport::Tcp(_)) {
                return;
            }
            for (i, f) in flows.iter().enumerate() {
                if packets[i].len() < MAX_POINTS && matches(f, &p) {
                    packets[i].push((p.ts_ns, fi * (1 << 40) + n, p.clone()));
                    break;
                }
            }
        });
    }
    flows
        .iter()
        .zip(packets)
        .map(|(f, mut pkts)| {
            // Merge files by time, keeping each file's order for equal times.
            pkts.sort_by_key(|(ts, order, _)| (*ts, *order));
            trace_one(f, pkts.into_iter().map(|(_, _, p)| p))
        })
        .collect()
}

fn trace_one(f: &FlowRecord, pkts: impl Iterator<Item = Packet>) -> FlowTrace {
    let sender_is_client = f.payload_bytes.client >= f.payload_bytes.server;
    let mut t = FlowTrace {
        flow: f.id,
        sender: if sender_is_client { "client" } else { "server" },
        start_ts: f.first_ts,
        ..FlowTrace::default()
    };
    let sender = if sender_is_client { f.client } else { f.server };
    let mut analyzer = TcpAnalyzer::default();
    let mut seq = SeqSpace::default();
    let mut base: Option<u64> = None;
    let mut wscale = [None, None];
    for p in pkts {
        let Transport::Tcp(tcp) = &p.transport else {
            continue;
        };
        let from_client = p.src == f.client.ip && p.sport == f.client.port;
        let from_sender = p.src == sender.ip && p.sport == sender.port;
        let verdict = analyzer.packet(Seen {
            ts_ns: p.ts_ns,
            dir: usize::from(!from_client),
            tcp,
            payload_len: p.payload_len,
            ip_id: p.ip_id,
        });
        if tcp.flags.syn() {
            wscale[usize::from(!from_sender)] = Some(tcp.window_scale.unwrap_or(0));
        }
        if verdict.duplicate {
            continue;
        }
        let x = (p.ts_ns - f.first_ts_ns) as f64 / 1e9;
        if from_sender {
            let s = seq.advance(tcp.seq) + u64::from(tcp.flags.syn());
            let b = *base.get_or_insert(s);
            if p.payload_len > 0 {
                let start = s as f64 - b as f64;
                let seg = (x, start, f64::from(p.payload_len));
                if verdict.retransmission {
                    t.retransmitted.push(seg);
                } else {
                    t.data.push(seg);
                }
            }
        } else if tcp.flags.ack() && !tcp.flags.syn() && seq.is_set() {
            let b = base.unwrap_or(0) as f64;
            let ack = seq.unwrap(tcp.ack) as f64 - b;
            // Scaling applies once both SYNs offered it.
            let shift = match wscale {
                [Some(_), Some(r)] => u32::from(r.min(14)),
                _ => 0,
            };
            let win = f64::from(tcp.window) * f64::from(1u32 << shift);
            t.acks.push((x, ack));
            t.window.push((x, ack + win));
        }
    }
    // A window far above the data only says the sender was not window
    // limited: clip it so the data stays readable.
    let top = t
        .data
        .iter()
        .chain(&t.retransmitted)
        .map(|s| s.1 + s.2)
        .fold(0.0, f64::max);
    if top > 0.0 {
        for w in &mut t.window {
            w.1 = w.1.min(top * WINDOW_CLIP);
        }
    }
    t
}

/// The window line is drawn up to this multiple of the highest data byte.
const WINDOW_CLIP: f64 = 1.25;
