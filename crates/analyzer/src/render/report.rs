//! `--report OUT/`: report.html (self-contained: inline CSS, inline SVG,
//! no network request of any kind), report.md (ticket-sized) and the charts
//! as charts/*.svg and charts/*.png.
//!
//! Every file is written under a temporary name and renamed into place, so
//! nothing half-written looks complete. The HTML template escapes every
//! value by default (minijinja auto-escaping, after [`escape::html`] has
//! replaced dangerous characters); only the SVG charts, which this program
//! generates with their text escaped, are inserted as markup.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::charts::{self, Chart, Series};
use super::escape;
use super::markdown;
use super::text::{flow_line, human_bytes, human_duration, thousands, utc};
use crate::report::FlowTrace;
use crate::report::LogHistogram;
use crate::report::{FlowRecord, Report};

/// Flows listed in the HTML table (largest first); the JSON has them all.
const HTML_FLOWS: usize = 500;

/// What went wrong writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: already exists (remove it, or choose another directory)")]
    Exists { path: PathBuf },
    #[error("rendering {what}: {message}")]
    Render { what: String, message: String },
    #[error(transparent)]
    Out(#[from] retina_outfile::OutError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path`: a regular file through a temporary file and a
/// rename, a device or FIFO in place (see [`retina_outfile`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    retina_outfile::write_all(path, bytes)?;
    Ok(())
}

/// Reads one count out of a time bin.
type BinCount = fn(&crate::report::TimeBin) -> u64;

/// The charts of a report: (file stem, title, chart).
pub fn charts(report: &Report, traces: &[FlowTrace]) -> Vec<(String, String, Chart)> {
    let t = &report.timeline;
    let x = |i: usize| i as f64 * t.bin_s;
    let mut out = Vec::new();
    if report.capture.files.is_empty() {
        // Flow logs only: no packets to chart.
        return out;
    }
    let mbps = |b: u64| b as f64 * 8.0 / t.bin_s.max(1e-9) / 1e6;
    if let Some(d) = report.drops.as_ref().filter(|d| d.loss > 0) {
        let mut by_reason: std::collections::BTreeMap<String, f64> = Default::default();
        for r in d.reasons.iter().filter(|r| r.family.is_loss()) {
            *by_reason.entry(r.reason.clone()).or_default() += r.count as f64;
        }
        out.push((
            "drops-reasons".to_string(),
            "Kernel drops by reason".to_string(),
            Chart::Categories {
                title: "Packets the kernel dropped, by reason".into(),
                x_label: "drops".into(),
                items: by_reason.into_iter().collect(),
            },
        ));
        out.push((
            "drops-time".to_string(),
            "Kernel drops over time".to_string(),
            Chart::Bars {
                title: "Packets the kernel dropped over time".into(),
                x_label: "seconds since capture start".into(),
                y_label: "drops per bin".into(),
                bin_width: t.bin_s,
                series: vec![Series {
                    name: "kernel drops".into(),
                    points: t
                        .bins
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (x(i), b.kernel_drops as f64))
                        .collect(),
                }],
            },
        ));
    }
    out.push((
        "throughput".to_string(),
        "Throughput".to_string(),
        Chart::Lines {
            title: "Throughput per direction".into(),
            x_label: "seconds since capture start".into(),
            y_label: "Mbit/s (IP bytes)".into(),
            series: vec![
                Series {
                    name: "client → server".into(),
                    points: t
                        .bins
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (x(i), mbps(b.bytes_to_server)))
                        .collect(),
                },
                Series {
                    name: "server → client".into(),
                    points: t
                        .bins
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (x(i), mbps(b.bytes_to_client)))
                        .collect(),
                },
            ],
        },
    ));
    let rtt_bins: Vec<(usize, &crate::report::TimeBin)> = t
        .bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b.rtt_samples > 0)
        .collect();
    out.push((
        "rtt".to_string(),
        "RTT over time".to_string(),
        Chart::Lines {
            title: "Data RTT over time".into(),
            x_label: "seconds since capture start".into(),
            y_label: "RTT (ms)".into(),
            series: vec![
                Series {
                    name: "mean".into(),
                    points: rtt_bins
                        .iter()
                        .filter_map(|(i, b)| Some((x(*i), b.rtt_mean_ms()?)))
                        .collect(),
                },
                Series {
                    name: "max".into(),
                    points: rtt_bins
                        .iter()
                        .map(|(i, b)| (x(*i), b.rtt_max_ms))
                        .collect(),
                },
            ],
        },
    ));
    out.push((
        "rtt-cdf".to_string(),
        "RTT distribution".to_string(),
        Chart::Cdf {
            title: "Data RTT, cumulative distribution".into(),
            x_label: "RTT (ms)".into(),
            series: vec![Series {
                name: "all flows".into(),
                points: t.rtt_histogram.cdf(),
            }],
        },
    ));
    let events: Vec<(&str, BinCount)> = vec![
        ("retransmissions", |b| b.retransmissions),
        ("resets", |b| b.resets),
        ("zero windows", |b| b.zero_windows),
        ("SYN retries", |b| b.syn_retries),
        ("DNS unanswered", |b| b.dns_unanswered),
    ];
    out.push((
        "events".to_string(),
        "Trouble over time".to_string(),
        Chart::Bars {
            title: "Retransmissions, resets, zero windows over time".into(),
            x_label: "seconds since capture start".into(),
            y_label: "events per bin".into(),
            bin_width: t.bin_s,
            series: events
                .into_iter()
                .filter(|(_, f)| t.bins.iter().any(|b| f(b) > 0))
                .map(|(name, f)| Series {
                    name: name.into(),
                    points: t
                        .bins
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (x(i), f(b) as f64))
                        .collect(),
                })
                .collect(),
        },
    ));
    for tr in traces {
        let Some(f) = report.flows.get(tr.flow as usize) else {
            continue;
        };
        out.push((
            format!("flow-{}-sequence", tr.flow),
            format!("Time-sequence of flow #{}", tr.flow),
            Chart::TimeSequence {
                title: format!("Flow #{} {} ({} data)", tr.flow, flow_line(f), tr.sender),
                data: tr.data.clone(),
                retransmitted: tr.retransmitted.clone(),
                acks: tr.acks.clone(),
                window: tr.window.clone(),
            },
        ));
    }
    if let Some(d) = &report.dns {
        let (edges, counts) = trim(&d.latency_histogram);
        out.push((
            "dns-latency".to_string(),
            "DNS latency".to_string(),
            Chart::Histogram {
                title: "DNS latency".into(),
                x_label: "latency (ms)".into(),
                edges,
                counts,
            },
        ));
        out.push((
            "dns-rcodes".to_string(),
            "DNS rcodes".to_string(),
            Chart::Categories {
                title: "DNS responses by rcode".into(),
                x_label: "responses".into(),
                items: d
                    .rcodes
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as f64))
                    .chain(std::iter::once((
                        "no answer".to_string(),
                        d.unanswered as f64,
                    )))
                    .collect(),
            },
        ));
    }
    out
}

/// The histogram without its empty ends.
fn trim(h: &LogHistogram) -> (Vec<f64>, Vec<u64>) {
    let first = h.counts.iter().position(|&c| c > 0).unwrap_or(0);
    let last = h.counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
    if last <= first {
        return (Vec::new(), Vec::new());
    }
    (
        h.edges_ms[first..=last].to_vec(),
        h.counts[first..last].to_vec(),
    )
}

#[derive(Serialize)]
struct ChartView {
    stem: String,
    svg: String,
}

#[derive(Serialize)]
struct FlowView {
    id: u64,
    proto: String,
    name: String,
    state: String,
    packets: u64,
    bytes: u64,
    bytes_h: String,
    retrans: String,
    handshake: String,
    rtt: String,
    response: String,
    notes: String,
}

fn ms3(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.3}"))
}

fn flow_view(f: &FlowRecord) -> FlowView {
    let t = f.tcp.as_ref();
    let mut notes = Vec::new();
    if let Some(tn) = &f.tunnel {
        notes.push(format!("{} vni {}", tn.kind, tn.vni));
    }
    if let Some(t) = t {
        let lost = t.capture_lost_segments.client + t.capture_lost_segments.server;
        if lost > 0 {
            notes.push(format!("capture missed {lost} segment(s)"));
        }
        let zw = t.zero_windows.client + t.zero_windows.server;
        if zw > 0 {
            notes.push(format!("{zw} zero window(s)"));
        }
    }
    if let Some(d) = &f.dns {
        notes.push(format!(
            "DNS {} queries, {} unanswered",
            d.queries, d.unanswered
        ));
    }
    notes.extend(super::kernel_notes(f, str::to_string));
    for e in &f.icmp_errors {
        notes.push(format!(
            "{}× ICMP {}/{} from {}",
            e.count, e.icmp_type, e.code, e.reporter
        ));
    }
    FlowView {
        id: f.id,
        proto: f.proto.clone(),
        name: flow_line(f),
        state: t.map_or(String::new(), |t| t.conn_state.to_string()),
        packets: f.packets.total(),
        bytes: f.ip_bytes.total(),
        bytes_h: human_bytes(f.ip_bytes.total()),
        retrans: t.map_or(String::new(), |t| {
            (t.retransmissions.client.segments + t.retransmissions.server.segments).to_string()
        }),
        handshake: ms3(t.and_then(|t| t.handshake_rtt_ms)),
        rtt: ms3(t.and_then(|t| t.rtt_ms.map(|r| r.p50))),
        response: ms3(t.and_then(|t| t.response_time_ms.map(|r| r.p50))),
        notes: notes.join("; "),
    }
}

/// Paths of what [`write`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub charts: Vec<PathBuf>,
}

/// Writes report.html, report.md and charts/ into `dir` (created if
/// missing). Existing report files are not overwritten unless `force`.
/// Checks, before any work, that a report can be written into `dir`: the
/// directory, or the nearest existing one above it, takes a file (tried
/// with a scratch file that is removed at once), and without `force` no
/// report is there already. Leaves nothing behind.
pub fn check_writable(dir: &Path, force: bool) -> Result<(), ReportError> {
    let mut at = dir;
    let existing = loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => break at,
            Ok(_) => {
                return Err(ReportError::Io {
                    path: at.to_owned(),
                    source: std::io::Error::other("not a directory"),
                })
            }
            Err(_) => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p,
                _ => break Path::new("."),
            },
        }
    };
    tempfile::NamedTempFile::new_in(existing).map_err(|e| ReportError::Io {
        path: existing.to_owned(),
        source: std::io::Error::new(e.kind(), format!("cannot create files there ({e})")),
    })?;
    if !force {
        for p in [dir.join("report.html"), dir.join("report.md")] {
            // Only a regular file would be replaced; a device is written to.
            if retina_outfile::plan(&p).is_ok_and(|plan| plan.replaces_existing()) {
                return Err(ReportError::Exists { path: p });
            }
        }
    }
    Ok(())
}

pub fn write(
    report: &Report,
    traces: &[FlowTrace],
    dir: &Path,
    force: bool,
) -> Result<Written, ReportError> {
    let html_path = dir.join("report.html");
    let md_path = dir.join("report.md");
    if !force {
        for p in [&html_path, &md_path] {
            // Only a regular file would be replaced; a device is written to.
            if retina_outfile::plan(p).is_ok_and(|plan| plan.replaces_existing()) {
                return Err(ReportError::Exists { path: p.clone() });
            }
        }
    }
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(io(&chart_dir))?;
    let mut written = Vec::new();
    let mut views = Vec::new();
    let mut listed = Vec::new();
    for (stem, title, chart) in charts(report, traces) {
        let render_err = |e: charts::ChartError| ReportError::Render {
            what: format!("chart {stem}"),
            message: e.to_string(),
        };
        let svg = charts::svg(&chart).map_err(render_err)?;
        let png = charts::png(&chart).map_err(|e| ReportError::Render {
            what: format!("chart {stem}"),
            message: e.to_string(),
        })?;
        let svg_path = chart_dir.join(format!("{stem}.svg"));
        let png_path = chart_dir.join(format!("{stem}.png"));
        write_atomic(&svg_path, svg.as_bytes())?;
        write_atomic(&png_path, &png)?;
        written.push(svg_path);
        written.push(png_path);
        listed.push((stem.clone(), title));
        views.push(ChartView { stem, svg });
    }
    let md = markdown::render(report, &listed);
    let html = html(report, views)?;
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(&html_path, html.as_bytes())?;
    Ok(Written {
        html: html_path,
        markdown: md_path,
        charts: written,
    })
}

/// The template environment of report.html: every string written goes
/// through [`escape::html`] (the one definition of dangerous characters),
/// then minijinja's HTML escaping; markup this program made (the SVG
/// charts, marked safe) is written as it is.
pub(crate) fn html_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if !value.is_safe() => {
            minijinja::escape_formatter(out, state, &minijinja::Value::from(escape::html(s)))
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env
}

/// One hop of a flow's path in the report: a point, the packets it saw,
/// and what was lost on the way to it.
#[derive(Serialize)]
struct HopView {
    label: String,
    packets: u64,
    lost: Option<u64>,
}

#[derive(Serialize)]
struct PathView {
    flow: u64,
    name: String,
    directions: Vec<(String, Vec<HopView>)>,
}

/// Path diagrams of the flows that lost packets between points (or, when
/// none did, of the largest flows seen at several points).
fn path_views(report: &Report) -> Vec<PathView> {
    let lost = |f: &FlowRecord| f.lost_between.iter().map(|l| l.segments).sum::<u64>();
    // Chatter (a few neighbour-discovery packets) makes no useful diagram.
    let mut flows: Vec<&FlowRecord> = report
        .flows
        .iter()
        .filter(|f| f.path.is_some() && (lost(f) > 0 || f.packets.total() >= 10))
        .collect();
    flows.sort_by(|a, b| {
        lost(b)
            .cmp(&lost(a))
            .then(b.ip_bytes.total().cmp(&a.ip_bytes.total()))
            .then(a.id.cmp(&b.id))
    });
    flows
        .iter()
        .take(5)
        .filter_map(|f| {
            let path = f.path.as_ref()?;
            let mut directions = Vec::new();
            for (who, dir, order) in [
                ("client", true, &path.client),
                ("server", false, &path.server),
            ] {
                if order.len() < 2 {
                    continue;
                }
                let hops = order
                    .iter()
                    .enumerate()
                    .map(|(i, p)| HopView {
                        label: super::escape::html(&super::point_label(report, *p)),
                        packets: f.points.iter().find(|x| x.point == *p).map_or(0, |x| {
                            if dir {
                                x.packets.client
                            } else {
                                x.packets.server
                            }
                        }),
                        lost: (i > 0)
                            .then(|| {
                                f.lost_between
                                    .iter()
                                    .find(|l| {
                                        l.direction == who && l.from == order[i - 1] && l.to == *p
                                    })
                                    .map(|l| l.segments)
                            })
                            .flatten(),
                    })
                    .collect();
                directions.push((format!("{who}'s packets"), hops));
            }
            (!directions.is_empty()).then(|| PathView {
                flow: f.id,
                name: super::escape::html(&flow_line(f)),
                directions,
            })
        })
        .collect()
}

fn html(report: &Report, charts: Vec<ChartView>) -> Result<String, ReportError> {
    // Drop charts lead, in the drops section ahead of the flow table.
    let (drop_charts, charts): (Vec<ChartView>, Vec<ChartView>) = charts
        .into_iter()
        .partition(|c| c.stem.starts_with("drops-"));
    let c = &report.capture;
    let mut flows: Vec<&FlowRecord> = report.flows.iter().collect();
    flows.sort_by(|a, b| {
        b.ip_bytes
            .total()
            .cmp(&a.ip_bytes.total())
            .then(a.id.cmp(&b.id))
    });
    let shown = flows.len().min(HTML_FLOWS);
    // Flows that findings and rankings point at are always listed.
    let mut ids: Vec<u64> = flows.iter().take(shown).map(|f| f.id).collect();
    for f in &report.findings {
        ids.extend(f.flows.iter().copied());
    }
    ids.sort_unstable();
    ids.dedup();
    let flow_views: Vec<FlowView> = ids
        .iter()
        .filter_map(|id| report.flows.get(*id as usize))
        .map(flow_view)
        .collect();
    let hubble_paths: Vec<String> = report
        .hubble
        .iter()
        .flat_map(|h| h.files.iter().map(|f| f.path.display().to_string()))
        .collect();
    let title: Vec<&str> = c
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(hubble_paths.iter().map(String::as_str))
        .map(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(p)
        })
        .collect();
    let summary = match (c.first_ts_ns, c.last_ts_ns) {
        (Some(a), Some(b)) => format!(
            "{} packets, {}, {} flows, {} → {} UTC ({})",
            thousands(c.packets),
            human_bytes(c.bytes),
            thousands(c.flows),
            utc(a),
            utc(b),
            human_duration(c.duration_s)
        ),
        _ => format!("{} packets", thousands(c.packets)),
    };
    let files: Vec<_> = c
        .files
        .iter()
        .map(|f| {
            let mut links: Vec<&str> = f.interfaces.iter().map(|i| i.linktype_name).collect();
            links.dedup();
            minijinja::context! {
                path => f.path,
                format => f.format.clone().unwrap_or_else(|| "unreadable".into()),
                packets => f.packets,
                links => links.join(", "),
                status => f.error.as_ref().map_or("complete".to_string(), |e| e.message.clone()),
            }
        })
        .collect();
    let dns = report.dns.as_ref().map(|d| {
        minijinja::context! {
            queries => d.queries,
            responses => d.responses,
            unanswered => d.unanswered,
            latency => d.latency_ms,
            top_names => d.top_names,
        }
    });
    let mut env = html_environment();
    env.add_template("report.html", include_str!("../../templates/report.html"))
        .map_err(|e| ReportError::Render {
            what: "report.html template".into(),
            message: e.to_string(),
        })?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| ReportError::Render {
            what: "report.html template".into(),
            message: e.to_string(),
        })?;
    tmpl.render(minijinja::context! {
        title => title.join(", "),
        summary => summary,
        partial => c.partial,
        findings => report.findings,
        charts => charts,
        flows => flow_views,
        flows_note => if report.flows.len() > shown {
            format!("The {shown} largest of {} flows, and every flow a finding names.", report.flows.len())
        } else {
            format!("All {} flows.", report.flows.len())
        },
        dns => dns,
        drops => report.drops,
        points => c.points.iter().map(|p| minijinja::context! {
            label => super::escape::html(&super::point_label(report, p.id)),
            packets => p.packets,
        }).collect::<Vec<_>>(),
        clock_offsets => c.clock_offsets.iter().map(|o| format!(
            "clock of {} is {:+.3} ms from {} (within {:.3} ms)",
            super::escape::html(&super::point_label(report, o.to)),
            o.offset_ms,
            super::escape::html(&super::point_label(report, o.from)),
            o.min_delay_ms
        )).collect::<Vec<_>>(),
        paths => path_views(report),
        drop_charts => drop_charts,
        hubble => report.hubble,
        rollups => super::rollup_views(report, 20),
        warnings => c.warnings,
        files => files,
        version => report.tool.version,
    })
    .map_err(|e| ReportError::Render {
        what: "report.html".into(),
        message: e.to_string(),
    })
}
