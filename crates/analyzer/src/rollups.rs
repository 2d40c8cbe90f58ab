//! The report's roll-ups (`rollups` in the JSON), computed with polars by
//! `retina-rollups` over the `flows` table built in memory by
//! `retina-tables` (the same rows as flows.parquet). Built only with the
//! `polars` feature; runs once per report, never per packet.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use retina_rollups::Cell;
use retina_tables::analyzer::FlowTableRow;

use crate::report::FlowRecord;

use crate::report::{Report, RollupTable, Rollups};

/// Rows kept in each ranking.
pub const TOP: usize = 10;

fn table(t: retina_rollups::Table) -> RollupTable {
    RollupTable {
        columns: t.columns,
        rows: t
            .rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|c| match c {
                        Cell::Null => serde_json::Value::Null,
                        Cell::Str(s) => s.into(),
                        Cell::U64(x) => x.into(),
                        Cell::I64(x) => x.into(),
                        // Microsecond precision, like the rest of the document.
                        Cell::F64(x) => serde_json::Number::from_f64((x * 1e3).round() / 1e3)
                            .map_or(serde_json::Value::Null, serde_json::Value::Number),
                        Cell::Bool(b) => b.into(),
                    })
                    .collect()
            })
            .collect(),
    }
}

/// Roll-ups of `report`'s flows; `None` without flows. Errors are messages
/// for the report's warnings.
pub fn compute(
    report: &Report,
    pool: Option<&rayon::ThreadPool>,
) -> Result<Option<Rollups>, String> {
    if report.flows.is_empty() {
        return Ok(None);
    }
    let batch = narrow_batch(&report.flows, pool)?;
    let r = retina_rollups::compute(&batch, TOP).map_err(|e| e.to_string())?;
    let named = report
        .flows
        .iter()
        .any(|f| f.client_k8s.is_some() || f.server_k8s.is_some());
    let by = |keys: [&str; 2]| -> Result<Option<RollupTable>, String> {
        if !named {
            return Ok(None);
        }
        retina_rollups::grouped(&batch, &keys, TOP)
            .map(|t| Some(table(t)))
            .map_err(|e| e.to_string())
    };
    let c = FlowTableRow::COLUMNS;
    Ok(Some(Rollups {
        by_client_workload: by([c.client_namespace, c.client_workload])?,
        by_server_workload: by([c.server_namespace, c.server_workload])?,
        top_endpoints: table(r.top_endpoints),
        top_pairs: table(r.top_pairs),
        subnets: table(r.subnets),
        by_proto: table(r.by_proto),
        by_server: table(r.by_server),
    }))
}

/// Flows per chunk built on one worker.
const CHUNK: usize = 32_768;

/// The `flows` table's columns the roll-ups read (the values of
/// flows.parquet, from the same row function), built in parallel chunks:
/// a fraction of the whole table's cost.
fn narrow_batch(
    flows: &[FlowRecord],
    pool: Option<&rayon::ThreadPool>,
) -> Result<RecordBatch, String> {
    let chunks = crate::par::map_chunks(pool, flows, CHUNK, chunk_batch)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = chunks.first() else {
        return Err("no flows".into());
    };
    arrow_select::concat::concat_batches(&first.schema(), &chunks).map_err(|e| e.to_string())
}

fn chunk_batch(flows: &[FlowRecord]) -> Result<RecordBatch, String> {
    let c = FlowTableRow::COLUMNS;
    let strs = || StringBuilder::with_capacity(flows.len(), flows.len() * 12);
    let (mut proto, mut client_ip, mut server_ip) = (strs(), strs(), strs());
    let (mut cns, mut cwl, mut sns, mut swl) = (strs(), strs(), strs(), strs());
    let u64s = || UInt64Builder::with_capacity(flows.len());
    let (mut total, mut ipc, mut ips, mut rc, mut rs) = (u64s(), u64s(), u64s(), u64s(), u64s());
    let f64s = || Float64Builder::with_capacity(flows.len());
    let (mut hs, mut rtt, mut resp) = (f64s(), f64s(), f64s());
    for f in flows {
        let r = crate::parquet_out::flow_row(f);
        proto.append_value(&r.proto);
        client_ip.append_value(&r.client_ip);
        server_ip.append_value(&r.server_ip);
        cns.append_option(r.client_namespace.as_deref());
        cwl.append_option(r.client_workload.as_deref());
        sns.append_option(r.server_namespace.as_deref());
        swl.append_option(r.server_workload.as_deref());
        total.append_value(r.bytes_total);
        ipc.append_value(r.ip_bytes_client);
        ips.append_value(r.ip_bytes_server);
        rc.append_option(r.retrans_segments_client);
        rs.append_option(r.retrans_segments_server);
        hs.append_option(r.handshake_rtt_ms);
        rtt.append_option(r.rtt_ms_p50);
        resp.append_option(r.response_time_ms_p50);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (c.proto, Arc::new(proto.finish())),
        (c.client_ip, Arc::new(client_ip.finish())),
        (c.server_ip, Arc::new(server_ip.finish())),
        (c.client_namespace, Arc::new(cns.finish())),
        (c.client_workload, Arc::new(cwl.finish())),
        (c.server_namespace, Arc::new(sns.finish())),
        (c.server_workload, Arc::new(swl.finish())),
        (c.bytes_total, Arc::new(total.finish())),
        (c.ip_bytes_client, Arc::new(ipc.finish())),
        (c.ip_bytes_server, Arc::new(ips.finish())),
        (c.retrans_segments_client, Arc::new(rc.finish())),
        (c.retrans_segments_server, Arc::new(rs.finish())),
        (c.handshake_rtt_ms, Arc::new(hs.finish())),
        (c.rtt_ms_p50, Arc::new(rtt.finish())),
        (c.response_time_ms_p50, Arc::new(resp.finish())),
    ];
    // One value per flow in every column: Arrow refuses only a bug here.
    RecordBatch::try_from_iter(columns)
        .map_err(|e| format!("building the flows batch for the roll-ups: {e}"))
}
