//! DNS: unanswered queries, NXDOMAIN and SERVFAIL.

use super::{list, pct};
use crate::report::{Endpoint, Finding, Report, Severity, Thresholds};

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
