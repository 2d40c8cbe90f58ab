//! DNS: unanswered queries, NXDOMAIN and SERVFAIL.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{list, pct};
use crate::report::{DnsSummary, Endpoint, Finding, Report, Severity, Thresholds};

/// Names listed in a finding.
const NAMES_SHOWN: usize = 5;

/// Multicast and link-local name protocols (mDNS, LLMNR, NetBIOS, SSDP):
/// their queries go to a group, and answers, when any, come from other
/// hosts as other flows. An "unanswered" query there is normal life.
fn link_local(ip: IpAddr, port: u16) -> bool {
    ip.is_multicast() || matches!(port, 5353 | 5355 | 137 | 1900)
}

/// Unanswered queries: one finding for unicast servers (by count: a single
/// query is LOW, two MEDIUM, three or more and at least 1% of their queries
/// HIGH), one LOW finding for multicast and link-local protocols. Each
/// names the servers and the names asked for.
fn unanswered(report: &Report, d: &DnsSummary, out: &mut Vec<Finding>) {
    for multicast in [false, true] {
        let servers: Vec<_> = d
            .servers
            .iter()
            .filter(|s| s.unanswered > 0 && link_local(s.ip, s.port) == multicast)
            .collect();
        let n: u64 = servers.iter().map(|s| s.unanswered).sum();
        if n == 0 {
            continue;
        }
        let queries: u64 = servers.iter().map(|s| s.queries).sum();
        let mut names: BTreeMap<&str, u64> = BTreeMap::new();
        let mut flows = Vec::new();
        for f in &report.flows {
            let Some(fd) = &f.dns else { continue };
            if fd.unanswered == 0 || link_local(f.server.ip, f.server.port) != multicast {
                continue;
            }
            flows.push((f.id, fd.unanswered as f64));
            for (k, v) in &fd.unanswered_names {
                *names.entry(k).or_insert(0) += v;
            }
        }
        let mut top: Vec<(&str, u64)> = names.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = top
            .iter()
            .take(NAMES_SHOWN)
            .map(|(k, v)| {
                if *v > 1 {
                    format!("{k} ×{v}")
                } else {
                    k.to_string()
                }
            })
            .collect();
        let more = top.len().saturating_sub(NAMES_SHOWN);
        let names = format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more name(s)")
            } else {
                String::new()
            }
        );
        let by_server: Vec<String> = servers
            .iter()
            .take(5)
            .map(|s| {
                format!(
                    "{} ({} of {}, timeout {:.2} s{})",
                    Endpoint {
                        ip: s.ip,
                        port: s.port
                    },
                    s.unanswered,
                    s.queries,
                    s.timeout_ms / 1e3,
                    if s.pending_at_end > 0 {
                        format!(", {} younger pending at the end", s.pending_at_end)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let (severity, summary) = if multicast {
            (
                Severity::Low,
                format!(
                    "{n} multicast or link-local name queries (mDNS, LLMNR, NetBIOS, SSDP) had no answer from the address asked: usual, other hosts answer as other flows ({names})"
                ),
            )
        } else {
            let severity = if n >= 3 && n as f64 >= 0.01 * queries as f64 {
                Severity::High
            } else if n >= 2 {
                Severity::Medium
            } else {
                Severity::Low
            };
            (
                severity,
                format!("{n} of {queries} DNS queries got no answer: {names}"),
            )
        };
        out.push(Finding {
            severity,
            kind: "dns_unanswered",
            summary,
            evidence: vec![format!("unanswered by server: {}", by_server.join(", "))],
            impact: flows.len() as u64,
            flows: list(flows),
        });
    }
}

/// DNS timeouts and NXDOMAIN spikes.
pub(super) fn dns(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
    let Some(d) = &report.dns else { return };
    let dns_flows = |pred: &dyn Fn(&crate::report::DnsFlowRecord) -> f64| {
        list(
            report
                .flows
                .iter()
                .filter_map(|f| f.dns.as_ref().map(|d| (f.id, pred(d))))
                .filter(|(_, v)| *v > 0.0)
                .collect(),
        )
    };
    unanswered(report, d, out);
    let nx = d.rcodes.get("NXDOMAIN").copied().unwrap_or(0);
    if d.responses > 0 && nx as f64 / d.responses as f64 > t.nxdomain_rate {
        out.push(Finding {
            severity: Severity::Low,
            kind: "dns_nxdomain",
            summary: format!(
                "{} of DNS responses are NXDOMAIN ({nx} of {}): search-path expansion or a misspelt service name",
                pct(nx as f64 / d.responses as f64),
                d.responses
            ),
            evidence: vec![format!("rcodes: {:?}", d.rcodes)],
            impact: nx,
            flows: dns_flows(&|d| d.rcodes.get("NXDOMAIN").copied().unwrap_or(0) as f64),
        });
    }
    let fail = d.rcodes.get("SERVFAIL").copied().unwrap_or(0);
    if fail > 0 {
        out.push(Finding {
            severity: Severity::Medium,
            kind: "dns_servfail",
            summary: format!("{fail} DNS response(s) were SERVFAIL: the resolver could not answer"),
            evidence: vec![format!("{fail} of {} responses", d.responses)],
            impact: fail,
            flows: dns_flows(&|d| d.rcodes.get("SERVFAIL").copied().unwrap_or(0) as f64),
        });
    }
}
