//! Roll-ups of Hubble flow logs (the `hubble` table of retina-tables),
//! computed with polars: verdicts and drop reasons by namespace, workload,
//! pod and node; top talkers; dropped traffic by source and destination;
//! TCP connection attempts, answers and resets by service; DNS by name and
//! response code. Results are small [`Table`]s for the analyzer's report.

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch, StringArray, UInt16Array};
use polars::prelude::*;

use retina_tables::hubble::{HubbleTableColumns, HubbleTableRow};

use crate::{dataframe, sums, table, top, Result, RollupError, Table};

/// Names of the `hubble` table's columns (from its declaration).
const H: HubbleTableColumns = HubbleTableRow::COLUMNS;

/// Columns of the `hubble` table these roll-ups read.
const COLUMNS: [&str; 14] = [
    H.verdict,
    H.drop_reason,
    H.src_namespace,
    H.src_pod,
    H.src_label,
    H.dst_label,
    H.node,
    H.protocol,
    H.service,
    H.packets,
    H.bytes,
    H.tcp_flags,
    H.dns_query,
    H.dns_rcode,
];

/// Per-group sums every grouping reports (`packets` and `bytes` are the
/// table's columns summed; `records` and the verdict counts derived ones).
pub const GROUP_VALUES: [&str; 6] = [
    "records",
    H.packets,
    H.bytes,
    "forwarded",
    "dropped",
    "retransmissions",
];

/// Groupings of [`HubbleTables::groups`]: (name, key column).
pub const GROUPINGS: [(&str, &str); 6] = [
    ("verdicts", H.verdict),
    ("drop_reasons", H.drop_reason),
    ("by_namespace", H.src_namespace),
    ("by_workload", H.src_label),
    ("by_pod", H.src_pod),
    ("by_node", H.node),
];

/// The roll-ups of one flow log.
#[derive(Debug, Clone, PartialEq)]
pub struct HubbleTables {
    /// Per grouping of [`GROUPINGS`]: `key, records, packets, bytes,
    /// forwarded, dropped, retransmissions`, by packets, largest first.
    pub groups: Vec<(&'static str, Table)>,
    /// Per grouping: `key, drop_reason, packets` of dropped records.
    pub drop_reasons_by: Vec<(&'static str, Table)>,
    /// `src_label, dst_label, records, packets, bytes` by bytes.
    pub top_talkers: Table,
    /// `src_label, dst_label, protocol, service, drop_reason, records, packets`
    /// of dropped records, by packets.
    pub dropped: Table,
    /// `service, connection_attempts, answered, resets`.
    pub tcp_by_service: Table,
    /// `dns_query, dns_rcode, records` of DNS responses.
    pub dns_responses: Table,
    /// `dns_query, records` of DNS queries.
    pub dns_queries: Table,
}

/// Column `name` of `batch` as an `A` (`expected` names its Arrow type).
fn typed_col<A: Array + Clone + 'static>(
    batch: &RecordBatch,
    name: &str,
    expected: &'static str,
) -> Result<A> {
    let a = batch
        .column_by_name(name)
        .ok_or_else(|| RollupError::Missing(name.to_string()))?;
    a.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| RollupError::WrongType {
            name: name.to_string(),
            ty: a.data_type().to_string(),
            expected,
        })
}

fn str_col(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    typed_col(batch, name, "Utf8")
}

fn port_col(batch: &RecordBatch, name: &str) -> Result<UInt16Array> {
    typed_col(batch, name, "UInt16")
}

/// Packets of records whose verdict is `v` (0 for the others).
fn packets_where(df: &DataFrame, v: &str) -> Result<Series> {
    let mask = df.column(H.verdict)?.str()?.equal(v);
    let ones = mask.into_series().cast(&DataType::UInt64)?;
    Ok((&ones * df.column(H.packets)?.as_materialized_series())?)
}

/// The table with the derived columns the roll-ups sum.
fn prepared(batch: &RecordBatch) -> Result<DataFrame> {
    let mut df = dataframe(batch, &COLUMNS)?;
    let n = df.height();
    let bytes = df
        .column(H.bytes)?
        .as_materialized_series()
        .fill_null(FillNullStrategy::Zero)?;
    df.with_column(Column::from(bytes.with_name(H.bytes.into())))?;
    df.with_column(Column::new("records".into(), vec![1u64; n]))?;
    for (col, verdict) in [
        ("forwarded", "FORWARDED"),
        ("dropped", "DROPPED"),
        ("retransmissions", "RETRANSMISSION"),
    ] {
        let s = packets_where(&df, verdict)?.with_name(col.into());
        df.with_column(Column::from(s))?;
    }
    // TCP flags of each record, and the client socket a SYN or SYN+ACK names.
    let (src, dst) = (str_col(batch, H.src_ip)?, str_col(batch, H.dst_ip)?);
    let (sport, dport) = (port_col(batch, H.src_port)?, port_col(batch, H.dst_port)?);
    let flags = df.column(H.tcp_flags)?.str()?.clone();
    let mut syn = Vec::with_capacity(n);
    let mut synack = Vec::with_capacity(n);
    let mut rst = Vec::with_capacity(n);
    let mut client: Vec<Option<String>> = Vec::with_capacity(n);
    for (i, f) in flags.iter().enumerate() {
        let has = |x: &str| f.is_some_and(|f| f.split(',').any(|y| y == x));
        let (s, a) = (has("SYN"), has("ACK"));
        syn.push(s && !a);
        synack.push(s && a);
        rst.push(has("RST"));
        let socket = |ip: &StringArray, port: &UInt16Array| {
            (!ip.is_null(i) && !port.is_null(i))
                .then(|| format!("{}:{}", ip.value(i), port.value(i)))
        };
        client.push(if s && a {
            socket(&dst, &dport)
        } else if s {
            socket(&src, &sport)
        } else {
            None
        });
    }
    df.with_column(Column::new("syn".into(), syn))?;
    df.with_column(Column::new("synack".into(), synack))?;
    df.with_column(Column::new("rst".into(), rst))?;
    df.with_column(Column::new("client".into(), client))?;
    // DNS responses carry an rcode; queries do not.
    Ok(df)
}

fn filtered(df: &DataFrame, mask_col: &str) -> Result<DataFrame> {
    let mask = df.column(mask_col)?.bool()?.clone();
    Ok(df.filter(&mask)?)
}

fn not_null(df: &DataFrame, col: &str) -> Result<DataFrame> {
    let mask = df.column(col)?.as_materialized_series().is_not_null();
    Ok(df.filter(&mask)?)
}

/// Distinct `client` values per service among `df`'s rows.
#[allow(deprecated)]
fn distinct_clients(df: &DataFrame) -> Result<HashMap<String, u64>> {
    let df = not_null(&not_null(df, "client")?, H.service)?;
    if df.height() == 0 {
        return Ok(HashMap::new());
    }
    let u = df.group_by([H.service])?.select(["client"]).n_unique()?;
    let keys = u.column(H.service)?.str()?.clone();
    let counts = u.columns()[1].cast(&DataType::UInt64)?;
    let counts = counts.u64()?.clone();
    Ok(keys
        .iter()
        .zip(counts.iter())
        .filter_map(|(k, c)| Some((k?.to_string(), c?)))
        .collect())
}

/// Every roll-up of a `hubble` batch; `n` rows at most per list.
pub fn compute(batch: &RecordBatch, n: usize) -> Result<HubbleTables> {
    let df = prepared(batch)?;
    let drops = not_null(&df, H.drop_reason)?;
    let mut groups = Vec::new();
    let mut drop_reasons_by = Vec::new();
    for (name, key) in GROUPINGS {
        let mut s = sums(&df, &[key], &GROUP_VALUES)?;
        s.rename(key, "key".into())?;
        groups.push((name, table(&top(&s, H.packets, &["key"], n)?)?));
        let r = if key == H.drop_reason {
            let mut r = sums(&drops, &[H.drop_reason], &[H.packets])?;
            let k = r.column(H.drop_reason)?.clone().with_name("key".into());
            r.with_column(k)?;
            r.select(["key", H.drop_reason, H.packets])?
        } else {
            let mut r = sums(&drops, &[key, H.drop_reason], &[H.packets])?;
            r.rename(key, "key".into())?;
            r
        };
        drop_reasons_by.push((name, table(&r)?));
    }
    let talkers = sums(
        &df,
        &[H.src_label, H.dst_label],
        &["records", H.packets, H.bytes],
    )?;
    let top_talkers = table(&top(&talkers, H.bytes, &[H.src_label, H.dst_label], n)?)?;
    let dropped_df = filtered(
        &{
            let mut d = df.clone();
            let m = d
                .column(H.verdict)?
                .str()?
                .equal("DROPPED")
                .with_name("is_dropped".into());
            d.with_column(Column::from(m.into_series()))?;
            d
        },
        "is_dropped",
    )?;
    let keys = [
        H.src_label,
        H.dst_label,
        H.protocol,
        H.service,
        H.drop_reason,
    ];
    let dropped = table(&top(
        &sums(&dropped_df, &keys, &["records", H.packets])?,
        H.packets,
        &keys,
        n,
    )?)?;

    let attempts = distinct_clients(&filtered(&df, "syn")?)?;
    let answered = distinct_clients(&filtered(&df, "synack")?)?;
    let resets_df = not_null(&filtered(&df, "rst")?, H.service)?;
    let resets: HashMap<String, u64> = if resets_df.height() == 0 {
        HashMap::new()
    } else {
        let r = sums(&resets_df, &[H.service], &["records"])?;
        let keys = r.column(H.service)?.str()?.clone();
        let counts = r.column("records")?.u64()?.clone();
        keys.iter()
            .zip(counts.iter())
            .filter_map(|(k, c)| Some((k?.to_string(), c?)))
            .collect()
    };
    let mut services: Vec<&String> = attempts.keys().chain(resets.keys()).collect();
    services.sort();
    services.dedup();
    let get = |m: &HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let svc = DataFrame::new(
        services.len(),
        vec![
            Column::new(
                H.service.into(),
                services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "connection_attempts".into(),
                services
                    .iter()
                    .map(|s| get(&attempts, s))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "answered".into(),
                services
                    .iter()
                    .map(|s| get(&answered, s).min(get(&attempts, s)))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "resets".into(),
                services.iter().map(|s| get(&resets, s)).collect::<Vec<_>>(),
            ),
        ],
    )?;
    let tcp_by_service = table(&top(&svc, "connection_attempts", &[H.service], n)?)?;

    let with_query = not_null(&df, H.dns_query)?;
    let responses = not_null(&with_query, H.dns_rcode)?;
    let dns_responses = table(&top(
        &sums(&responses, &[H.dns_query, H.dns_rcode], &["records"])?,
        "records",
        &[H.dns_query, H.dns_rcode],
        n,
    )?)?;
    let qmask = with_query
        .column(H.dns_rcode)?
        .as_materialized_series()
        .is_null();
    let queries = with_query.filter(&qmask)?;
    let dns_queries = table(&top(
        &sums(&queries, &[H.dns_query], &["records"])?,
        "records",
        &[H.dns_query],
        n,
    )?)?;
    Ok(HubbleTables {
        groups,
        drop_reasons_by,
        top_talkers,
        dropped,
        tcp_by_service,
        dns_responses,
        dns_queries,
    })
}
