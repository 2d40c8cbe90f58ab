//! Findings: plain-language diagnoses computed from the analysis, each with
//! its evidence and the flows it concerns, ordered by severity.
//!
//! Every threshold lives in [`Thresholds`] with the reason for its default,
//! and can be changed from the command line.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::report::{Endpoint, Finding, Severity, Thresholds};
use crate::report::{FlowRecord, Report};

/// Most flows listed per finding.
const MAX_FLOWS: usize = 20;

fn list(mut ids: Vec<(u64, f64)>) -> Vec<u64> {
    ids.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ids.into_iter().take(MAX_FLOWS).map(|(id, _)| id).collect()
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Computes the findings of a report, most severe first.
pub fn findings(report: &Report, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    unanswered_syns(&report.flows, &mut out);
    refused(&report.flows, &mut out);
    server_resets(&report.flows, &mut out);
    retransmission_paths(&report.flows, t, &mut out);
    zero_windows(&report.flows, &mut out);
    slow_servers(&report.flows, t, &mut out);
    capture_loss(&report.flows, t, &mut out);
    dns(report, t, &mut out);
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.kind.cmp(b.kind)));
    out
}

/// Connection attempts never answered: SYNs retried without a SYN-ACK, per server.
fn unanswered_syns(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    #[derive(Default)]
    struct Attempts {
        attempts: u64,
        unanswered: u64,
        retries: u64,
        ids: Vec<(u64, f64)>,
        clients: Vec<IpAddr>,
    }
    let mut by_server: BTreeMap<(IpAddr, u16), Attempts> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        let e = by_server.entry((f.server.ip, f.server.port)).or_default();
        if t.history.starts_with('S') || t.history.starts_with("^S") || t.syn_retransmissions > 0 {
            e.attempts += 1;
        }
        if t.conn_state == "S0" {
            e.unanswered += 1;
            e.retries += t.syn_retransmissions;
            e.ids.push((f.id, t.syn_retransmissions as f64));
            if !e.clients.contains(&f.client.ip) {
                e.clients.push(f.client.ip);
            }
        }
    }
    for ((ip, port), a) in by_server {
        let Attempts {
            attempts,
            unanswered,
            retries,
            ids,
            clients,
        } = a;
        if unanswered == 0 {
            continue;
        }
        let clients_s: Vec<String> = clients.iter().take(5).map(|c| c.to_string()).collect();
        out.push(Finding {
            severity: Severity::High,
            kind: "unanswered_syn",
            summary: format!(
                "{} did not answer {unanswered} of {attempts} connection attempts: a listener backlog, a drop on the path or a network policy",
                Endpoint { ip, port }
            ),
            evidence: vec![
                format!("{unanswered} connection(s) in state S0 (SYN, no reply); {retries} SYN retransmission(s)"),
                format!(
                    "clients: {}{}",
                    clients_s.join(", "),
                    if clients.len() > 5 { " …" } else { "" }
                ),
            ],
            flows: list(ids),
        });
    }
}

/// Connections refused with a reset (REJ), per server.
fn refused(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    let mut by_server: BTreeMap<(IpAddr, u16), Vec<(u64, f64)>> = BTreeMap::new();
    for f in flows {
        if f.tcp.as_ref().is_some_and(|t| t.conn_state == "REJ") {
            by_server
                .entry((f.server.ip, f.server.port))
                .or_default()
                .push((f.id, 1.0));
        }
    }
    for ((ip, port), ids) in by_server {
        out.push(Finding {
            severity: Severity::Medium,
            kind: "refused",
            summary: format!(
                "{} refused {} connection attempt(s) with a reset: nothing listens there",
                Endpoint { ip, port },
                ids.len()
            ),
            evidence: vec![format!("{} connection(s) in state REJ", ids.len())],
            flows: list(ids),
        });
    }
}

/// Servers resetting established connections, per server.
fn server_resets(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    /// Reset flows, and how many of them cut a request short.
    type Resets = (Vec<(u64, f64)>, u64);
    let mut by_server: BTreeMap<(IpAddr, u16), Resets> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        if t.conn_state == "RSTR" {
            let e = by_server.entry((f.server.ip, f.server.port)).or_default();
            e.0.push((f.id, 1.0));
            if t.response_time_ms.is_none() && f.payload_bytes.client > 0 {
                e.1 += 1; // reset while a request was unanswered
            }
        }
    }
    for ((ip, port), (ids, during_request)) in by_server {
        let mut evidence = vec![format!(
            "{} connection(s) reset by the server (RSTR)",
            ids.len()
        )];
        if during_request > 0 {
            evidence.push(format!(
                "{during_request} of them reset after a request, before any response"
            ));
        }
        out.push(Finding {
            severity: if during_request > 0 {
                Severity::High
            } else {
                Severity::Medium
            },
            kind: "server_resets",
            summary: format!(
                "{} reset {} established connection(s)",
                Endpoint { ip, port },
                ids.len()
            ),
            evidence,
            flows: list(ids),
        });
    }
}

/// High retransmission rate on some paths while others are clean.
fn retransmission_paths(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
    #[derive(Default)]
    struct Path {
        segs: u64,
        re: u64,
        rto: u64,
        fast: u64,
        tlp: u64,
        ids: Vec<(u64, f64)>,
    }
    let mut paths: BTreeMap<(IpAddr, IpAddr, u16), Path> = BTreeMap::new();
    for f in flows {
        let Some(tc) = &f.tcp else { continue };
        let p = paths
            .entry((f.client.ip, f.server.ip, f.server.port))
            .or_default();
        let r = &tc.retransmissions;
        let re = r.client.segments + r.server.segments;
        p.segs += tc.data_segments.client + tc.data_segments.server;
        p.re += re;
        p.rto += r.client.rto + r.server.rto;
        p.fast += r.client.fast + r.server.fast;
        p.tlp += r.client.tlp + r.server.tlp;
        if re > 0 {
            p.ids.push((f.id, re as f64));
        }
    }
    let rate = |p: &Path| {
        if p.segs == 0 {
            0.0
        } else {
            p.re as f64 / p.segs as f64
        }
    };
    let bad: Vec<_> = paths
        .iter()
        .filter(|(_, p)| p.segs >= t.min_segments && rate(p) > t.retrans_rate)
        .collect();
    let clean = paths
        .iter()
        .filter(|(_, p)| p.segs >= t.min_segments && rate(p) <= t.retrans_rate)
        .count();
    for ((c, s, port), p) in bad {
        let mut evidence = vec![format!(
            "{} of {} data segments retransmitted (rto {}, fast {}, tlp {})",
            p.re, p.segs, p.rto, p.fast, p.tlp
        )];
        if clean > 0 {
            evidence.push(format!(
                "{clean} other path(s) stay at or below {}",
                pct(t.retrans_rate)
            ));
        }
        out.push(Finding {
            severity: if rate(p) > 5.0 * t.retrans_rate {
                Severity::High
            } else {
                Severity::Medium
            },
            kind: "retransmissions",
            summary: format!(
                "retransmission rate {} on {c} ↔ {}",
                pct(rate(p)),
                Endpoint {
                    ip: *s,
                    port: *port
                }
            ),
            evidence,
            flows: list(p.ids.clone()),
        });
    }
}

/// Receivers advertising zero windows: a slow reader.
fn zero_windows(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    let mut by_host: BTreeMap<IpAddr, (u64, Vec<(u64, f64)>)> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        for (ip, n) in [
            (f.client.ip, t.zero_windows.client),
            (f.server.ip, t.zero_windows.server),
        ] {
            if n > 0 {
                let e = by_host.entry(ip).or_default();
                e.0 += n;
                e.1.push((f.id, n as f64));
            }
        }
    }
    for (ip, (n, ids)) in by_host {
        out.push(Finding {
            severity: Severity::Medium,
            kind: "zero_window",
            summary: format!("{ip} advertised a zero receive window {n} time(s): its application reads too slowly"),
            evidence: vec![format!("{n} zero-window advertisement(s) in {} flow(s)", ids.len())],
            flows: list(ids),
        });
    }
}

/// Slow server response next to a fast network.
fn slow_servers(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
    /// Response p50s, handshake RTTs, and the flows.
    type Times = (Vec<f64>, Vec<f64>, Vec<(u64, f64)>);
    let mut by_server: BTreeMap<(IpAddr, u16), Times> = BTreeMap::new();
    for f in flows {
        let Some(tc) = &f.tcp else { continue };
        let Some(r) = tc.response_time_ms else {
            continue;
        };
        let e = by_server.entry((f.server.ip, f.server.port)).or_default();
        e.0.push(r.p50);
        if let Some(h) = tc.handshake_rtt_ms {
            e.1.push(h);
        }
        e.2.push((f.id, r.p50));
    }
    for ((ip, port), (resp, hs, ids)) in by_server {
        let med = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len().saturating_sub(1) / 2).copied()
        };
        let Some(r) = med(resp) else { continue };
        let h = med(hs);
        if r < t.slow_response_ms || h.is_some_and(|h| r < h * t.response_vs_rtt) {
            continue;
        }
        let network = h.map_or("no handshake seen".to_string(), |h| {
            format!("handshake RTT {h:.2} ms")
        });
        out.push(Finding {
            severity: Severity::Medium,
            kind: "slow_server",
            summary: format!(
                "{} is slow to respond (median {r:.0} ms) while the network is fast ({network}): the server, not the network",
                Endpoint { ip, port }
            ),
            evidence: vec![format!("median response time {r:.1} ms over {} flow(s); {network}", ids.len())],
            flows: list(ids),
        });
    }
}

/// Capture loss: how far the numbers can be trusted.
fn capture_loss(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
    let mut lost = 0;
    let mut segs = 0;
    let mut ids = Vec::new();
    for f in flows {
        let Some(tc) = &f.tcp else { continue };
        let l = tc.capture_lost_segments.client + tc.capture_lost_segments.server;
        lost += l;
        segs += tc.data_segments.client + tc.data_segments.server;
        if l > 0 {
            ids.push((f.id, l as f64));
        }
    }
    if lost == 0 || segs == 0 {
        return;
    }
    let rate = lost as f64 / (segs + lost) as f64;
    let reliable = rate <= t.capture_loss_rate;
    out.push(Finding {
        severity: if reliable {
            Severity::Low
        } else {
            Severity::Medium
        },
        kind: "capture_loss",
        summary: format!(
            "the capture missed {} of the segments ({lost}){}",
            pct(rate),
            if reliable {
                ": the numbers above are reliable"
            } else {
                ": loss and RTT figures may be understated or skewed"
            }
        ),
        evidence: vec![format!(
            "{lost} segment(s) acknowledged but never captured, in {} flow(s)",
            ids.len()
        )],
        flows: list(ids),
    });
}

/// DNS timeouts and NXDOMAIN spikes.
fn dns(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
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
    if d.unanswered > 0 {
        let servers: Vec<String> = d
            .servers
            .iter()
            .filter(|s| s.unanswered > 0)
            .take(5)
            .map(|s| {
                format!(
                    "{} ({} of {})",
                    Endpoint {
                        ip: s.ip,
                        port: s.port
                    },
                    s.unanswered,
                    s.queries
                )
            })
            .collect();
        out.push(Finding {
            severity: Severity::High,
            kind: "dns_unanswered",
            summary: format!(
                "{} of {} DNS queries got no answer",
                d.unanswered, d.queries
            ),
            evidence: vec![format!("unanswered by server: {}", servers.join(", "))],
            flows: dns_flows(&|d| d.unanswered as f64),
        });
    }
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
            flows: dns_flows(&|d| d.rcodes.get("SERVFAIL").copied().unwrap_or(0) as f64),
        });
    }
}
