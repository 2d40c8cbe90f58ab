//! The report's roll-ups (`rollups` in the JSON), computed with polars by
//! `retina-rollups` over the `flows` table built in memory by
//! `retina-tables` (the same rows as flows.parquet). Built only with the
//! `polars` feature; runs once per report, never per packet.

use retina_rollups::Cell;
use retina_tables::analyzer::FlowTableRow;
use retina_tables::BatchBuilder;

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
pub fn compute(report: &Report) -> Result<Option<Rollups>, String> {
    if report.flows.is_empty() {
        return Ok(None);
    }
    let mut b = BatchBuilder::<FlowTableRow>::new();
    for f in &report.flows {
        b.push(&crate::parquet_out::flow_row(f));
    }
    let batch = b.finish();
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
