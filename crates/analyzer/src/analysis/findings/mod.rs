//! Findings: plain-language diagnoses computed from the analysis, each with
//! its evidence and the flows it concerns, ordered by severity. One file per
//! subject: connections (unanswered, refused, reset), transport (loss,
//! windows, slow servers, capture loss), DNS, kernel drops, flow logs.
//!
//! Every threshold lives in [`Thresholds`] with the reason for its default,
//! and can be changed from the command line.

mod connections;
mod dns;
mod drops;
mod flow_logs;
pub mod points;
mod transport;

use crate::report::{Finding, Report, Thresholds};

#[cfg(test)]
mod say_once_tests {
    use super::say_once;
    use crate::report::{Finding, Severity};

    fn f(kind: &'static str, summary: &str, evidence: &[&str]) -> Finding {
        Finding {
            severity: Severity::High,
            kind,
            summary: summary.into(),
            evidence: evidence.iter().map(|e| e.to_string()).collect(),
            impact: 1,
            flows: Vec::new(),
        }
    }

    #[test]
    fn shared_context_is_said_once_per_kind() {
        let why = "a listener backlog, a drop on the path or a network policy";
        let hint = "allow ICMP fragmentation needed on the path, or lower the MTU";
        let mut v = vec![
            f(
                "unanswered_syn",
                &format!("a:80 did not answer 3 of 3: {why}"),
                &[hint, "3 in S0"],
            ),
            f(
                "unanswered_syn",
                &format!("b:443 did not answer 2 of 9: {why}"),
                &[hint, "2 in S0"],
            ),
            f("refused", &format!("c:22 refused 1: {why}"), &[hint]),
        ];
        say_once(&mut v);
        assert_eq!(v[0].summary, format!("a:80 did not answer 3 of 3: {why}"));
        assert_eq!(v[1].summary, "b:443 did not answer 2 of 9 (as above)");
        assert_eq!(v[0].evidence, vec![hint, "3 in S0"]);
        assert_eq!(v[1].evidence, vec!["2 in S0"]);
        // Another kind says its own.
        assert_eq!(v[2].summary, format!("c:22 refused 1: {why}"));
        assert_eq!(v[2].evidence, vec![hint]);
    }
}

/// Every kind of finding the code emits: (kind, severity rule, when it
/// appears). The one list docs/json-schema.md prints; a test checks that
/// every `kind:` written in this folder is in it.
pub const FINDING_KINDS: &[(&str, &str, &str)] = &[
    (
        "unanswered_syn",
        "HIGH when a client retried its SYN in vain or from 2 unanswered attempts, MEDIUM for 1 attempt never retried, not counting single SYNs in the capture's last second (perhaps answered after it): LOW when there are only those",
        "a server left connection attempts unanswered (flows in state S0), per server, with the SYN retries and the clients",
    ),
    (
        "slow_connect",
        "HIGH when at least 2 connections and a tenth of the server's waited, MEDIUM for 2 or more, else LOW",
        "connections that got through late: SYN retries before the server answered (a full listen backlog, drops on the path, a policy) or a connect time (first SYN to the final ACK) above `--slow-connect-ms` (default 1000), per server, with p50/p99 connect time beside the handshake RTT",
    ),
    (
        "refused",
        "MEDIUM",
        "a server refused connections with a reset (REJ)",
    ),
    (
        "server_resets",
        "HIGH if a reset cut a request short before any response, else MEDIUM",
        "a server reset established connections (RSTR)",
    ),
    (
        "retransmissions",
        "HIGH above 5× the threshold, else MEDIUM",
        "a path (client, server, port) with at least 20 data segments retransmits more than `--retrans-threshold` (default 0.01), shown beside the paths that do not",
    ),
    (
        "path_mtu",
        "HIGH when a flow it concerns did not complete, else MEDIUM",
        "a hop answered ICMP fragmentation needed / packet too big: the path's MTU (named, with the overlay it suggests) is below the senders', full-size segments died there and were sent again; per reporter and MTU, with the flows and their retransmissions",
    ),
    (
        "path_mtu_black_hole",
        "HIGH",
        "connections stalled after the handshake whose full-size segments were retransmitted by timeout again and again without any ICMP too-big, duplicate ACK or fast retransmission: a hop with a smaller MTU whose ICMP is filtered, per server",
    ),
    (
        "zero_window",
        "MEDIUM",
        "a host advertised zero receive windows: its application reads too slowly",
    ),
    (
        "slow_server",
        "MEDIUM",
        "median response time above `--slow-response-ms` (default 200) and 10× the handshake RTT: the server, not the network",
    ),
    (
        "capture_loss",
        "LOW if at most `--capture-loss-threshold` (default 0.001) of segments were missed, else MEDIUM",
        "the capture missed segments: how far the numbers can be trusted",
    ),
    (
        "dns_unanswered",
        "unicast servers: HIGH for 3 or more unanswered queries and at least 1% of their queries, MEDIUM for 2, LOW for 1; multicast and link-local protocols (mDNS, LLMNR, NetBIOS, SSDP): LOW",
        "DNS queries without an answer (older than the server's timeout when the capture ended), by server, with the names asked for",
    ),
    ("dns_servfail", "MEDIUM", "SERVFAIL responses"),
    (
        "dns_nxdomain",
        "LOW",
        "NXDOMAIN share of responses above `--nxdomain-threshold` (default 0.2)",
    ),
    (
        "kernel_drops",
        "HIGH for policy drops when at least `--kernel-drops-high` (default 10) or when a connection they hit was never answered, and for congestion, routing or MTU drops when at least that many; MEDIUM for other policy, no-listener, congestion, routing and MTU drops and for many bad-header drops; else LOW",
        "the kernel dropped packets (capture-agent drop events): one finding per reason that lost packets, in the plain language of its family, with the flows, servers, interfaces and code locations it hit; normal-life frees never make one",
    ),
    (
        "flow_log_drops",
        "HIGH for a policy drop reason with at least `--flow-log-drops-high` (default 10) packets; MEDIUM for a policy reason or many packets; else LOW",
        "Hubble flow logs show DROPPED records: one finding per drop reason, with the pairs of workloads it hit",
    ),
    (
        "flow_log_retransmissions",
        "HIGH above 5× `--retrans-threshold`, else MEDIUM",
        "Retina's RETRANSMISSION verdicts of one source workload exceed `--retrans-threshold` of its packets (at least 20 packets), the rule of captured retransmissions",
    ),
];

/// Most flows listed per finding.
pub(super) const MAX_FLOWS: usize = 20;

pub(super) fn list(mut ids: Vec<(u64, f64)>) -> Vec<u64> {
    ids.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ids.into_iter().take(MAX_FLOWS).map(|(id, _)| id).collect()
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Computes the findings of a report, most severe first.
pub fn findings(report: &Report, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    connections::unanswered_syns(&report.flows, report.capture.last_ts_ns, &mut out);
    let listen_queues = connections::listen_queue_counters(&report.capture.archives);
    connections::slow_connects(&report.flows, t, listen_queues.as_deref(), &mut out);
    connections::refused(&report.flows, &mut out);
    connections::server_resets(&report.flows, &mut out);
    transport::retransmission_paths(&report.flows, t, &mut out);
    transport::zero_windows(&report.flows, &mut out);
    transport::slow_servers(&report.flows, t, &mut out);
    transport::capture_loss(&report.flows, t, &mut out);
    transport::path_mtu(&report.flows, &mut out);
    transport::path_mtu_black_holes(&report.flows, &mut out);
    dns::dns(report, t, &mut out);
    drops::kernel_drops(report, t, &mut out);
    flow_logs::flow_log_drops(report, t, &mut out);
    flow_logs::flow_log_retransmissions(report, t, &mut out);
    points::lost_between(report, t, &mut out);
    // Most severe first; within a severity, what concerns the most first.
    out.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(b.impact.cmp(&a.impact))
            .then(a.kind.cmp(b.kind))
    });
    say_once(&mut out);
    out
}

/// Context shared by findings of one kind is said once, in the first (most
/// severe, largest) of them: the explanation after a summary's last ": "
/// (the likely causes of unanswered connections, say) and evidence lines
/// repeated word for word.
fn say_once(findings: &mut [Finding]) {
    use std::collections::HashSet;
    let mut said: HashSet<(&'static str, String)> = HashSet::new();
    for f in findings.iter_mut() {
        let kind = f.kind;
        if let Some((head, why)) = f.summary.rsplit_once(": ") {
            if why.len() >= 25 && !said.insert((kind, why.to_string())) {
                f.summary = format!("{head} (as above)");
            }
        }
        f.evidence
            .retain(|e| e.len() < 25 || said.insert((kind, format!("evidence: {e}"))));
    }
}

#[cfg(test)]
mod tests {
    use super::FINDING_KINDS;

    /// Every `kind: "..."` written in this folder is in [`FINDING_KINDS`],
    /// and every entry there is emitted somewhere.
    #[test]
    fn finding_kinds_list_every_kind_the_code_emits() {
        let sources = [
            include_str!("connections.rs"),
            include_str!("transport.rs"),
            include_str!("dns.rs"),
            include_str!("drops.rs"),
            include_str!("flow_logs.rs"),
        ];
        let mut emitted: Vec<&str> = sources
            .iter()
            .flat_map(|s| s.split("kind: \"").skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        emitted.sort_unstable();
        emitted.dedup();
        let mut listed: Vec<&str> = FINDING_KINDS.iter().map(|k| k.0).collect();
        listed.sort_unstable();
        assert_eq!(emitted, listed);
    }
}
