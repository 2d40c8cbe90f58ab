//! The capture agent's tables as the analysis reads them: kernel drops
//! (`drops.parquet`) and kernel TCP retransmissions (`retrans.parquet`),
//! from a bundle or given directly. Joining them to flows is
//! [`crate::analysis::drops`]'s work.

use std::net::IpAddr;
use std::path::Path;

use retina_tables::arrow_array::{
    Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt16Array, UInt32Array, UInt8Array,
};

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
