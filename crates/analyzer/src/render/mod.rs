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

/// A point's name in reports: `#id file (interface)` or `#id node (interface)`.
pub fn point_label(report: &Report, id: u32) -> String {
    match report.capture.points.get(id as usize) {
        Some(p) => format!("#{id} {}", p.name()),
        None => format!("#{id}"),
    }
}

/// One direction of a flow along its capture points, with the packets each
/// saw and what was lost between them: `#0 a 2169 → #1 b 2169 ✗58→ #3 c 2111`.
/// `None` when the flow was seen at one point.
pub fn path_line(
    report: &Report,
    f: &FlowRecord,
    client: bool,
    esc: fn(&str) -> String,
) -> Option<String> {
    let path = f.path.as_ref()?;
    let order = if client { &path.client } else { &path.server };
    if order.len() < 2 {
        return None;
    }
    let dir = if client { "client" } else { "server" };
    let seen = |p: u32| {
        f.points.iter().find(|x| x.point == p).map_or(0, |x| {
            if client {
                x.packets.client
            } else {
                x.packets.server
            }
        })
    };
    let mut s = String::new();
    for (i, p) in order.iter().enumerate() {
        if i > 0 {
            let lost = f
                .lost_between
                .iter()
                .find(|l| l.direction == dir && l.from == order[i - 1] && l.to == *p);
            match lost {
                Some(l) => s.push_str(&format!(" ✗{}→ ", l.segments)),
                None => s.push_str(" → "),
            }
        }
        s.push_str(&format!("{} {}", esc(&point_label(report, *p)), seen(*p)));
    }
    Some(s)
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
        // The group keys are the flows table's columns.
        let c = retina_tables::analyzer::FlowTableRow::COLUMNS;
        let (ns, wl) = if side == "server" {
            (c.server_namespace, c.server_workload)
        } else {
            (c.client_namespace, c.client_workload)
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
