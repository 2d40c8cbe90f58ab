//! The steps of a run after the captures are read, in their declared
//! order: the capture's description, Kubernetes names, kernel joins,
//! per-flow summaries, findings and metrics, roll-ups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::inputs::Inputs;
use super::merge::Merged;
use crate::decode::{linktype_name, Skip};
use crate::flow::TIMELINE_TICK_NS;
use crate::report::{
    ns_to_s, proto_name, CaptureInfo, ClockOffset, FileError, FileRecord, InterfaceRecord,
    LinkTypeCount, LogHistogram, PointRecord, ProtoTotals, Report, Severity, Thresholds, TimeBin,
    Timeline, MAX_BINS,
};
use crate::source::SourceError;

/// Flows kept in each worst-flows ranking.
const WORST_FLOWS: usize = 10;

/// What was read: files, link types, skipped frames and warnings. Takes the
/// per-file results out of `merged`; returns the capture's description and
/// the per-file errors (to be told on standard error).
pub fn capture(
    merged: &mut Merged,
    inputs: &Inputs,
    interrupted: bool,
) -> (CaptureInfo, Vec<SourceError>) {
    let points = point_records(merged, inputs);
    // One offset per pair of files: the best (smallest-delay) estimate of
    // any of their points' pairs.
    let file_of = |p: u16| merged.points.get(usize::from(p)).map(|x| x.file);
    type Best = (u16, u16, crate::flow::ClockEstimate);
    let mut best: BTreeMap<(Option<u16>, Option<u16>), Best> = BTreeMap::new();
    for ((a, b), e) in &merged.clocks {
        let k = (file_of(*a), file_of(*b));
        match best.get_mut(&k) {
            Some(x) if x.2.delay_ns <= e.delay_ns => {}
            _ => {
                best.insert(k, (*a, *b, *e));
            }
        }
    }
    let clock_offsets = best
        .values()
        .map(|(a, b, e)| ClockOffset {
            from: u32::from(*a),
            to: u32::from(*b),
            offset_ms: round_ms(e.offset_ns),
            min_delay_ms: round_ms(e.delay_ns),
            flows: e.flows,
        })
        .collect();
    let mut warnings = merged.point_warnings.clone();
    if merged.evicted_flows > 0 {
        warnings.push(format!(
            "{} flow(s) were ended early (end_reason \"evicted\", the longest-idle first) to keep at most {} open at once (--max-flows): a scan or a flood, or raise the limit; their later packets start new flows",
            merged.evicted_flows, merged.max_flows
        ));
    }
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    let mut link_types: BTreeMap<u16, u64> = BTreeMap::new();
    let mut truncated_packets = 0;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut partial = interrupted;
    for r in merged.files.drain(..) {
        let path = inputs.shown_name(&r.info.path.display().to_string());
        for (lt, n) in &r.link_counts {
            *link_types.entry(*lt).or_insert(0) += n;
        }
        truncated_packets += r.truncated;
        for (skip, (n, first)) in &r.skips {
            let said =
                format!("{path}: {n} packet(s) skipped: {skip} (the first is frame {first})");
            match skip {
                Skip::NotIp => {}
                Skip::UnsupportedLinkType(_) => {
                    // Part of the input could not be analyzed at all.
                    partial = true;
                    warnings.push(said);
                }
                _ => warnings.push(said),
            }
            *skipped.entry(skip_key(skip)).or_insert(0) += n;
        }
        warnings.extend(r.info.warnings.iter().map(|w| inputs.relabel(w)));
        let error = r.error.as_ref().map(|e| FileError {
            offset: match e {
                SourceError::Damaged { offset, .. } | SourceError::Io { offset, .. } => {
                    Some(*offset)
                }
                _ => None,
            },
            message: inputs.relabel(&e.to_string()),
        });
        let file_partial = r.error.is_some();
        if let Some(e) = &r.error {
            partial = true;
            if r.info.packets > 0 || e.is_damage() {
                warnings.push(inputs.relabel(&format!(
                    "{e}; analyzed the {} packet(s) before it (partial)",
                    r.info.packets
                )));
            } else {
                warnings.push(inputs.relabel(&e.to_string()));
            }
        }
        files.push(FileRecord {
            path,
            format: r.info.format.map(|f| f.to_string()),
            compression: r.info.gzip.then(|| "gzip".to_string()),
            size_bytes: r.info.size,
            packets: r.info.packets,
            bytes: r.info.bytes,
            sections: r.info.sections,
            interfaces: r
                .info
                .interfaces
                .iter()
                .map(|i| InterfaceRecord {
                    linktype: i.linktype,
                    linktype_name: linktype_name(i.linktype),
                    name: i.name.clone(),
                    snaplen: i.snaplen,
                    ts_resolution_ns: 1e9 / i.ts_units_per_sec as f64,
                })
                .collect(),
            partial: file_partial,
            error,
        });
        if let Some(e) = r.error {
            errors.push(e);
        }
    }
    if merged.fragments_unattributed > 0 {
        warnings.push(format!(
            "{} IP fragment(s) skipped: their first fragment (with the ports) was not captured",
            merged.fragments_unattributed
        ));
        skipped.insert(
            "fragment_without_first".into(),
            merged.fragments_unattributed,
        );
    }
    if interrupted {
        warnings.push(format!(
            "interrupted: analysis covers the {} packet(s) read before the stop",
            merged.packets
        ));
    }

    let packets = files.iter().map(|f| f.packets).sum();
    let bytes = files.iter().map(|f| f.bytes).sum();
    let (first_ns, last_ns) = (merged.first_ns, merged.last_ns);
    let info = CaptureInfo {
        files,
        packets,
        bytes,
        first_ts: first_ns.map(ns_to_s),
        last_ts: last_ns.map(ns_to_s),
        first_ts_ns: first_ns,
        last_ts_ns: last_ns,
        duration_s: match (first_ns, last_ns) {
            (Some(f), Some(l)) => ns_to_s(l - f),
            _ => 0.0,
        },
        link_types: link_types
            .into_iter()
            .map(|(linktype, packets)| LinkTypeCount {
                linktype,
                name: linktype_name(linktype),
                packets,
            })
            .collect(),
        partial,
        warnings,
        skipped,
        truncated_packets,
        flows: merged.flows.len() as u64,
        evicted_flows: merged.evicted_flows,
        archives: inputs.archives.clone(),
        points,
        clock_offsets,
    };
    (info, errors)
}

/// Nanoseconds as milliseconds to the microsecond.
fn round_ms(ns: i64) -> f64 {
    (ns as f64 / 1e3).round() / 1e3
}

/// The capture points with their files, nodes and interface names.
fn point_records(merged: &Merged, inputs: &Inputs) -> Vec<PointRecord> {
    merged
        .points
        .iter()
        .enumerate()
        .map(|(id, p)| {
            let r = merged.files.get(usize::from(p.file));
            let path = r
                .map(|r| r.info.path.display().to_string())
                .unwrap_or_default();
            let file = inputs.shown_name(&path);
            let node = inputs
                .archives
                .iter()
                .find(|a| file.starts_with(&format!("{}:", a.path.display())))
                .and_then(|a| a.node.clone());
            let link = r.and_then(|r| r.iface_links.get(&p.interface).copied());
            let several = r.is_some_and(|r| r.iface_links.len() > 1 || r.info.interfaces.len() > 1);
            let interface = match link {
                Some(crate::decode::LINKTYPE_LINUX_SLL2) => {
                    format!("if{}", p.interface & !crate::decode::SLL2_IFINDEX_BASE)
                }
                _ => r
                    .and_then(|r| r.info.interfaces.get(p.interface as usize))
                    .and_then(|i| i.name.clone())
                    .unwrap_or_else(|| {
                        if several {
                            format!("if{}", p.interface)
                        } else {
                            "-".to_string()
                        }
                    }),
            };
            let more_files = p
                .more_files
                .iter()
                .filter_map(|f| merged.files.get(usize::from(*f)))
                .map(|r| inputs.shown_name(&r.info.path.display().to_string()))
                .collect();
            PointRecord {
                id: id as u32,
                file,
                more_files,
                node,
                interface,
                packets: p.packets,
            }
        })
        .collect()
}

/// Kernel joins: the agent's drops and retransmissions, from bundles or
/// given directly, joined to the flows. Returns the messages for standard
/// error and whether a table could not be fully read.
pub fn kernel_joins(report: &mut Report, inputs: &Inputs) -> Joins {
    let mut joins = Joins::default();
    let mut messages = Vec::new();
    let mut partial = false;
    if !inputs.retrans.is_empty() {
        let (events, files) = read_tables(
            &inputs.retrans,
            crate::source::agent::read_retrans,
            &mut messages,
        );
        partial |= files.len() < inputs.retrans.len();
        report.kernel_retransmissions = Some(crate::analysis::drops::attribute_retrans(
            &mut report.flows,
            &events,
            files,
        ));
    }
    if !inputs.drops.is_empty() {
        // Table by table, to know the node each drop was recorded on.
        let mut events = Vec::new();
        let mut nodes = Vec::new();
        let mut files = Vec::new();
        for t in &inputs.drops {
            let (ev, f) = read_tables(
                std::slice::from_ref(t),
                crate::source::agent::read,
                &mut messages,
            );
            let node = inputs
                .archives
                .iter()
                .find(|a| t.1.starts_with(&format!("{}:", a.path.display())))
                .and_then(|a| a.node.clone());
            nodes.extend(std::iter::repeat_n(node, ev.len()));
            events.extend(ev);
            files.extend(f);
        }
        partial |= files.len() < inputs.drops.len();
        let point_nodes: Vec<Option<String>> = report
            .capture
            .points
            .iter()
            .map(|p| p.node.clone())
            .collect();
        crate::analysis::drops::join_lost_between(&mut report.flows, &events, &nodes, &point_nodes);
        report.drops = Some(crate::analysis::drops::attribute(
            &mut report.flows,
            &events,
            files,
        ));
        joins.loss_times = events
            .iter()
            .filter(|e| {
                crate::analysis::drops::family_at(&e.reason, e.location.as_deref()).is_loss()
            })
            .filter_map(|e| e.time_ns)
            .collect();
    }
    joins.partial = partial;
    joins.messages = messages;
    joins
}

/// What the kernel joins leave for the later steps.
#[derive(Default)]
pub struct Joins {
    /// For standard error: tables that could not be read.
    pub messages: Vec<String>,
    /// A table could not be fully read.
    pub partial: bool,
    /// Times of the kernel drops that lost a packet (for the timeline).
    pub loss_times: Vec<i64>,
}

/// Reads every event table of one kind: the events, and the names of the
/// tables read. A table that cannot be read is told in `messages`.
fn read_tables<E>(
    tables: &[(PathBuf, String)],
    read: fn(&std::path::Path) -> Result<Vec<E>, String>,
    messages: &mut Vec<String>,
) -> (Vec<E>, Vec<PathBuf>) {
    let mut events = Vec::new();
    let mut files = Vec::new();
    for (path, label) in tables {
        match read(path) {
            Ok(mut ev) => {
                events.append(&mut ev);
                files.push(PathBuf::from(label));
            }
            Err(e) => messages.push(e.replace(&path.display().to_string(), label)),
        }
    }
    (events, files)
}

/// Per-flow summaries over the finished flows: protocol totals,
/// the worst flows and the timeline.
pub fn summaries(
    flows: &[crate::report::FlowRecord],
    by_proto: BTreeMap<u8, ProtoTotals>,
    per_tick: BTreeMap<i64, TimeBin>,
    rtt_histogram: LogHistogram,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    drop_times: &[i64],
) -> Summaries {
    let mut protocols: BTreeMap<String, ProtoTotals> = by_proto
        .into_iter()
        .map(|(p, t)| (proto_name(p), t))
        .collect();
    for f in flows {
        protocols.entry(f.proto.clone()).or_default().flows += 1;
    }
    Summaries {
        protocols,
        worst_flows: crate::analysis::worst::rank(flows, WORST_FLOWS),
        timeline: timeline(
            per_tick,
            rtt_histogram,
            flows,
            first_ns,
            last_ns,
            drop_times,
        ),
    }
}

/// The capture-wide summaries of [`summaries`].
pub struct Summaries {
    pub protocols: BTreeMap<String, ProtoTotals>,
    pub worst_flows: crate::report::WorstFlows,
    pub timeline: Timeline,
}

/// Findings, then the metrics `--fail-on` tests (which count the findings).
pub fn findings_and_metrics(report: &mut Report, thresholds: &Thresholds) {
    report.findings = crate::analysis::findings::findings(report, thresholds);
    let high = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count();
    report.metrics = crate::analysis::gate::metrics(report, high);
}

/// Re-bins per-tick activity into at most [`MAX_BINS`] bins of a round
/// width, and places unanswered DNS queries.
fn timeline(
    per_tick: BTreeMap<i64, TimeBin>,
    rtt_histogram: LogHistogram,
    flows: &[crate::report::FlowRecord],
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    drop_times: &[i64],
) -> Timeline {
    let (Some(first), Some(last)) = (first_ns, last_ns) else {
        return Timeline {
            rtt_histogram,
            ..Timeline::default()
        };
    };
    // Bin widths in ticks (100 ms): round numbers from 100 ms to a day.
    const WIDTHS: [i64; 19] = [
        1, 2, 5, 10, 20, 50, 100, 150, 300, 600, 1200, 3000, 6000, 9000, 18000, 36000, 72000,
        216_000, 864_000,
    ];
    let tick = TIMELINE_TICK_NS;
    let start = first.div_euclid(tick);
    let end = last.div_euclid(tick);
    let span = end - start + 1;
    let width = WIDTHS
        .iter()
        .copied()
        .find(|w| (span + w - 1) / w <= MAX_BINS as i64)
        .unwrap_or((span + MAX_BINS as i64 - 1) / MAX_BINS as i64);
    let start = start.div_euclid(width) * width;
    let n = (((end - start) / width + 1) as usize).clamp(1, MAX_BINS);
    let mut bins = vec![TimeBin::default(); n];
    let index = |t: i64| (((t - start) / width).max(0) as usize).min(n - 1);
    for (t, b) in per_tick {
        bins[index(t)].add(&b);
    }
    for f in flows {
        for &ts in f.dns.iter().flat_map(|d| d.unanswered_at.iter()) {
            bins[index(ts.div_euclid(tick))].dns_unanswered += 1;
        }
    }
    // Kernel drops within the capture's span (the agent may have run longer).
    for &t in drop_times {
        let t = t.div_euclid(tick);
        if (start..=end).contains(&t) {
            bins[index(t)].kernel_drops += 1;
        }
    }
    Timeline {
        start_ts: (start * tick) as f64 / 1e9,
        bin_s: (width * tick) as f64 / 1e9,
        bins,
        rtt_histogram,
    }
}

fn skip_key(s: &Skip) -> String {
    match s {
        Skip::NotIp => "not_ip".into(),
        Skip::UnsupportedLinkType(l) => format!("unsupported_linktype_{l}"),
        Skip::Malformed(_) => "malformed".into(),
        Skip::TruncatedIp => "truncated_ip_header".into(),
    }
}
