//! Terminal renderer: a summary readable at 80 columns.
//!
//! Styling goes through anstream, which drops it when stdout is not a
//! terminal or NO_COLOR is set. Every string from the capture that could hold
//! control characters (interface names, file names) is shown escaped.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::escape::terminal;
use crate::report::Endpoint;
use crate::report::Ranked;
use crate::report::{FlowRecord, Report, Severity};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const ERR: Style = AnsiColor::Red.on_default().bold();
/// Width of the client → server column before it wraps onto its own line.
const ENDPOINTS_WIDTH: usize = 42;

/// Options for the text summary.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// How many flows to list.
    pub top: usize,
}

/// Writes the terminal summary.
pub fn write(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let c = &report.capture;
    if c.files.is_empty() {
        // Flow logs only: no capture to describe.
        writeln!(out, "{BOLD}retina-analyze {}{BOLD:#}", report.tool.version)?;
        return hubble(report, opts, out);
    }
    writeln!(
        out,
        "{BOLD}retina-analyze {}{BOLD:#}: {} file(s), {} packets, {}, {} flows",
        report.tool.version,
        c.files.len(),
        thousands(c.packets),
        human_bytes(c.bytes),
        thousands(c.flows)
    )?;
    if let (Some(f), Some(l)) = (c.first_ts_ns, c.last_ts_ns) {
        writeln!(
            out,
            "  {} → {} UTC ({})",
            utc(f),
            {
                // Same day: the time alone; otherwise the full date.
                let (first, last) = (utc(f), utc(l));
                if first.get(..10) == last.get(..10) {
                    last.get(11..).unwrap_or_default().to_string()
                } else {
                    last
                }
            },
            human_duration(c.duration_s)
        )?;
    }
    writeln!(out)?;
    findings(report, out)?;

    writeln!(out, "{BOLD}Files{BOLD:#}")?;
    for f in &c.files {
        let kind = match (&f.format, &f.compression) {
            (Some(fmt), Some(z)) => format!("{fmt}+{z}"),
            (Some(fmt), None) => fmt.clone(),
            (None, _) => "unreadable".into(),
        };
        let links: Vec<&str> = {
            let mut v: Vec<&str> = f.interfaces.iter().map(|i| i.linktype_name).collect();
            v.dedup();
            v
        };
        let details = format!(
            "{}  {} pkts{}{}",
            kind,
            thousands(f.packets),
            if links.is_empty() {
                String::new()
            } else {
                format!("  {}", links.join(", "))
            },
            if f.partial {
                format!("  {ERR}PARTIAL{ERR:#}")
            } else {
                String::new()
            }
        );
        let path = terminal(&f.path);
        let plain_len = 2 + path.chars().count() + 2 + visible_len(&details);
        if plain_len <= 80 {
            writeln!(out, "  {path}  {details}")?;
        } else {
            // Long paths get a line of their own, shortened from the left.
            writeln!(out, "  {}", cut_left(&path, 78))?;
            writeln!(out, "      {details}")?;
        }
    }
    for a in &c.archives {
        let mut line = format!("  {}  {}", terminal(&a.path.display().to_string()), a.kind);
        if let Some(n) = &a.node {
            line.push_str(&format!(", node {}", terminal(n)));
        }
        line.push_str(&format!(
            ": {} capture(s), {} drop table(s), {} other file(s)",
            a.captures.len(),
            a.drops.len(),
            a.metadata.len()
        ));
        if let Some(l) = a.lost_events.filter(|l| *l > 0) {
            line.push_str(&format!(", {WARN}{l} events lost by the agent{WARN:#}"));
        }
        wrap(out, &line, "", "      ")?;
    }
    points(report, opts, out)?;
    drops(report, opts, out)?;
    if !c.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "{WARN}Warnings ({}){WARN:#}", c.warnings.len())?;
        for w in &c.warnings {
            wrap(out, &terminal(w), "  ! ", "    ")?;
        }
    }
    writeln!(out)?;

    writeln!(out, "{BOLD}Protocols{BOLD:#}")?;
    writeln!(
        out,
        "  {DIM}{:<8} {:>9} {:>12} {:>12} {:>12}{DIM:#}",
        "proto", "flows", "packets", "IP bytes", "payload"
    )?;
    let mut protos: Vec<_> = report.protocols.iter().collect();
    protos.sort_by(|a, b| b.1.ip_bytes.cmp(&a.1.ip_bytes).then(a.0.cmp(b.0)));
    for (name, t) in protos {
        writeln!(
            out,
            "  {:<8} {:>9} {:>12} {:>12} {:>12}",
            name,
            thousands(t.flows),
            thousands(t.packets),
            human_bytes(t.ip_bytes),
            human_bytes(t.payload_bytes)
        )?;
    }
    writeln!(out)?;

    let mut top: Vec<&FlowRecord> = report.flows.iter().collect();
    top.sort_by(|a, b| {
        b.ip_bytes
            .total()
            .cmp(&a.ip_bytes.total())
            .then(a.id.cmp(&b.id))
    });
    top.truncate(opts.top);
    writeln!(
        out,
        "{BOLD}Top flows by bytes{BOLD:#} ({} of {})",
        top.len(),
        report.flows.len()
    )?;
    writeln!(
        out,
        "  {DIM}{:<6} {:<ENDPOINTS_WIDTH$} {:>7} {:>9} {:>9}{DIM:#}",
        "proto", "client → server", "pkts", "bytes", "duration"
    )?;
    for f in top {
        let endpoints = flow_line(f);
        let stats = format!(
            "{:>7} {:>9} {:>9}",
            thousands(f.packets.total()),
            human_bytes(f.ip_bytes.total()),
            human_duration(f.duration_s)
        );
        if endpoints.chars().count() <= ENDPOINTS_WIDTH {
            writeln!(
                out,
                "  {:<6} {:<ENDPOINTS_WIDTH$} {stats}",
                f.proto, endpoints
            )?;
        } else {
            writeln!(out, "  {:<6} {endpoints}", f.proto)?;
            writeln!(out, "  {:<6} {:<ENDPOINTS_WIDTH$} {stats}", "", "")?;
        }
        let mut notes = Vec::new();
        if let Some(i) = &f.icmp {
            notes.push(match i.echo_id {
                Some(id) => format!("echo id {id}"),
                None => format!("type {} code {}", i.icmp_type, i.code),
            });
        }
        if let Some(t) = &f.tunnel {
            let id = match t.kind {
                crate::report::TunnelKind::Gre => "key",
                crate::report::TunnelKind::Gtp => "teid",
                _ => "vni",
            };
            let ends = f
                .tunnel_endpoints
                .map_or(String::new(), |e| format!(" {} → {}", e.client, e.server));
            notes.push(format!("{} {id} {}{ends}", t.kind, t.vni));
        }
        if let Some(v) = &f.vlan {
            let ids: Vec<String> = v.iter().map(u16::to_string).collect();
            notes.push(format!("vlan {}", ids.join("/")));
        }
        if f.fragments > 0 {
            notes.push(format!("{} fragments", f.fragments));
        }
        for e in &f.icmp_errors {
            notes.push(format!(
                "{}× ICMP {}{} from {}",
                e.count,
                icmp_error_name(e.reporter.is_ipv6(), e.icmp_type, e.code),
                e.mtu.map_or(String::new(), |m| format!(", MTU {m}")),
                e.reporter
            ));
        }
        if let Some(t) = &f.tcp {
            notes.push(t.conn_state.to_string());
            if let (Some(c), true) = (t.connect_ms, t.syn_retransmissions > 0) {
                notes.push(format!(
                    "connect {} after {} SYN retr{}",
                    ms(c),
                    t.syn_retransmissions,
                    if t.syn_retransmissions == 1 {
                        "y"
                    } else {
                        "ies"
                    }
                ));
            }
            if let Some(h) = t.handshake_rtt_ms {
                let what = if t.conn_state == "REJ" {
                    "refused in"
                } else {
                    "handshake"
                };
                notes.push(format!("{what} {}", ms(h)));
            }
            let re = t.retransmissions.client.segments + t.retransmissions.server.segments;
            if re > 0 {
                notes.push(format!("{re} retransmitted"));
            }
        }
        notes.extend(super::kernel_notes(f, terminal));
        if f.points.len() > 1 {
            notes.push(format!("seen at {} points", f.points.len()));
        }
        let lost: u64 = f.lost_between.iter().map(|l| l.segments).sum();
        if lost > 0 {
            notes.push(format!("{lost} lost between points"));
        }
        for t in &f.translations {
            notes.push(format!("also seen as {} → {}", t.client, t.server));
        }
        if !notes.is_empty() {
            wrap(
                out,
                &format!("{DIM}{}{DIM:#}", notes.join("; ")),
                "         ",
                "         ",
            )?;
        }
    }
    worst(report, opts, out)?;
    rollups(report, opts, out)?;
    dns(report, out)?;
    hubble(report, opts, out)?;
    Ok(())
}

/// The capture points, the clocks between files, and where packets were lost.
fn points(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let c = &report.capture;
    if c.points.len() < 2 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{BOLD}Capture points{BOLD:#} ({})", c.points.len())?;
    for p in &c.points {
        let name = terminal(&super::point_label(report, p.id));
        writeln!(
            out,
            "  {:<60} {:>10} pkts",
            cut(&name, 60),
            thousands(p.packets)
        )?;
    }
    for o in &c.clock_offsets {
        wrap(
            out,
            &format!(
                "clock of {} is {:+.3} ms from {} (within {:.3} ms)",
                terminal(&super::point_label(report, o.to)),
                o.offset_ms,
                terminal(&super::point_label(report, o.from)),
                o.min_delay_ms
            ),
            "  ",
            "    ",
        )?;
    }
    let mut lossy: Vec<&FlowRecord> = report
        .flows
        .iter()
        .filter(|f| !f.lost_between.is_empty())
        .collect();
    if lossy.is_empty() {
        return Ok(());
    }
    lossy.sort_by(|a, b| {
        let n = |f: &FlowRecord| f.lost_between.iter().map(|l| l.segments).sum::<u64>();
        n(b).cmp(&n(a)).then(a.id.cmp(&b.id))
    });
    writeln!(out, "  {BOLD}lost between points{BOLD:#}")?;
    for f in lossy.iter().take(opts.top.max(1)) {
        writeln!(out, "  #{} {} {}", f.id, f.proto, terminal(&flow_line(f)))?;
        for client in [true, false] {
            if let Some(line) = super::path_line(report, f, client, terminal) {
                let who = if client { "client's" } else { "server's" };
                wrap(out, &format!("{who} packets: {line}"), "    ", "      ")?;
            }
        }
    }
    Ok(())
}

/// Kernel drops (and retransmissions) joined from the capture agent.
fn drops(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    if let Some(k) = &report.kernel_retransmissions {
        writeln!(out)?;
        let states: Vec<String> = k
            .by_state
            .iter()
            .map(|(s, n)| format!("{} {n}", terminal(s)))
            .collect();
        writeln!(
            out,
            "{BOLD}Kernel TCP retransmissions{BOLD:#}: {} ({}; {} not in any captured flow)",
            thousands(k.count),
            states.join(", "),
            thousands(k.unattributed)
        )?;
    }
    let Some(d) = &report.drops else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "{BOLD}Kernel drops{BOLD:#}: {} lost packet(s) ({} not in any captured flow){}",
        thousands(d.loss),
        thousands(d.unattributed),
        if d.normal > 0 {
            format!(
                "; {} normal-life free(s) not counted as loss",
                thousands(d.normal)
            )
        } else {
            String::new()
        }
    )?;
    for r in d.reasons.iter().take(opts.top.max(1)) {
        let normal = if r.family.is_loss() { "" } else { ", not loss" };
        wrap(
            out,
            &format!(
                "{} {} ({}{normal}): {}",
                terminal(&r.reason),
                thousands(r.count),
                r.family.as_str(),
                super::largest_counts(&r.by_interface, 3, terminal)
            ),
            "  ",
            "    ",
        )?;
    }
    if !d.by_location.is_empty() {
        wrap(
            out,
            &format!(
                "where: {}",
                super::largest_counts(&d.by_location, opts.top.max(1), terminal)
            ),
            "  ",
            "    ",
        )?;
    }
    for fd in d.top_flows.iter().take(opts.top.min(5)) {
        if let Some(f) = report.flows.get(fd.flow as usize) {
            wrap(
                out,
                &format!(
                    "{} {}: {} dropped",
                    f.proto,
                    flow_line(f),
                    thousands(fd.count)
                ),
                "  ",
                "      ",
            )?;
        }
    }
    Ok(())
}

/// Counts by name, largest first (ties by name).
fn largest_first(m: &std::collections::BTreeMap<String, u64>) -> Vec<(&String, &u64)> {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v
}

/// The Hubble flow-log section.
fn hubble(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let Some(h) = &report.hubble else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "{BOLD}Hubble flow logs{BOLD:#}: {} file(s), {} records, {} line(s) skipped",
        h.files.len(),
        thousands(h.records),
        thousands(h.skipped_lines)
    )?;
    if let (Some(f), Some(l)) = (h.first_ts, h.last_ts) {
        let (f, l) = ((f * 1e9) as i64, (l * 1e9) as i64);
        writeln!(out, "  {} → {} UTC", utc(f), utc(l))?;
    }
    for f in &h.files {
        let mut line = format!(
            "  {}  {} lines, {} records",
            terminal(&f.path.display().to_string()),
            thousands(f.lines),
            thousands(f.records)
        );
        if f.skipped > 0 {
            line.push_str(&format!(", {WARN}{} skipped{WARN:#}", f.skipped));
            if let Some(b) = f.bad_lines.first() {
                line.push_str(&format!(
                    " (line {}: {})",
                    b.line,
                    terminal(&cut(&b.error, 60))
                ));
            }
        }
        if let Some(e) = &f.error {
            line.push_str(&format!(", {ERR}{}{ERR:#}", terminal(e)));
        }
        wrap(out, &line, "", "      ")?;
    }
    let Some(sm) = &h.summary else {
        return Ok(());
    };
    let n = opts.top.max(1);
    let groups = |title: &str,
                  rows: &[crate::report::hubble::GroupRow],
                  out: &mut dyn Write|
     -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(out, "  {DIM}{title}{DIM:#}")?;
        for r in rows.iter().take(n) {
            let mut extra = String::new();
            if r.dropped > 0 {
                let reasons: Vec<String> = r
                    .drop_reasons
                    .iter()
                    .map(|(k, v)| format!("{} {v}", terminal(k)))
                    .collect();
                extra = format!(
                    "  {WARN}{} dropped{WARN:#} ({})",
                    thousands(r.dropped),
                    reasons.join(", ")
                );
            }
            if r.retransmissions > 0 {
                extra.push_str(&format!(
                    "  {} retransmissions",
                    thousands(r.retransmissions)
                ));
            }
            writeln!(
                out,
                "    {:<40} {:>9} pkts {:>10}{extra}",
                cut(&terminal(&r.key), 40),
                thousands(r.packets),
                human_bytes(r.bytes)
            )?;
        }
        Ok(())
    };
    groups("verdicts", &sm.verdicts, out)?;
    groups("by namespace (source)", &sm.by_namespace, out)?;
    groups("by workload (source)", &sm.by_workload, out)?;
    groups("by node", &sm.by_node, out)?;
    if !sm.dropped.is_empty() {
        writeln!(out, "  {DIM}dropped{DIM:#}")?;
        for d in sm.dropped.iter().take(n) {
            let proto = d.protocol.as_deref().unwrap_or("");
            writeln!(
                out,
                "    {} → {} {proto}  {ERR}{}{ERR:#} ×{}",
                cut(&terminal(&d.source), 30),
                cut(
                    &terminal(d.service.as_deref().unwrap_or(&d.destination)),
                    34
                ),
                terminal(&d.reason),
                thousands(d.packets)
            )?;
        }
    }
    if !sm.top_talkers.is_empty() {
        writeln!(out, "  {DIM}top talkers{DIM:#}")?;
        for t in sm.top_talkers.iter().take(n) {
            writeln!(
                out,
                "    {} → {}  {} pkts, {}",
                cut(&terminal(&t.source), 32),
                cut(&terminal(&t.destination), 32),
                thousands(t.packets),
                human_bytes(t.bytes)
            )?;
        }
    }
    let tcp: Vec<_> = sm
        .tcp_by_service
        .iter()
        .filter(|t| t.unanswered > 0 || t.resets > 0)
        .collect();
    if !tcp.is_empty() {
        writeln!(out, "  {DIM}TCP trouble by service{DIM:#}")?;
        for t in tcp.iter().take(n) {
            writeln!(
                out,
                "    {:<40} {} of {} attempts unanswered, {} resets",
                cut(&terminal(&t.service), 40),
                thousands(t.unanswered),
                thousands(t.connection_attempts),
                thousands(t.resets)
            )?;
        }
    }
    let dns_errors: Vec<_> = sm
        .dns
        .iter()
        .filter(|d| d.rcode.as_deref().is_some_and(|r| r != "NOERROR"))
        .collect();
    if !dns_errors.is_empty() {
        writeln!(out, "  {DIM}DNS errors{DIM:#}")?;
        for d in dns_errors.iter().take(n) {
            writeln!(
                out,
                "    {:>7}  {} {}",
                thousands(d.records),
                terminal(d.rcode.as_deref().unwrap_or("")),
                cut(&terminal(&d.query), 60)
            )?;
        }
    }
    Ok(())
}

/// Findings first: what a person should act on.
fn findings(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "{BOLD}{} finding(s){BOLD:#}", report.findings.len())?;
    for f in &report.findings {
        let (style, label) = match f.severity {
            Severity::High => (ERR, "HIGH"),
            Severity::Medium => (WARN, "MED "),
            Severity::Low => (DIM, "LOW "),
            Severity::Info => (DIM, "INFO"),
        };
        wrap(
            out,
            &terminal(&f.summary),
            &format!("  {style}{label}{style:#}  "),
            "        ",
        )?;
        for e in &f.evidence {
            wrap(out, &terminal(e), "        - ", "          ")?;
        }
        if let Some(line) = finding_flows(report, f) {
            wrap(out, &line, "        - ", "          ")?;
        }
    }
    writeln!(out)
}

/// The flows a finding concerns, by id (`jq '.flows[ID]'`), the first one
/// spelt out with its Kubernetes names and Community ID.
fn finding_flows(report: &Report, f: &crate::report::Finding) -> Option<String> {
    const SHOWN: usize = 6;
    let first = report.flows.get(usize::try_from(*f.flows.first()?).ok()?)?;
    let ids: Vec<String> = f
        .flows
        .iter()
        .take(SHOWN)
        .map(|i| format!("#{i}"))
        .collect();
    let more = f.flows.len() - ids.len();
    let which = if f.flows.len() == 1 {
        format!("flow {}:", ids[0])
    } else {
        format!(
            "flows {}{}; the first:",
            ids.join(" "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    Some(format!(
        "{which} {}{}",
        flow_line(first),
        first
            .community_id
            .as_ref()
            .map_or(String::new(), |c| format!(", community id {}", terminal(c)))
    ))
}

/// "12.3 ms" from milliseconds.
fn ms(v: f64) -> String {
    human_duration(v / 1000.0)
}

/// "client → server"; for ICMP, whose "ports" are type and code, addresses only.
pub fn flow_line(f: &FlowRecord) -> String {
    let name = |k: &Option<crate::report::K8sRef>| {
        k.as_ref()
            .map_or(String::new(), |k| format!(" ({})", terminal(&k.label())))
    };
    let (c, s) = (name(&f.client_k8s), name(&f.server_k8s));
    if f.icmp.is_some() {
        format!("{}{c} → {}{s}", f.client.ip, f.server.ip)
    } else {
        format!("{}{c} → {}{s}", f.client, f.server)
    }
}

/// A worst-flows list: title, ranking, and how to describe an entry.
type View<'a> = (&'static str, &'a [Ranked], fn(&FlowRecord, f64) -> String);

/// The worst flows by retransmission rate, RTT and response time.
fn worst(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let w = &report.worst_flows;
    let n = opts.top.min(5);
    let views: [View<'_>; 3] = [
        (
            "by retransmission rate",
            &w.retransmission_rate[..],
            |f, v| {
                let t = f.tcp.as_ref();
                let (c, s) = t.map_or((0, 0), |t| {
                    (
                        t.retransmissions.client.segments,
                        t.retransmissions.server.segments,
                    )
                });
                let classes = t.map_or(String::new(), |t| {
                    let r = &t.retransmissions;
                    format!(
                        "rto {} fast {} tlp {}",
                        r.client.rto + r.server.rto,
                        r.client.fast + r.server.fast,
                        r.client.tlp + r.server.tlp
                    )
                });
                format!("{:.2}% ({c}↑ {s}↓; {classes})", v * 100.0)
            },
        ),
        ("by data RTT (p50)", &w.rtt_p50_ms[..], |f, v| {
            let p99 = f.tcp.as_ref().and_then(|t| t.rtt_ms).map_or(0.0, |r| r.p99);
            format!("p50 {}  p99 {}", ms(v), ms(p99))
        }),
        (
            "by response time (p50)",
            &w.response_time_p50_ms[..],
            |f, v| {
                let t = f.tcp.as_ref();
                let hs = t.and_then(|t| t.handshake_rtt_ms);
                let n = t.and_then(|t| t.response_time_ms).map_or(0, |r| r.count);
                match hs {
                    Some(h) => format!("p50 {} ({n}×; handshake {})", ms(v), ms(h)),
                    None => format!("p50 {} ({n}×)", ms(v)),
                }
            },
        ),
    ];
    if views.iter().all(|(_, v, _)| v.is_empty()) {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{BOLD}Worst flows{BOLD:#}")?;
    for (title, list, describe) in views {
        if list.is_empty() {
            continue;
        }
        writeln!(out, "  {DIM}{title}{DIM:#}")?;
        for r in list.iter().take(n) {
            let Some(f) = report.flows.get(r.flow as usize) else {
                continue;
            };
            let (line, what) = (flow_line(f), describe(f, r.value));
            if 4 + 7 + line.chars().count() + 2 + what.chars().count() <= 80 {
                writeln!(out, "    {:<6} {line}  {what}", f.proto)?;
            } else {
                writeln!(out, "    {:<6} {line}", f.proto)?;
                writeln!(out, "    {:<6} {what}", "")?;
            }
        }
    }
    Ok(())
}

/// Top talkers and subnets, aligned in columns.
fn rollups(report: &Report, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    for v in super::rollup_views(report, opts.top.min(10)) {
        if v.rows.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "{BOLD}{}{BOLD:#}", v.title)?;
        let mut widths: Vec<usize> = v.headers.iter().map(|h| h.len()).collect();
        for r in &v.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| -> String {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            format!("  {}", parts.join("  ").trim_end())
        };
        writeln!(out, "{DIM}{}{DIM:#}", line(v.headers.clone()))?;
        for r in &v.rows {
            writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
        }
    }
    Ok(())
}

/// The DNS section.
fn dns(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some(d) = &report.dns else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(out, "{BOLD}DNS{BOLD:#}")?;
    let unanswered = if d.unanswered > 0 {
        format!("{WARN}{} unanswered{WARN:#}", d.unanswered)
    } else {
        "0 unanswered".to_string()
    };
    let mut line = format!(
        "{} queries, {} responses, {unanswered}",
        thousands(d.queries),
        thousands(d.responses)
    );
    if d.pending_at_end > 0 {
        line.push_str(&format!(", {} pending at end", d.pending_at_end));
    }
    wrap(out, &line, "  ", "  ")?;
    if let Some(l) = &d.latency_ms {
        writeln!(
            out,
            "  latency p50 {}, p99 {}, max {} ({} answered)",
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            thousands(l.count)
        )?;
    }
    if !d.rcodes.is_empty() {
        let text: Vec<String> = largest_first(&d.rcodes)
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        wrap(out, &format!("rcodes: {}", text.join(", ")), "  ", "    ")?;
    }
    if !d.top_names.is_empty() {
        writeln!(out, "  {DIM}top names{DIM:#}")?;
        for n in d.top_names.iter().take(5) {
            // Names were escaped to inert ASCII when parsed; long ones are cut.
            writeln!(out, "    {:>7}  {}", thousands(n.queries), cut(&n.name, 68))?;
        }
    }
    for s in d.servers.iter().take(5) {
        let lat = s
            .latency_ms
            .map_or(String::new(), |l| format!(", p50 {}", ms(l.p50)));
        writeln!(
            out,
            "  server {}: {} queries, {} unanswered{lat}",
            Endpoint {
                ip: s.ip,
                port: s.port
            },
            thousands(s.queries),
            thousands(s.unanswered)
        )?;
    }
    Ok(())
}

/// Shortens `s` to `max` characters with an ellipsis.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Names the ICMP errors an engineer meets most; others by number.
fn icmp_error_name(v6: bool, icmp_type: u8, code: u8) -> String {
    let name = match (v6, icmp_type, code) {
        (false, 3, 0) => "net unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 4) => "fragmentation needed",
        (false, 3, 13) => "administratively prohibited",
        (false, 3, _) => "destination unreachable",
        (false, 11, _) => "time exceeded",
        (false, 12, _) => "parameter problem",
        (true, 1, 4) => "port unreachable",
        (true, 1, 1) => "administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, _) => "destination unreachable",
        (true, 2, _) => "packet too big",
        (true, 3, _) => "time exceeded",
        (true, 4, _) => "parameter problem",
        _ => "",
    };
    if name.is_empty() {
        format!("type {icmp_type} code {code}")
    } else {
        format!("{name} ({icmp_type}/{code})")
    }
}

/// Characters a terminal shows (styling escapes excluded).
fn visible_len(s: &str) -> usize {
    anstream::adapter::strip_str(s).to_string().chars().count()
}

/// Keeps the last `max` characters of `s`, marking the cut with an ellipsis.
fn cut_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

/// Wraps a long line at word boundaries to stay within 80 columns; words
/// longer than a line (paths) are broken.
fn wrap(out: &mut dyn Write, text: &str, first: &str, rest: &str) -> io::Result<()> {
    let width = 80 - rest.chars().count();
    let mut words: Vec<String> = Vec::new();
    for word in text.split(' ') {
        let chars: Vec<char> = word.chars().collect();
        for chunk in chars.chunks(width.max(1)) {
            words.push(chunk.iter().collect());
        }
    }
    let mut line = String::from(first);
    let mut empty = true;
    for word in &words {
        if !empty && visible_len(&line) + 1 + word.chars().count() > 80 {
            writeln!(out, "{line}")?;
            line = String::from(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    writeln!(out, "{line}")
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes with a decimal unit: "512 B", "1.5 kB", "12.3 MB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Seconds as "850 µs", "12.3 ms", "4.56 s", "3m 05s", "2h 03m".
pub fn human_duration(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.2} s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// UTC "YYYY-MM-DD hh:mm:ss.mmm" from Unix nanoseconds.
pub fn utc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(12_300_000), "12.3 MB");
        assert_eq!(human_duration(0.0123), "12.3 ms");
        assert_eq!(human_duration(185.0), "3m 05s");
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_764_160_201_123_000_000), "2025-11-26 12:30:01.123");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29 00:00:00.000");
        // Milliseconds are cut, not rounded; times before 1970 count back.
        assert_eq!(utc(999_999_999), "1970-01-01 00:00:00.999");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999");
    }
}
