pub mod charts;
pub mod escape;
pub mod json;
pub mod markdown;
pub mod report;
pub mod text;

use crate::report::{FlowRecord, Report, RollupTable};

/// What the capture agent's kernel events say about a flow, for flow notes:
/// kernel retransmissions and drops by reason (reasons passed through `esc`).
pub fn kernel_notes(f: &FlowRecord, esc: fn(&str) -> String) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(k) = f.kernel_retransmissions {
        notes.push(format!("kernel retransmitted {k}"));
    }
    // Normal-life frees (QUEUE_PURGE …) are not drops of the flow.
    if let Some(d) = f.drops.as_ref().filter(|d| d.count > 0) {
        let reasons: Vec<String> = d
            .by_reason
            .iter()
            .map(|(k, v)| format!("{} {v}", esc(k)))
            .collect();
        notes.push(format!(
            "{} dropped by the kernel ({})",
            d.count,
            reasons.join(", ")
        ));
    }
    notes
}

/// Interfaces, code locations or the like, largest first: `name n, …`
/// with at most `n` entries (names passed through `esc`).
pub fn largest_counts(
    m: &std::collections::BTreeMap<String, u64>,
    n: usize,
    esc: fn(&str) -> String,
) -> String {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s: Vec<String> = v
        .iter()
        .take(n)
        .map(|(k, c)| format!("{} {c}", esc(k)))
        .collect();
    if v.len() > n {
        s.push(format!("{} more", v.len() - n));
    }
    s.join(", ")
}

/// A roll-up shown as a table in the terminal, Markdown and HTML reports:
/// a title, column headers and formatted cells.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollupView {
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn cell(v: &serde_json::Value, bytes: bool) -> String {
    match v {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if bytes => {
            n.as_u64().map_or_else(|| n.to_string(), text::human_bytes)
        }
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) => text::thousands(u),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn view(
    title: &'static str,
    t: &RollupTable,
    cols: &[(&'static str, &'static str)],
    rows: usize,
) -> RollupView {
    let columns: Vec<Vec<&serde_json::Value>> = cols.iter().map(|(c, _)| t.column(c)).collect();
    let n = columns.iter().map(Vec::len).min().unwrap_or(0).min(rows);
    RollupView {
        title,
        headers: cols.iter().map(|(_, h)| *h).collect(),
        rows: (0..n)
            .map(|i| {
                cols.iter()
                    .zip(&columns)
                    .map(|((c, _), vals)| cell(vals[i], c.starts_with("bytes")))
                    .collect()
            })
            .collect(),
    }
}

/// Top talkers and per-subnet aggregates (empty without roll-ups).
pub fn rollup_views(report: &Report, rows: usize) -> Vec<RollupView> {
    let Some(r) = &report.rollups else {
        return Vec::new();
    };
    let mut views = vec![
        view(
            "Top talkers",
            &r.top_endpoints,
            &[
                ("ip", "address"),
                ("flows", "flows"),
                ("bytes_sent", "sent"),
                ("bytes_received", "received"),
                ("bytes", "total"),
                ("retrans_sent", "retrans"),
            ],
            rows,
        ),
        view(
            "Subnets",
            &r.subnets,
            &[
                ("subnet", "subnet"),
                ("endpoints", "addresses"),
                ("flows", "flow ends"),
                ("bytes_sent", "sent"),
                ("bytes_received", "received"),
                ("retrans_sent", "retrans"),
            ],
            rows,
        ),
    ];
    for (title, side, t) in [
        (
            "By server workload (Kubernetes)",
            "server",
            &r.by_server_workload,
        ),
        (
            "By client workload (Kubernetes)",
            "client",
            &r.by_client_workload,
        ),
    ] {
        let Some(t) = t else { continue };
        let (ns, wl): (&'static str, &'static str) = if side == "server" {
            ("server_namespace", "server_workload")
        } else {
            ("client_namespace", "client_workload")
        };
        views.push(view(
            title,
            t,
            &[
                (ns, "namespace"),
                (wl, "workload"),
                ("flows", "flows"),
                ("bytes", "total"),
                ("handshake_rtt_ms_p50", "hs ms"),
                ("data_rtt_ms_p50", "rtt ms"),
                ("response_time_ms_p50", "resp p50"),
                ("response_time_ms_p99", "resp p99"),
            ],
            rows,
        ));
    }
    views
}
