//! Kernel drops (the capture agent's drop events, joined to flows): one
//! finding per reason that lost packets, in the plain language of its
//! family, naming where it hit (flows, servers, interfaces, code).
//! Normal-life frees (`QUEUE_PURGE` …) never make a finding.

use std::collections::BTreeMap;

use super::MAX_FLOWS;
use crate::report::{DropFamily, DropReason, Finding, FlowRecord, Report, Severity, Thresholds};

/// Entries named per evidence line.
const SHOWN: usize = 5;

/// What a family of drops means, said once per finding.
fn meaning(d: &DropReason) -> &'static str {
    match d.reason.as_str() {
        "TCP_LISTEN_OVERFLOW" => "the server's listen queue (accept backlog) overflowed",
        "SOCKET_RCVBUFF" => "a socket's receive buffer was full: its application reads too slowly",
        "NEIGH_FAILED" | "NEIGH_CREATEFAIL" | "NEIGH_DEAD" => {
            "the next hop's address could not be resolved (ARP/NDP)"
        }
        "IP_OUTNOROUTES" | "IP_INNOROUTES" => "there was no route to the destination",
        "OTHERHOST" => "the frames were not addressed to this host",
        "IP_RPFILTER" => "the reverse-path filter rejected the source address",
        _ => match d.family {
            DropFamily::Policy => "a firewall rule or network policy dropped them",
            DropFamily::NoListener => "nothing listens on that port",
            DropFamily::Congestion => {
                "a queue or buffer was full: congestion, or a receiver that cannot keep up"
            }
            DropFamily::Routing => {
                "addressing or routing: no route, no neighbour, or not for this host"
            }
            DropFamily::Mtu => "the packets were larger than the path allows (MTU)",
            DropFamily::Header => {
                "bad checksums or malformed headers: a faulty NIC, offload or middlebox"
            }
            DropFamily::TcpReceiver => {
                "TCP's receiver discarded segments it did not need: usually a consequence of \
                 retransmissions or reordering, not their cause"
            }
            DropFamily::Unspecified => "the kernel gave no reason",
            DropFamily::Other => "a drop reason this version does not classify",
            DropFamily::Normal => "normal life, not loss",
        },
    }
}

/// How serious `count` drops of this family are (`--kernel-drops-high`).
fn severity(d: &DropReason, flows: &[FlowRecord], t: &Thresholds) -> Severity {
    let many = d.count >= t.kernel_drops_high;
    // A policy drop on a connection that never got an answer is the outage itself.
    let blocked = d.flows.iter().any(|f| {
        flows
            .get(f.flow as usize)
            .and_then(|f| f.tcp.as_ref())
            .is_some_and(|t| t.conn_state == "S0")
    });
    match d.family {
        DropFamily::Policy if many || blocked => Severity::High,
        DropFamily::Congestion | DropFamily::Routing | DropFamily::Mtu if many => Severity::High,
        DropFamily::Policy
        | DropFamily::NoListener
        | DropFamily::Congestion
        | DropFamily::Routing
        | DropFamily::Mtu => Severity::Medium,
        DropFamily::Header if many => Severity::Medium,
        _ => Severity::Low,
    }
}

/// `name (count), …` of the largest entries of a count map.
fn largest(m: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s: Vec<String> = v
        .iter()
        .take(SHOWN)
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    if v.len() > SHOWN {
        s.push(format!("and {} more", v.len() - SHOWN));
    }
    s.join(", ")
}

pub(super) fn kernel_drops(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
    let Some(drops) = &report.drops else { return };
    for d in drops.reasons.iter().filter(|d| d.family.is_loss()) {
        let where_ = match (d.flows.len(), d.servers.first()) {
            (0, _) => match d.by_interface.keys().next() {
                Some(i) if d.by_interface.len() == 1 => format!(" on {i}"),
                _ => String::new(),
            },
            (1, Some(s)) => format!(" on 1 flow to {}", s.endpoint),
            (n, Some(s)) if d.servers.len() == 1 => format!(" on {n} flows to {}", s.endpoint),
            (n, _) if d.servers.len() <= 3 => {
                let s: Vec<String> = d
                    .servers
                    .iter()
                    .map(|s| format!("{} ({})", s.endpoint, s.count))
                    .collect();
                format!(" on {n} flows to {}", s.join(", "))
            }
            (n, _) => format!(" on {n} flows to {} servers", d.servers.len()),
        };
        let mut evidence = vec![format!(
            "{}: {} drop(s), {} of them on flows of the capture ({} family)",
            d.reason,
            d.count,
            d.attributed,
            d.family.as_str()
        )];
        if !d.flows.is_empty() {
            let named: Vec<String> = d
                .flows
                .iter()
                .take(SHOWN)
                .filter_map(|f| {
                    let r = report.flows.get(f.flow as usize)?;
                    Some(format!(
                        "#{} {} {} → {} ({})",
                        f.flow, r.proto, r.client, r.server, f.count
                    ))
                })
                .collect();
            evidence.push(format!("flows: {}", named.join(", ")));
        }
        if d.servers.len() > 3 {
            let s: Vec<String> = d
                .servers
                .iter()
                .take(SHOWN)
                .map(|s| format!("{} ({})", s.endpoint, s.count))
                .collect();
            evidence.push(format!("servers: {}", s.join(", ")));
        }
        evidence.push(format!("interfaces: {}", largest(&d.by_interface)));
        if !d.by_location.is_empty() {
            evidence.push(format!("kernel code: {}", largest(&d.by_location)));
        }
        out.push(Finding {
            severity: severity(d, &report.flows, t),
            kind: "kernel_drops",
            summary: format!(
                "the kernel dropped {} packet(s) with {}{where_}: {}",
                d.count,
                d.reason,
                meaning(d)
            ),
            evidence,
            impact: if d.flows.is_empty() {
                d.count
            } else {
                d.flows.len() as u64
            },
            flows: d.flows.iter().take(MAX_FLOWS).map(|f| f.flow).collect(),
        });
    }
}
