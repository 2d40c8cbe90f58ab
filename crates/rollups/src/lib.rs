//! Roll-ups of the analyzer's tables, computed with polars: top talkers,
//! per-subnet aggregates, and quantiles over many flows grouped by any key
//! columns (protocol and server today; pod or namespace columns tomorrow).
//!
//! Input is an Arrow [`RecordBatch`] built by `retina-tables` (the `flows`
//! table's layout). Columns move into polars through the Arrow C Data
//! Interface: arrow-rs exports each array (`arrow_array::ffi::to_ffi`) and
//! polars-arrow imports it (`import_array_from_c`); numeric buffers are
//! shared, not copied (tested), strings are converted to polars' string
//! view layout.
//!
//! Only polars' eager API is used (no lazy engine, no IO, no extra dtypes):
//! it keeps polars' build small. Eager group-by aggregations are marked
//! deprecated upstream in favour of the lazy API but are maintained; the
//! `#[allow(deprecated)]` below is that trade-off, measured in the README.

#![deny(clippy::undocumented_unsafe_blocks)]

use arrow_array::{Array, RecordBatch};
use polars::prelude::*;
use retina_tables::analyzer::{FlowTableColumns, FlowTableRow};

pub use polars::prelude::DataFrame;

pub mod hubble;

#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error("roll-ups: column {0} is missing from the input batch")]
    Missing(String),
    #[error("roll-ups: column {name} has type {ty}, which retina-rollups does not load (enable the polars dtype and add it to LOADABLE)")]
    Unsupported { name: String, ty: String },
    #[error("roll-ups: arrow export of column {name}: {message}")]
    Export { name: String, message: String },
    #[error("roll-ups: polars import of column {name}: {message}")]
    Import { name: String, message: String },
    #[error("roll-ups: column {name} has type {ty}, expected {expected}")]
    WrongType {
        name: String,
        ty: String,
        expected: &'static str,
    },
    #[error("roll-ups: {0}")]
    Shape(String),
    #[error("roll-ups: polars: {0}")]
    Polars(#[from] PolarsError),
}

pub type Result<T> = std::result::Result<T, RollupError>;

/// Arrow types this crate loads into polars (others need polars dtype features).
fn loadable(ty: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType::*;
    matches!(
        ty,
        Utf8 | UInt64 | Int64 | Float64 | Boolean | UInt32 | Int32
    )
}

/// Moves one arrow-rs array into a polars [`Series`] through the Arrow C
/// Data Interface.
///
/// polars and polars-arrow 0.55 offer no conversion from arrow-rs arrays
/// (no `arrow_rs` feature), and the two crates' C Data Interface structs
/// are distinct Rust types, so the export of one is handed to the import of
/// the other by [`c_array_for_polars`] and [`c_schema_for_polars`]. Any
/// failure on the way is an error naming the column.
pub fn series_from_arrow(name: &str, array: &dyn Array) -> Result<Series> {
    if !loadable(array.data_type()) {
        return Err(RollupError::Unsupported {
            name: name.to_string(),
            ty: array.data_type().to_string(),
        });
    }
    let (ffi_array, ffi_schema) =
        arrow_array::ffi::to_ffi(&array.to_data()).map_err(|e| RollupError::Export {
            name: name.to_string(),
            message: e.to_string(),
        })?;
    let c_array = c_array_for_polars(ffi_array);
    let c_schema = c_schema_for_polars(ffi_schema);
    let import = |e: PolarsError| RollupError::Import {
        name: name.to_string(),
        message: e.to_string(),
    };
    // SAFETY: `c_schema` was just exported by arrow-rs (`to_ffi`), so it is
    // a valid, unreleased `ArrowSchema` as the C Data Interface specifies:
    // its format, name and children strings and pointers live in its
    // private data until its release callback runs, which happens only when
    // `c_schema` drops, after this borrow. `import_field_from_c` reads it
    // and copies what it needs into the returned `Field`.
    let field = unsafe { polars_arrow::ffi::import_field_from_c(&c_schema) }.map_err(import)?;
    // SAFETY: `c_array` was exported by arrow-rs together with `c_schema`
    // and describes the data type `field` was read from: a valid,
    // unreleased `ArrowArray` whose buffers and children stay alive (they
    // are reference counts on `array`'s buffers, held by its private data)
    // until its release callback runs. The import takes ownership of it and
    // calls that callback when the imported polars array is dropped, or
    // when the import fails and drops it.
    let imported =
        unsafe { polars_arrow::ffi::import_array_from_c(c_array, field.dtype().clone()) }
            .map_err(import)?;
    drop(c_schema);
    Ok(Series::from_arrow(name.into(), imported)?)
}

// The two crates' structs for the same C structs: their sizes and
// alignments must agree (checked when compiling), and their fields are the
// same C fields in the same order (`#[repr(C)]` definitions copied from
// the Arrow C Data Interface specification's `struct ArrowArray` and
// `struct ArrowSchema` in both crates).
const _: () = {
    use std::mem::{align_of, size_of};
    assert!(
        size_of::<arrow_data::ffi::FFI_ArrowArray>() == size_of::<polars_arrow::ffi::ArrowArray>()
    );
    assert!(
        align_of::<arrow_data::ffi::FFI_ArrowArray>()
            == align_of::<polars_arrow::ffi::ArrowArray>()
    );
    assert!(
        size_of::<arrow_schema::ffi::FFI_ArrowSchema>()
            == size_of::<polars_arrow::ffi::ArrowSchema>()
    );
    assert!(
        align_of::<arrow_schema::ffi::FFI_ArrowSchema>()
            == align_of::<polars_arrow::ffi::ArrowSchema>()
    );
};

/// The C `ArrowArray` exported by arrow-rs, as polars-arrow's type for it.
/// Ownership moves with the value: whoever drops the result calls the
/// release callback arrow-rs set, exactly once (the C Data Interface's
/// "move" of a struct).
fn c_array_for_polars(a: arrow_data::ffi::FFI_ArrowArray) -> polars_arrow::ffi::ArrowArray {
    // SAFETY: both types are `#[repr(C)]` definitions of the Arrow C Data
    // Interface's `struct ArrowArray` (length, null_count, offset,
    // n_buffers, n_children: i64; buffers, children, dictionary: pointers;
    // release: `Option<unsafe extern "C" fn(*mut Self)>`; private_data:
    // pointer), so they have the same layout (`transmute` checks the sizes;
    // the alignments are asserted above) and every value of one is a valid
    // value of the other. The release callback keeps its meaning: it is
    // called with a pointer to the struct, and a function taking
    // `*mut FFI_ArrowArray` called through a pointer type taking
    // `*mut ArrowArray` is ABI-compatible (thin raw pointers). `transmute`
    // moves the value, so arrow-rs's `Drop` does not also release it.
    unsafe {
        std::mem::transmute::<arrow_data::ffi::FFI_ArrowArray, polars_arrow::ffi::ArrowArray>(a)
    }
}

/// The C `ArrowSchema` exported by arrow-rs, as polars-arrow's type for it
/// (ownership moves as in [`c_array_for_polars`]).
fn c_schema_for_polars(s: arrow_schema::ffi::FFI_ArrowSchema) -> polars_arrow::ffi::ArrowSchema {
    // SAFETY: as in `c_array_for_polars`, for the C Data Interface's
    // `struct ArrowSchema` (format, name, metadata: C string pointers;
    // flags, n_children: i64; children, dictionary: pointers; release;
    // private_data), `#[repr(C)]` in both crates: same layout, every value
    // valid in both, the release callback ABI-compatible, moved not copied.
    unsafe {
        std::mem::transmute::<arrow_schema::ffi::FFI_ArrowSchema, polars_arrow::ffi::ArrowSchema>(s)
    }
}

/// A polars DataFrame of the named columns of `batch`.
pub fn dataframe(batch: &RecordBatch, columns: &[&str]) -> Result<DataFrame> {
    let mut cols = Vec::with_capacity(columns.len());
    for name in columns {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| RollupError::Missing(name.to_string()))?;
        cols.push(Column::from(series_from_arrow(name, a.as_ref())?));
    }
    Ok(DataFrame::new(batch.num_rows(), cols)?)
}

/// Names of the `flows` table's columns (from its declaration).
const F: FlowTableColumns = FlowTableRow::COLUMNS;

/// Flow columns the standard roll-ups read.
pub const FLOW_COLUMNS: [&str; 11] = [
    F.proto,
    F.client_ip,
    F.server_ip,
    F.bytes_total,
    F.ip_bytes_client,
    F.ip_bytes_server,
    F.retrans_segments_client,
    F.retrans_segments_server,
    F.handshake_rtt_ms,
    F.rtt_ms_p50,
    F.response_time_ms_p50,
];

fn ones(n: usize) -> Column {
    Column::new("flows".into(), vec![1u64; n])
}

/// One row per endpoint side of every flow: `ip`, `flows` (1),
/// `bytes_sent`, `bytes_received`, `bytes`, `retrans_sent`.
fn endpoints(flows: &DataFrame) -> Result<DataFrame> {
    let side = |ip: &str, sent: &str, recv: &str, retrans: &str| -> Result<DataFrame> {
        let mut d = flows.select([ip, sent, recv, retrans])?;
        d.rename(ip, "ip".into())?;
        d.rename(sent, "bytes_sent".into())?;
        d.rename(recv, "bytes_received".into())?;
        d.rename(retrans, "retrans_sent".into())?;
        let total = (d.column("bytes_sent")?.as_materialized_series()
            + d.column("bytes_received")?.as_materialized_series())?
        .with_name("bytes".into());
        d.with_column(total.into())?;
        d.with_column(ones(d.height()))?;
        Ok(d)
    };
    let c = side(
        F.client_ip,
        F.ip_bytes_client,
        F.ip_bytes_server,
        F.retrans_segments_client,
    )?;
    let s = side(
        F.server_ip,
        F.ip_bytes_server,
        F.ip_bytes_client,
        F.retrans_segments_server,
    )?;
    Ok(c.vstack(&s)?)
}

/// Sums `values` per group of `keys`, keeping the value names.
#[allow(deprecated)]
fn sums(df: &DataFrame, keys: &[&str], values: &[&str]) -> Result<DataFrame> {
    let mut out = df
        .group_by(keys.iter().copied())?
        .select(values.iter().copied())
        .sum()?;
    for v in values {
        out.rename(&format!("{v}_sum"), (*v).into())?;
    }
    Ok(out)
}

/// Largest `by` first (ties by `tie` ascending), at most `n` rows.
fn top(df: &DataFrame, by: &str, tie: &[&str], n: usize) -> Result<DataFrame> {
    let mut cols = vec![by];
    cols.extend_from_slice(tie);
    let desc: Vec<bool> = cols.iter().map(|c| *c == by).collect();
    let sorted = df.sort(
        cols,
        SortMultipleOptions::default().with_order_descending_multi(desc),
    )?;
    Ok(sorted.head(Some(n)))
}

/// Endpoints (IP addresses) by bytes sent plus received, largest first:
/// `ip, flows, bytes_sent, bytes_received, bytes, retrans_sent`.
pub fn top_endpoints(flows: &DataFrame, n: usize) -> Result<DataFrame> {
    let e = endpoints(flows)?;
    let s = sums(
        &e,
        &["ip"],
        &[
            "flows",
            "bytes_sent",
            "bytes_received",
            "bytes",
            "retrans_sent",
        ],
    )?;
    top(&s, "bytes", &["ip"], n)
}

/// Client/server address pairs by bytes, largest first:
/// `client_ip, server_ip, flows, bytes, retrans_segments`.
pub fn top_pairs(flows: &DataFrame, n: usize) -> Result<DataFrame> {
    let mut d = flows.select([
        F.client_ip,
        F.server_ip,
        F.bytes_total,
        F.retrans_segments_client,
        F.retrans_segments_server,
    ])?;
    let retrans = (d
        .column(F.retrans_segments_client)?
        .as_materialized_series()
        .fill_null(FillNullStrategy::Zero)?
        + d.column(F.retrans_segments_server)?
            .as_materialized_series()
            .fill_null(FillNullStrategy::Zero)?)?
    .with_name("retrans_segments".into());
    d.with_column(retrans.into())?;
    d.rename(F.bytes_total, "bytes".into())?;
    d.with_column(ones(d.height()))?;
    let s = sums(
        &d,
        &[F.client_ip, F.server_ip],
        &["flows", "bytes", "retrans_segments"],
    )?;
    top(&s, "bytes", &[F.client_ip, F.server_ip], n)
}

/// The subnet of an address: /24 for IPv4, /64 for IPv6 (as CIDR text).
pub fn subnet_of(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => {
            let o = a.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(a) => {
            let s = a.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            Some(format!("{net}/64"))
        }
    }
}

/// Per-subnet aggregates over endpoints, largest first:
/// `subnet, endpoints, flows, bytes_sent, bytes_received, bytes, retrans_sent`
/// (`flows` counts flow ends in the subnet: a flow inside one subnet counts twice).
#[allow(deprecated)]
pub fn subnets(flows: &DataFrame, n: usize) -> Result<DataFrame> {
    let mut e = endpoints(flows)?;
    let nets: Vec<Option<String>> = e
        .column("ip")?
        .str()?
        .iter()
        .map(|ip| ip.and_then(subnet_of))
        .collect();
    e.with_column(Column::new("subnet".into(), nets))?;
    let values = [
        "flows",
        "bytes_sent",
        "bytes_received",
        "bytes",
        "retrans_sent",
    ];
    let s = sums(&e, &["subnet"], &values)?;
    let mut u = e.group_by(["subnet"])?.select(["ip"]).n_unique()?;
    u.rename("ip_n_unique", "endpoints".into())?;
    let mut joined = s.clone();
    // Both results come from one grouping order only by chance: align by key.
    let by_key: std::collections::HashMap<String, u64> = {
        let keys = u.column("subnet")?.str()?;
        let counts = u.column("endpoints")?.cast(&DataType::UInt64)?;
        let counts = counts.u64()?;
        keys.iter()
            .zip(counts.iter())
            .filter_map(|(k, c)| Some((k?.to_string(), c?)))
            .collect()
    };
    let endpoints: Vec<Option<u64>> = s
        .column("subnet")?
        .str()?
        .iter()
        .map(|k| k.and_then(|k| by_key.get(k).copied()))
        .collect();
    joined.with_column(Column::new("endpoints".into(), endpoints))?;
    let order: Vec<&str> = ["subnet", "endpoints"].into_iter().chain(values).collect();
    top(&joined.select(order)?, "bytes", &["subnet"], n)
}

/// Quantiles reported by [`group_stats`].
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")];

/// Per-flow measures [`group_stats`] summarizes, and their output names.
pub const MEASURES: [(&str, &str); 3] = [
    (F.handshake_rtt_ms, "handshake_rtt_ms"),
    (F.rtt_ms_p50, "data_rtt_ms"),
    (F.response_time_ms_p50, "response_time_ms"),
];

/// Statistics over the flows of each group of `keys` (any columns of
/// `flows`: `proto`, `server_ip`, and later `src_pod`, `namespace`, …):
/// `keys…, flows, bytes`, then for each measure in [`MEASURES`] (handshake
/// RTT, each flow's median data RTT, each flow's median response time) the
/// number of flows that have it and its p50/p90/p99 across those flows
/// (linear interpolation), e.g. `data_rtt_ms_flows`, `data_rtt_ms_p90`.
/// Sorted by `flows`, largest first.
#[allow(deprecated)]
pub fn group_stats(flows: &DataFrame, keys: &[&str]) -> Result<DataFrame> {
    let mut d = flows.clone();
    d.with_column(ones(d.height()))?;
    // Flows that have each measure: the sum of a 0/1 "not null" column.
    let mut sum_cols = vec!["flows".to_string(), F.bytes_total.to_string()];
    for (col, name) in MEASURES {
        let present = d
            .column(col)?
            .as_materialized_series()
            .is_not_null()
            .into_series()
            .cast(&DataType::UInt64)?
            .with_name(format!("{name}_flows").into());
        d.with_column(present.into())?;
        sum_cols.push(format!("{name}_flows"));
    }
    let gb = d.group_by(keys.iter().copied())?;
    let mut out = gb
        .clone()
        .select(sum_cols.iter().map(String::as_str))
        .sum()?;
    for c in &sum_cols {
        out.rename(&format!("{c}_sum"), c.as_str().into())?;
    }
    out.rename(F.bytes_total, "bytes".into())?;
    let k = keys.len();
    for (col, name) in MEASURES {
        for (q, label) in QUANTILES {
            let qd = gb
                .clone()
                .select([col])
                .quantile(q, QuantileMethod::Linear)?;
            // The group keys, then the quantile.
            let c = qd
                .columns()
                .get(k)
                .ok_or_else(|| {
                    RollupError::Shape(format!(
                        "the quantile of {col} by {keys:?} has {} columns, expected {}",
                        qd.width(),
                        k + 1
                    ))
                })?
                .clone()
                .cast(&DataType::Float64)?
                .with_name(format!("{name}_{label}").into());
            out.with_column(c)?;
        }
    }
    let mut tie: Vec<&str> = keys.to_vec();
    tie.retain(|c| *c != "flows");
    top(&out, "flows", &tie, usize::MAX)
}

/// A small result table, ready to serialize: column names and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// Converts a (small) DataFrame into a [`Table`].
pub fn table(df: &DataFrame) -> Result<Table> {
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = vec![Vec::with_capacity(columns.len()); df.height()];
    for c in df.columns() {
        let s = c.as_materialized_series();
        for (i, row) in rows.iter_mut().enumerate() {
            let v = s.get(i)?;
            row.push(match v {
                AnyValue::Null => Cell::Null,
                AnyValue::String(x) => Cell::Str(x.to_string()),
                AnyValue::StringOwned(x) => Cell::Str(x.to_string()),
                AnyValue::UInt64(x) => Cell::U64(x),
                AnyValue::UInt32(x) => Cell::U64(x.into()),
                AnyValue::Int64(x) => Cell::I64(x),
                AnyValue::Int32(x) => Cell::I64(x.into()),
                AnyValue::Float64(x) => Cell::F64(x),
                AnyValue::Float32(x) => Cell::F64(x.into()),
                AnyValue::Boolean(x) => Cell::Bool(x),
                other => Cell::Str(other.to_string()),
            });
        }
    }
    Ok(Table { columns, rows })
}

/// The roll-ups a report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollups {
    pub top_endpoints: Table,
    pub top_pairs: Table,
    pub subnets: Table,
    pub by_proto: Table,
    pub by_server: Table,
}

/// [`group_stats`] of a `flows` batch grouped by `keys` (e.g. the
/// Kubernetes columns `server_namespace`, `server_workload`), at most `n` groups.
pub fn grouped(flows_batch: &RecordBatch, keys: &[&str], n: usize) -> Result<Table> {
    let mut cols: Vec<&str> = FLOW_COLUMNS.to_vec();
    cols.extend(keys.iter().filter(|k| !FLOW_COLUMNS.contains(k)));
    let df = dataframe(flows_batch, &cols)?;
    table(&group_stats(&df, keys)?.head(Some(n)))
}

/// Every roll-up of a `flows` batch; `n` rows at most per ranking.
pub fn compute(flows_batch: &RecordBatch, n: usize) -> Result<Rollups> {
    let df = dataframe(flows_batch, &FLOW_COLUMNS)?;
    Ok(Rollups {
        top_endpoints: table(&top_endpoints(&df, n)?)?,
        top_pairs: table(&top_pairs(&df, n)?)?,
        subnets: table(&subnets(&df, n)?)?,
        by_proto: table(&group_stats(&df, &["proto"])?)?,
        by_server: table(&group_stats(&df, &["server_ip"])?.head(Some(n)))?,
    })
}
