//! report.md: a ticket-sized summary (under 64 KiB for any capture) that
//! renders on GitHub. Every string from the capture is escaped for Markdown.

use std::fmt::Write as _;

use super::escape::markdown;
use super::text::{flow_line, human_bytes, human_duration, thousands, utc};
use crate::report::{FlowRecord, Report};

/// report.md never exceeds this; long lists are cut to fit.
pub const MAX_BYTES: usize = 60 * 1024;

fn ms(v: f64) -> String {
    human_duration(v / 1000.0)
}

/// "client → server" of a flow, escaped.
pub fn flow_name(f: &FlowRecord) -> String {
    markdown(&flow_line(f))
}

/// Renders report.md; `charts` are (file stem, title) of the charts written beside it.
pub fn render(report: &Report, charts: &[(String, String)]) -> String {
    let c = &report.capture;
    let mut o = String::new();
    let names: Vec<String> = c
        .files
        .iter()
        .map(|f| f.path.clone())
        .chain(
            report
                .hubble
                .iter()
                .flat_map(|h| h.files.iter().map(|f| f.path.display().to_string())),
        )
        .map(|p| format!("`{}`", p.replace('`', "'")))
        .collect();
    let _ = writeln!(o, "# Network analysis: {}\n", names.join(", "));
    if let (Some(a), Some(b)) = (c.first_ts_ns, c.last_ts_ns) {
        let _ = writeln!(
            o,
            "{} packets, {}, {} flows, {} → {} UTC ({}){}\n",
            thousands(c.packets),
            human_bytes(c.bytes),
            thousands(c.flows),
            utc(a),
            utc(b),
            human_duration(c.duration_s),
            if c.partial {
                " — **partial input**, see warnings"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(o, "## Findings ({})\n", report.findings.len());
    if report.findings.is_empty() {
        let _ = writeln!(o, "Nothing above the thresholds.\n");
    }
    for f in report.findings.iter().take(20) {
        let _ = writeln!(o, "- **{}** {}", f.severity.as_str(), markdown(&f.summary));
        for e in &f.evidence {
            let _ = writeln!(o, "  - {}", markdown(e));
        }
    }
    let _ = writeln!(o);

    let w = &report.worst_flows;
    let mut ids: Vec<u64> = Vec::new();
    for r in w
        .retransmission_rate
        .iter()
        .chain(&w.rtt_p50_ms)
        .chain(&w.response_time_p50_ms)
    {
        if !ids.contains(&r.flow) {
            ids.push(r.flow);
        }
    }
    // Where packets were lost between capture points, flow by flow.
    let mut lossy: Vec<&FlowRecord> = report
        .flows
        .iter()
        .filter(|f| !f.lost_between.is_empty())
        .collect();
    lossy.sort_by(|a, b| {
        let n = |f: &FlowRecord| f.lost_between.iter().map(|l| l.segments).sum::<u64>();
        n(b).cmp(&n(a)).then(a.id.cmp(&b.id))
    });
    if report.capture.points.len() > 1 {
        let _ = writeln!(
            o,
            "## Capture points
"
        );
        let _ = writeln!(o, "| point | packets |\n|---|---|");
        for p in &report.capture.points {
            let _ = writeln!(
                o,
                "| {} | {} |",
                markdown(&super::point_label(report, p.id)),
                p.packets
            );
        }
        let _ = writeln!(o);
        for c in &report.capture.clock_offsets {
            let _ = writeln!(
                o,
                "- clock of {} is {:+.3} ms from {} (within {:.3} ms)",
                markdown(&super::point_label(report, c.to)),
                c.offset_ms,
                markdown(&super::point_label(report, c.from)),
                c.min_delay_ms
            );
        }
        for f in lossy.iter().take(10) {
            let _ = writeln!(o, "\n**#{} {}**\n", f.id, flow_name(f));
            for client in [true, false] {
                if let Some(line) = super::path_line(report, f, client, markdown) {
                    let who = if client { "client's" } else { "server's" };
                    let _ = writeln!(o, "- {who} packets: {line}");
                }
            }
        }
        let _ = writeln!(o);
    }
    // Drops lead: they are what the node engineer came for.
    if let Some(d) = &report.drops {
        let _ = writeln!(o, "## Kernel drops\n");
        let _ = writeln!(
            o,
            "{} packets lost in the kernel ({} outside the captured flows); {} normal-life frees (not loss).\n",
            d.loss, d.unattributed, d.normal
        );
        let _ = writeln!(
            o,
            "| reason | family | drops | interfaces | flows |\n|---|---|---|---|---|"
        );
        for r in &d.reasons {
            let flows: Vec<String> = r
                .flows
                .iter()
                .take(5)
                .map(|f| format!("#{} ({})", f.flow, f.count))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                markdown(&r.reason),
                r.family.as_str(),
                r.count,
                super::largest_counts(&r.by_interface, 3, markdown),
                flows.join(", ")
            );
        }
        let _ = writeln!(o);
        for fd in d.top_flows.iter().take(10) {
            if let Some(f) = report.flows.get(fd.flow as usize) {
                let _ = writeln!(
                    o,
                    "- #{} {}: {} dropped",
                    f.id,
                    markdown(&flow_name(f)),
                    fd.count
                );
            }
        }
        let _ = writeln!(o);
    }

    if !ids.is_empty() {
        let _ = writeln!(o, "## Worst flows\n");
        let _ = writeln!(
            o,
            "| # | flow | state | retransmitted | handshake | RTT p50 / p99 | response p50 |\n|---|---|---|---|---|---|---|"
        );
        for id in ids.iter().take(15) {
            let Some(f) = report.flows.get(*id as usize) else {
                continue;
            };
            let Some(t) = &f.tcp else { continue };
            let re = t.retransmissions.client.segments + t.retransmissions.server.segments;
            let segs = t.data_segments.client + t.data_segments.server;
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} of {} | {} | {} | {} |",
                f.id,
                flow_name(f),
                t.conn_state,
                re,
                segs,
                t.handshake_rtt_ms.map_or("–".into(), ms),
                t.rtt_ms
                    .map_or("–".into(), |r| format!("{} / {}", ms(r.p50), ms(r.p99))),
                t.response_time_ms.map_or("–".into(), |r| ms(r.p50)),
            );
        }
        let _ = writeln!(o);
    }

    for v in super::rollup_views(report, 10) {
        if v.rows.is_empty() {
            continue;
        }
        let _ = writeln!(o, "## {}\n", v.title);
        let _ = writeln!(o, "| {} |", v.headers.join(" | "));
        let _ = writeln!(
            o,
            "|{}|",
            v.headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---" } else { "---:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &v.rows {
            let cells: Vec<String> = r.iter().map(|c| markdown(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(o);
    }

    if let Some(d) = &report.dns {
        let _ = writeln!(o, "## DNS\n");
        let _ = writeln!(
            o,
            "{} queries, {} responses, **{} unanswered**{}.\n",
            d.queries,
            d.responses,
            d.unanswered,
            d.latency_ms.map_or(String::new(), |l| format!(
                "; latency p50 {}, p99 {}",
                ms(l.p50),
                ms(l.p99)
            ))
        );
        if !d.rcodes.is_empty() {
            let rc: Vec<String> = d
                .rcodes
                .iter()
                .map(|(k, v)| format!("{} {v}", markdown(k)))
                .collect();
            let _ = writeln!(o, "Rcodes: {}.\n", rc.join(", "));
        }
        if !d.top_names.is_empty() {
            let _ = writeln!(o, "| name | queries |\n|---|---|");
            for n in d.top_names.iter().take(10) {
                let name: String = n.name.chars().take(120).collect();
                let _ = writeln!(o, "| {} | {} |", markdown(&name), n.queries);
            }
            let _ = writeln!(o);
        }
    }

    if let Some(h) = &report.hubble {
        let _ = writeln!(o, "## Hubble flow logs\n");
        let _ = writeln!(
            o,
            "{} records from {} file(s); {} line(s) skipped.\n",
            h.records,
            h.files.len(),
            h.skipped_lines
        );
        if let Some(sm) = &h.summary {
            for (title, rows) in [
                ("Verdicts", &sm.verdicts),
                ("By namespace (source)", &sm.by_namespace),
                ("By workload (source)", &sm.by_workload),
            ] {
                if rows.is_empty() {
                    continue;
                }
                let _ = writeln!(o, "**{title}**\n\n| group | packets | bytes | dropped | drop reasons |\n|---|---|---|---|---|");
                for r in rows.iter().take(10) {
                    let reasons: Vec<String> = r
                        .drop_reasons
                        .iter()
                        .map(|(k, v)| format!("{} {v}", markdown(k)))
                        .collect();
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} |",
                        markdown(&r.key),
                        r.packets,
                        human_bytes(r.bytes),
                        r.dropped,
                        reasons.join(", ")
                    );
                }
                let _ = writeln!(o);
            }
            if !sm.dropped.is_empty() {
                let _ = writeln!(o, "**Dropped traffic**\n\n| source | destination | reason | packets |\n|---|---|---|---|");
                for d in sm.dropped.iter().take(10) {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} |",
                        markdown(&d.source),
                        markdown(d.service.as_deref().unwrap_or(&d.destination)),
                        markdown(&d.reason),
                        d.packets
                    );
                }
                let _ = writeln!(o);
            }
        }
    }

    if !c.warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for wn in c.warnings.iter().take(20) {
            let _ = writeln!(o, "- {}", markdown(wn));
        }
        let _ = writeln!(o);
    }
    if !charts.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for (stem, title) in charts {
            let _ = writeln!(
                o,
                "- [{}](charts/{stem}.svg) ([PNG](charts/{stem}.png))",
                markdown(title)
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "Made by retina-analyze {}; the full analysis is in report.html.",
        report.tool.version
    );
    if o.len() > MAX_BYTES {
        let mut cut = MAX_BYTES - 100;
        while !o.is_char_boundary(cut) {
            cut -= 1;
        }
        o.truncate(cut);
        o.push_str("\n\n*(cut to fit a ticket; see report.html)*\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_markup() {
        let e = markdown("<script>alert(1)</script> [x](http://a) | *b* `c`");
        assert!(!e.contains("<script"));
        // The link's brackets are escaped, so no link is made.
        assert!(e.contains("\\[x\\](http"));
        assert!(e.contains("\\|"));
    }
}
