//! Connections that never got going: unanswered, refused, reset.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::list;
use crate::report::{Endpoint, Finding, FlowRecord, Severity};

/// Connection attempts never answered: SYNs retried without a SYN-ACK, per server.
pub(super) fn unanswered_syns(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    #[derive(Default)]
    struct Attempts {
        attempts: u64,
        unanswered: u64,
        retries: u64,
        ids: Vec<(u64, f64)>,
        /// The first clients (in flow order) and how many there were.
        clients: Vec<IpAddr>,
        all_clients: std::collections::HashSet<IpAddr>,
        /// Kernel drops of these flows' packets, by reason (agent bundles).
        drops: BTreeMap<String, u64>,
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
            if e.all_clients.insert(f.client.ip) && e.clients.len() < 6 {
                e.clients.push(f.client.ip);
            }
            for (r, n) in f.drops.iter().flat_map(|d| &d.by_reason) {
                *e.drops.entry(r.clone()).or_default() += n;
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
            all_clients,
            drops,
        } = a;
        if unanswered == 0 {
            continue;
        }
        let clients_s: Vec<String> = clients.iter().take(5).map(|c| c.to_string()).collect();
        let mut evidence = vec![
            format!("{unanswered} connection(s) in state S0 (SYN, no reply); {retries} SYN retransmission(s)"),
            format!(
                "clients: {}{}",
                clients_s.join(", "),
                if all_clients.len() > 5 { " …" } else { "" }
            ),
        ];
        if !drops.is_empty() {
            let r: Vec<String> = drops.iter().map(|(r, n)| format!("{r} ({n})")).collect();
            evidence.push(format!(
                "the kernel dropped packets of these connections: {}",
                r.join(", ")
            ));
        }
        out.push(Finding {
            severity: Severity::High,
            kind: "unanswered_syn",
            summary: format!(
                "{} did not answer {unanswered} of {attempts} connection attempts: a listener backlog, a drop on the path or a network policy",
                Endpoint { ip, port }
            ),
            evidence,
            flows: list(ids),
        });
    }
}

/// Connections refused with a reset (REJ), per server.
pub(super) fn refused(flows: &[FlowRecord], out: &mut Vec<Finding>) {
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
pub(super) fn server_resets(flows: &[FlowRecord], out: &mut Vec<Finding>) {
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
