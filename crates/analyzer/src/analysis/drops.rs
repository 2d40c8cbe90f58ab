//! Kernel packet drops (the capture agent's `drops.parquet`), joined to the
//! flows of the capture by 5-tuple and time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use retina_tables::arrow_array::{
    Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt16Array, UInt32Array, UInt8Array,
};

use crate::report::{DropCounts, DropsSummary, FlowDrops, FlowRecord, RetransSummary};

/// One drop event.
#[derive(Debug, Clone, PartialEq)]
pub struct DropEvent {
    pub time_ns: Option<i64>,
    pub reason: String,
    pub protocol: u8,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Interface name, else `if<index>`, else null.
    pub interface: Option<String>,
    pub location: Option<String>,
}

/// Reads the drop events of one `drops.parquet`.
pub fn read(path: &Path) -> Result<Vec<DropEvent>, String> {
    let required = [
        "reason", "protocol", "src_ip", "dst_ip", "src_port", "dst_port",
    ];
    let (batches, _) = retina_tables::read_table(path, &retina_tables::agent::DROPS, &required)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in &batches {
        read_batch(b, &mut out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(out)
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Option<&'a T> {
    b.column_by_name(name)?.as_any().downcast_ref::<T>()
}

fn read_batch(b: &RecordBatch, out: &mut Vec<DropEvent>) -> Result<(), String> {
    let missing = |c: &str| format!("column {c} missing or of the wrong type");
    let reason = column::<StringArray>(b, "reason").ok_or_else(|| missing("reason"))?;
    let proto = column::<UInt8Array>(b, "protocol").ok_or_else(|| missing("protocol"))?;
    let src = column::<StringArray>(b, "src_ip").ok_or_else(|| missing("src_ip"))?;
    let dst = column::<StringArray>(b, "dst_ip").ok_or_else(|| missing("dst_ip"))?;
    let sport = column::<UInt16Array>(b, "src_port").ok_or_else(|| missing("src_port"))?;
    let dport = column::<UInt16Array>(b, "dst_port").ok_or_else(|| missing("dst_port"))?;
    let time = column::<TimestampNanosecondArray>(b, "time");
    let ifname = column::<StringArray>(b, "ifname");
    let ifindex = column::<UInt32Array>(b, "ifindex");
    let location = column::<StringArray>(b, "location");
    let s = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    for i in 0..b.num_rows() {
        let interface = ifname.and_then(|a| s(a, i)).or_else(|| {
            ifindex
                .filter(|a| !a.is_null(i) && a.value(i) != 0)
                .map(|a| format!("if{}", a.value(i)))
        });
        out.push(DropEvent {
            time_ns: time.filter(|a| !a.is_null(i)).map(|a| a.value(i)),
            reason: if reason.is_null(i) {
                "UNKNOWN".into()
            } else {
                reason.value(i).to_string()
            },
            protocol: if proto.is_null(i) { 0 } else { proto.value(i) },
            src_ip: s(src, i).and_then(|x| x.parse().ok()),
            dst_ip: s(dst, i).and_then(|x| x.parse().ok()),
            src_port: (!sport.is_null(i)).then(|| sport.value(i)),
            dst_port: (!dport.is_null(i)).then(|| dport.value(i)),
            interface,
            location: location.and_then(|a| s(a, i)),
        });
    }
    Ok(())
}

/// Canonical (order-free) key of a 5-tuple; ports are ignored for portless protocols.
type Key = (u8, (IpAddr, u16), (IpAddr, u16));

fn key(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    let has_ports = matches!(proto, 6 | 17 | 132);
    let (a, b) = if has_ports {
        (a, b)
    } else {
        ((a.0, 0), (b.0, 0))
    };
    if a <= b {
        (proto, a, b)
    } else {
        (proto, b, a)
    }
}

/// Slack around a flow's lifetime within which a drop still belongs to it:
/// a drop can precede the first captured packet (the SYN that never got
/// through) or follow the last.
const SLACK_NS: i64 = 10_000_000_000;

/// Flows with drops listed in the summary.
const TOP_FLOWS: usize = 20;

/// Counts `events` per flow (setting `flows[].drops`) and for the run.
pub fn attribute(
    flows: &mut [FlowRecord],
    events: &[DropEvent],
    files: Vec<PathBuf>,
) -> DropsSummary {
    let index = FlowIndex::new(flows);
    let mut sum = DropsSummary {
        files,
        ..DropsSummary::default()
    };
    let mut per_flow: HashMap<usize, DropCounts> = HashMap::new();
    for e in events {
        sum.count += 1;
        *sum.by_reason.entry(e.reason.clone()).or_default() += 1;
        *sum.by_interface
            .entry(e.interface.clone().unwrap_or_else(|| "?".into()))
            .or_default() += 1;
        if let Some(l) = &e.location {
            *sum.by_location.entry(l.clone()).or_default() += 1;
        }
        let flow = index.find(
            flows,
            e.protocol,
            (e.src_ip, e.src_port),
            (e.dst_ip, e.dst_port),
            e.time_ns,
        );
        match flow {
            Some(i) => per_flow.entry(i).or_default().add(&e.reason),
            None => sum.unattributed += 1,
        }
    }
    let mut top: Vec<FlowDrops> = per_flow
        .iter()
        .map(|(i, d)| FlowDrops {
            flow: flows[*i].id,
            count: d.count,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.flow.cmp(&b.flow)));
    top.truncate(TOP_FLOWS);
    sum.top_flows = top;
    for (i, d) in per_flow {
        flows[i].drops = Some(d);
    }
    sum
}

/// Flows by canonical 5-tuple, to join kernel events to them.
pub struct FlowIndex {
    by_key: HashMap<Key, Vec<usize>>,
}

impl FlowIndex {
    pub fn new(flows: &[FlowRecord]) -> FlowIndex {
        let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, f) in flows.iter().enumerate() {
            let proto = match f.proto.as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                "icmpv6" => 58,
                "sctp" => 132,
                _ => continue,
            };
            by_key
                .entry(key(
                    proto,
                    (f.client.ip, f.client.port),
                    (f.server.ip, f.server.port),
                ))
                .or_default()
                .push(i);
        }
        FlowIndex { by_key }
    }

    /// Index (in `flows`) of the flow an event with this 5-tuple and time belongs to.
    pub fn find(
        &self,
        flows: &[FlowRecord],
        proto: u8,
        src: (Option<IpAddr>, Option<u16>),
        dst: (Option<IpAddr>, Option<u16>),
        t: Option<i64>,
    ) -> Option<usize> {
        let (Some(s), Some(d)) = (src.0, dst.0) else {
            return None;
        };
        let k = key(proto, (s, src.1.unwrap_or(0)), (d, dst.1.unwrap_or(0)));
        self.by_key.get(&k).and_then(|c| pick(flows, c, t))
    }
}

/// A TCP retransmission the kernel reported (`retrans.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetransEvent {
    pub time_ns: Option<i64>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub state: String,
}

/// Reads the retransmission events of one `retrans.parquet`.
pub fn read_retrans(path: &Path) -> Result<Vec<RetransEvent>, String> {
    let required = ["src_ip", "dst_ip", "src_port", "dst_port"];
    let (batches, _) = retina_tables::read_table(path, &retina_tables::agent::RETRANS, &required)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let missing = |c: &str| {
        format!(
            "{}: column {c} missing or of the wrong type",
            path.display()
        )
    };
    for b in &batches {
        let src = column::<StringArray>(b, "src_ip").ok_or_else(|| missing("src_ip"))?;
        let dst = column::<StringArray>(b, "dst_ip").ok_or_else(|| missing("dst_ip"))?;
        let sport = column::<UInt16Array>(b, "src_port").ok_or_else(|| missing("src_port"))?;
        let dport = column::<UInt16Array>(b, "dst_port").ok_or_else(|| missing("dst_port"))?;
        let time = column::<TimestampNanosecondArray>(b, "time");
        let state = column::<StringArray>(b, "state");
        for i in 0..b.num_rows() {
            let ip = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).parse().ok()).flatten();
            out.push(RetransEvent {
                time_ns: time.filter(|a| !a.is_null(i)).map(|a| a.value(i)),
                src_ip: ip(src),
                dst_ip: ip(dst),
                src_port: (!sport.is_null(i)).then(|| sport.value(i)),
                dst_port: (!dport.is_null(i)).then(|| dport.value(i)),
                state: state
                    .filter(|a| !a.is_null(i))
                    .map_or_else(|| "UNKNOWN".to_string(), |a| a.value(i).to_string()),
            });
        }
    }
    Ok(out)
}

/// Counts kernel retransmissions per flow (`flows[].kernel_retransmissions`) and for the run.
pub fn attribute_retrans(
    flows: &mut [FlowRecord],
    events: &[RetransEvent],
    files: Vec<PathBuf>,
) -> RetransSummary {
    let index = FlowIndex::new(flows);
    let mut sum = RetransSummary {
        files,
        ..RetransSummary::default()
    };
    let mut per_flow: HashMap<usize, u64> = HashMap::new();
    for e in events {
        sum.count += 1;
        *sum.by_state.entry(e.state.clone()).or_default() += 1;
        match index.find(
            flows,
            6,
            (e.src_ip, e.src_port),
            (e.dst_ip, e.dst_port),
            e.time_ns,
        ) {
            Some(i) => *per_flow.entry(i).or_default() += 1,
            None => sum.unattributed += 1,
        }
    }
    for (i, n) in per_flow {
        flows[i].kernel_retransmissions = Some(n);
    }
    sum
}

/// The flow among those with the drop's 5-tuple whose lifetime holds the
/// drop's time (with slack); else the nearest in time.
fn pick(flows: &[FlowRecord], cands: &[usize], t: Option<i64>) -> Option<usize> {
    let Some(t) = t else {
        return cands.first().copied();
    };
    let distance = |i: &usize| {
        let f = &flows[*i];
        let first = f.first_ts_ns;
        let last = f.last_ts_ns;
        if t < first {
            first - t
        } else if t > last {
            t - last
        } else {
            0
        }
    };
    let best = cands.iter().min_by_key(|i| distance(i))?;
    (distance(best) <= SLACK_NS).then_some(*best)
}
