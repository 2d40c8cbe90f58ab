//! Roll-ups of Hubble flow logs: the report model. The numbers are computed
//! with polars over the `hubble.parquet` table (see `retina_rollups::hubble`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Records, packets and bytes of one group, with verdict and drop-reason counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupRow {
    /// The group: a verdict, a reason, `namespace`, `namespace/workload`, a pod or a node.
    pub key: String,
    pub records: u64,
    /// Packets (Retina's aggregated records count all they stand for).
    pub packets: u64,
    pub bytes: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub retransmissions: u64,
    /// Packets dropped, by reason.
    pub drop_reasons: BTreeMap<String, u64>,
}

/// Traffic between two named endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TalkerRow {
    pub source: String,
    pub destination: String,
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Drops between two named endpoints for one reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DroppedRow {
    pub source: String,
    pub destination: String,
    pub protocol: Option<String>,
    /// The destination service and port (see `hubble.parquet`'s `service`).
    pub service: Option<String>,
    pub reason: String,
    pub records: u64,
    pub packets: u64,
}

/// TCP connection attempts and resets at one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceTcpRow {
    pub service: String,
    /// Distinct client sockets that sent a SYN.
    pub connection_attempts: u64,
    /// Distinct client sockets the service answered with SYN+ACK.
    pub answered: u64,
    /// `connection_attempts - answered`: attempts without a reply in the log.
    pub unanswered: u64,
    /// Records with RST set.
    pub resets: u64,
}

/// DNS responses for one name and response code, or the queries for one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DnsRow {
    pub query: String,
    /// Response code; null for the row counting the name's queries.
    pub rcode: Option<String>,
    pub records: u64,
}

/// Rows kept per roll-up list (largest first).
pub const TOP: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HubbleSummary {
    pub verdicts: Vec<GroupRow>,
    pub drop_reasons: Vec<GroupRow>,
    /// By the source's namespace.
    pub by_namespace: Vec<GroupRow>,
    /// By the source's `namespace/workload` (or pod, or address).
    pub by_workload: Vec<GroupRow>,
    pub by_pod: Vec<GroupRow>,
    /// By observing node.
    pub by_node: Vec<GroupRow>,
    /// Source → destination pairs by bytes, then packets.
    pub top_talkers: Vec<TalkerRow>,
    /// Dropped traffic by source, destination, port and reason.
    pub dropped: Vec<DroppedRow>,
    pub tcp_by_service: Vec<ServiceTcpRow>,
    pub dns: Vec<DnsRow>,
}

/// Computes the summary of the records in `table` with polars.
#[cfg(feature = "polars")]
pub fn summarize(table: &retina_tables::arrow_array::RecordBatch) -> Result<HubbleSummary, String> {
    use retina_rollups::{hubble, Cell, Table};
    let t = hubble::compute(table, TOP).map_err(|e| e.to_string())?;
    fn idx(t: &Table, name: &str) -> Option<usize> {
        t.columns.iter().position(|c| c == name)
    }
    fn text(t: &Table, row: &[Cell], name: &str) -> Option<String> {
        match idx(t, name).map(|i| &row[i]) {
            Some(Cell::Str(s)) => Some(s.clone()),
            Some(Cell::Null) | None => None,
            Some(other) => Some(format!("{other:?}")),
        }
    }
    fn num(t: &Table, row: &[Cell], name: &str) -> u64 {
        match idx(t, name).map(|i| &row[i]) {
            Some(Cell::U64(x)) => *x,
            Some(Cell::I64(x)) => (*x).max(0) as u64,
            Some(Cell::F64(x)) => x.max(0.0) as u64,
            _ => 0,
        }
    }
    let key = |t: &Table, r: &[Cell]| text(t, r, "key").unwrap_or_else(|| "(none)".into());
    let mut s = HubbleSummary::default();
    for ((name, g), (_, reasons)) in t.groups.iter().zip(&t.drop_reasons_by) {
        let mut rows: Vec<GroupRow> = g
            .rows
            .iter()
            .map(|r| GroupRow {
                key: key(g, r),
                records: num(g, r, "records"),
                packets: num(g, r, "packets"),
                bytes: num(g, r, "bytes"),
                forwarded: num(g, r, "forwarded"),
                dropped: num(g, r, "dropped"),
                retransmissions: num(g, r, "retransmissions"),
                drop_reasons: BTreeMap::new(),
            })
            .collect();
        for r in &reasons.rows {
            let k = key(reasons, r);
            if let Some(row) = rows.iter_mut().find(|x| x.key == k) {
                let reason = text(reasons, r, "drop_reason").unwrap_or_else(|| "(none)".into());
                *row.drop_reasons.entry(reason).or_default() += num(reasons, r, "packets");
            }
        }
        let slot = match *name {
            "verdicts" => &mut s.verdicts,
            "drop_reasons" => &mut s.drop_reasons,
            "by_namespace" => &mut s.by_namespace,
            "by_workload" => &mut s.by_workload,
            "by_pod" => &mut s.by_pod,
            _ => &mut s.by_node,
        };
        *slot = rows;
    }
    let tt = &t.top_talkers;
    s.top_talkers = tt
        .rows
        .iter()
        .map(|r| TalkerRow {
            source: text(tt, r, "src_label").unwrap_or_default(),
            destination: text(tt, r, "dst_label").unwrap_or_default(),
            records: num(tt, r, "records"),
            packets: num(tt, r, "packets"),
            bytes: num(tt, r, "bytes"),
        })
        .collect();
    let d = &t.dropped;
    s.dropped = d
        .rows
        .iter()
        .map(|r| DroppedRow {
            source: text(d, r, "src_label").unwrap_or_default(),
            destination: text(d, r, "dst_label").unwrap_or_default(),
            protocol: text(d, r, "protocol"),
            service: text(d, r, "service"),
            reason: text(d, r, "drop_reason").unwrap_or_else(|| "(unknown)".into()),
            records: num(d, r, "records"),
            packets: num(d, r, "packets"),
        })
        .collect();
    let sv = &t.tcp_by_service;
    s.tcp_by_service = sv
        .rows
        .iter()
        .map(|r| {
            let (a, ok) = (num(sv, r, "connection_attempts"), num(sv, r, "answered"));
            ServiceTcpRow {
                service: text(sv, r, "service").unwrap_or_default(),
                connection_attempts: a,
                answered: ok,
                unanswered: a.saturating_sub(ok),
                resets: num(sv, r, "resets"),
            }
        })
        .collect();
    let (q, rs) = (&t.dns_queries, &t.dns_responses);
    s.dns = q
        .rows
        .iter()
        .map(|r| DnsRow {
            query: text(q, r, "dns_query").unwrap_or_default(),
            rcode: None,
            records: num(q, r, "records"),
        })
        .chain(rs.rows.iter().map(|r| DnsRow {
            query: text(rs, r, "dns_query").unwrap_or_default(),
            rcode: text(rs, r, "dns_rcode"),
            records: num(rs, r, "records"),
        }))
        .collect();
    Ok(s)
}
