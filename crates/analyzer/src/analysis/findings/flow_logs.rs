//! Flow logs (Hubble, Retina's flows included): drops by reason with the
//! workloads they hit, and Retina's `RETRANSMISSION` verdicts judged by the
//! same rule as captured retransmissions.

use super::pct;
use crate::report::hubble::DroppedRow;
use crate::report::{Finding, Report, Severity, Thresholds};

/// Pairs of endpoints named per finding.
const SHOWN: usize = 5;

/// What a flow-log drop reason means (Cilium's and Retina's names).
fn meaning(reason: &str) -> (&'static str, bool) {
    let r = reason.to_ascii_uppercase();
    if r.contains("POLICY") || r.contains("DENIED") || r.contains("IPTABLE_RULE") {
        ("a network policy or firewall rule", true)
    } else if r.contains("CONNTRACK") || r.starts_with("CT_") {
        (
            "the connection-tracking table (full or out of state)",
            false,
        )
    } else if r.contains("NAT") {
        ("address translation (NAT) failed", false)
    } else if r.contains("UNROUTABLE") || r.contains("NO_ROUTE") || r.contains("FIB") {
        ("no route to the destination", false)
    } else {
        ("a drop in the datapath", false)
    }
}

pub(super) fn flow_log_drops(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
    let Some(s) = report.hubble.as_ref().and_then(|h| h.summary.as_ref()) else {
        return;
    };
    for g in s.drop_reasons.iter().filter(|g| g.dropped > 0) {
        let rows: Vec<&DroppedRow> = s.dropped.iter().filter(|d| d.reason == g.key).collect();
        let (what, policy) = meaning(&g.key);
        let pairs: Vec<String> = rows
            .iter()
            .take(SHOWN)
            .map(|d| {
                let to = d.service.as_deref().unwrap_or(&d.destination);
                format!("{} → {to} ({})", d.source, d.packets)
            })
            .collect();
        let between = match rows.first() {
            Some(d) if rows.len() == 1 => format!(
                " from {} to {}",
                d.source,
                d.service.as_deref().unwrap_or(&d.destination)
            ),
            Some(_) => format!(" between {} pairs of endpoints", rows.len()),
            None => String::new(),
        };
        let many = g.dropped >= t.flow_log_drops_high;
        let mut evidence = vec![format!(
            "{}: {} packet(s) in {} DROPPED record(s)",
            g.key, g.dropped, g.records
        )];
        if !pairs.is_empty() {
            evidence.push(format!("dropped: {}", pairs.join(", ")));
        }
        out.push(Finding {
            severity: match (policy, many) {
                (true, true) => Severity::High,
                (_, true) | (true, false) => Severity::Medium,
                (false, false) => Severity::Low,
            },
            kind: "flow_log_drops",
            summary: format!(
                "the flow logs show {} packet(s) dropped with {}{between}: {what}",
                g.dropped, g.key
            ),
            evidence,
            impact: g.records,
            flows: Vec::new(),
        });
    }
}

/// Retina's `RETRANSMISSION` verdicts per source workload, against the
/// packets of that workload: the rule of captured retransmissions
/// (`--retrans-threshold`, at least the path minimum of segments).
pub(super) fn flow_log_retransmissions(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
    let Some(s) = report.hubble.as_ref().and_then(|h| h.summary.as_ref()) else {
        return;
    };
    for g in &s.by_workload {
        if g.retransmissions == 0 || g.packets < t.min_segments {
            continue;
        }
        let rate = g.retransmissions as f64 / g.packets as f64;
        if rate <= t.retrans_rate {
            continue;
        }
        out.push(Finding {
            severity: if rate > 5.0 * t.retrans_rate {
                Severity::High
            } else {
                Severity::Medium
            },
            kind: "flow_log_retransmissions",
            summary: format!(
                "retransmission rate {} on traffic from {} (flow-log RETRANSMISSION verdicts)",
                pct(rate),
                g.key
            ),
            evidence: vec![format!(
                "{} retransmission record(s) over {} packet(s)",
                g.retransmissions, g.packets
            )],
            impact: g.retransmissions,
            flows: Vec::new(),
        });
    }
}
