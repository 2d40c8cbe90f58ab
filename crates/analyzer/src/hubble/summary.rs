//! Roll-ups of Hubble flow logs: the report model. The numbers are computed
//! with polars over the `hubble.parquet` table (see `retina_rollups::hubble`).

pub use crate::report::hubble::{
    DnsRow, DroppedRow, GroupRow, HubbleSummary, ServiceTcpRow, TalkerRow, TOP,
};

/// Computes the summary of the records in `table` with polars.
#[cfg(feature = "polars")]
pub fn summarize(table: &retina_tables::arrow_array::RecordBatch) -> Result<HubbleSummary, String> {
    use retina_rollups::{hubble, Cell, Table};
    // Group keys and summed values keep the hubble table's column names.
    let h = retina_tables::hubble::HubbleTableRow::COLUMNS;
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
                packets: num(g, r, h.packets),
                bytes: num(g, r, h.bytes),
                forwarded: num(g, r, "forwarded"),
                dropped: num(g, r, "dropped"),
                retransmissions: num(g, r, "retransmissions"),
                drop_reasons: std::collections::BTreeMap::new(),
            })
            .collect();
        for r in &reasons.rows {
            let k = key(reasons, r);
            if let Some(row) = rows.iter_mut().find(|x| x.key == k) {
                let reason = text(reasons, r, h.drop_reason).unwrap_or_else(|| "(none)".into());
                *row.drop_reasons.entry(reason).or_default() += num(reasons, r, h.packets);
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
            source: text(tt, r, h.src_label).unwrap_or_default(),
            destination: text(tt, r, h.dst_label).unwrap_or_default(),
            records: num(tt, r, "records"),
            packets: num(tt, r, h.packets),
            bytes: num(tt, r, h.bytes),
        })
        .collect();
    let d = &t.dropped;
    s.dropped = d
        .rows
        .iter()
        .map(|r| DroppedRow {
            source: text(d, r, h.src_label).unwrap_or_default(),
            destination: text(d, r, h.dst_label).unwrap_or_default(),
            protocol: text(d, r, h.protocol),
            service: text(d, r, h.service),
            reason: text(d, r, h.drop_reason).unwrap_or_else(|| "(unknown)".into()),
            records: num(d, r, "records"),
            packets: num(d, r, h.packets),
        })
        .collect();
    let sv = &t.tcp_by_service;
    s.tcp_by_service = sv
        .rows
        .iter()
        .map(|r| {
            let (a, ok) = (num(sv, r, "connection_attempts"), num(sv, r, "answered"));
            ServiceTcpRow {
                service: text(sv, r, h.service).unwrap_or_default(),
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
            query: text(q, r, h.dns_query).unwrap_or_default(),
            rcode: None,
            records: num(q, r, "records"),
        })
        .chain(rs.rows.iter().map(|r| DnsRow {
            query: text(rs, r, h.dns_query).unwrap_or_default(),
            rcode: text(rs, r, h.dns_rcode),
            records: num(rs, r, "records"),
        }))
        .collect();
    Ok(s)
}
