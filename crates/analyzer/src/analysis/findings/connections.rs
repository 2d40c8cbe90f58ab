//! Connections that never got going: unanswered, refused, reset.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::list;
use crate::analysis::stats::percentile;
use crate::report::{Endpoint, Finding, FlowRecord, Severity, Thresholds};

/// A SYN younger than this when the capture ended, never retried, may have
/// been answered after it (Linux retries an unanswered SYN after 1 s).
const EDGE_NS: i64 = 1_000_000_000;

/// Connection attempts never answered: SYNs retried without a SYN-ACK, per
/// server. HIGH when a client retried its SYN in vain or from two attempts,
/// MEDIUM for one attempt never retried, not counting single SYNs in the
/// capture's last second (`capture_end_ns`), which may have been answered
/// after it: LOW when there are only those.
pub(super) fn unanswered_syns(
    flows: &[FlowRecord],
    capture_end_ns: Option<i64>,
    out: &mut Vec<Finding>,
) {
    #[derive(Default)]
    struct Attempts {
        attempts: u64,
        unanswered: u64,
        /// Of those, single SYNs in the capture's last second.
        at_edge: u64,
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
            if t.syn_retransmissions == 0
                && capture_end_ns.is_some_and(|end| end - f.last_ts_ns < EDGE_NS)
            {
                e.at_edge += 1;
            }
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
            at_edge,
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
        if at_edge > 0 {
            evidence.push(format!(
                "{at_edge} of them a single SYN in the capture's last second: perhaps answered after it ended"
            ));
        }
        let (severity, why) = if at_edge == unanswered {
            (
                Severity::Low,
                "sent in the capture's last second, perhaps answered after it",
            )
        } else if retries > 0 || unanswered - at_edge >= 2 {
            (
                Severity::High,
                "a listener backlog, a drop on the path or a network policy",
            )
        } else {
            (
                Severity::Medium,
                "a listener backlog, a drop on the path or a network policy",
            )
        };
        out.push(Finding {
            severity,
            kind: "unanswered_syn",
            summary: format!(
                "{} did not answer {unanswered} of {attempts} connection attempts: {why}",
                Endpoint { ip, port }
            ),
            evidence,
            impact: ids.len() as u64,
            flows: list(ids),
        });
    }
}

/// Connections refused with a reset (REJ), per server.
pub(super) fn refused(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    // (flow ids, SYN-to-RST times) per refusing server.
    type Refusals = (Vec<(u64, f64)>, Vec<f64>);
    let mut by_server: BTreeMap<(IpAddr, u16), Refusals> = BTreeMap::new();
    // Handshake RTTs of the connections each host accepted.
    let mut accepted: BTreeMap<IpAddr, Vec<f64>> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        if t.conn_state == "REJ" {
            let e = by_server.entry((f.server.ip, f.server.port)).or_default();
            e.0.push((f.id, 1.0));
            e.1.extend(t.handshake_rtt_ms);
        } else if t.handshake.is_some() {
            accepted
                .entry(f.server.ip)
                .or_default()
                .extend(t.handshake_rtt_ms);
        }
    }
    for ((ip, port), (ids, mut times)) in by_server {
        let mut evidence = vec![format!("{} connection(s) in state REJ", ids.len())];
        let mut summary = format!(
            "{} refused {} connection attempt(s) with a reset",
            Endpoint { ip, port },
            ids.len()
        );
        let refused_p50 = percentile(&mut times, 50.0);
        let host_p50 = accepted.get_mut(&ip).and_then(|v| percentile(v, 50.0));
        if let Some(r) = refused_p50 {
            evidence.push(format!(
                "refused in {} (p50, SYN to RST at the capture point)",
                ms(r)
            ));
        }
        match (refused_p50, host_p50) {
            (Some(r), Some(h)) if r < 0.5 * h => {
                summary.push_str(": faster than the host answers its accepted connections, so a firewall or proxy on the path rejected them");
                evidence.push(format!(
                    "the host's accepted connections: handshake RTT p50 {}",
                    ms(h)
                ));
            }
            (_, Some(h)) => {
                summary.push_str(": the host answers, nothing listens on that port");
                evidence.push(format!(
                    "the host's accepted connections: handshake RTT p50 {}",
                    ms(h)
                ));
            }
            _ => summary.push_str(": nothing listens there, or a firewall rejects"),
        }
        out.push(Finding {
            severity: Severity::Medium,
            kind: "refused",
            summary,
            evidence,
            impact: ids.len() as u64,
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
            impact: ids.len() as u64,
            flows: list(ids),
        });
    }
}

/// Milliseconds with the precision their size deserves.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.3} ms")
    }
}

/// Connections that got through, but late: SYNs retried before the server
/// answered (a full listen backlog drops them, so do a lossy path and some
/// policies), or a connect slower than `--slow-connect-ms`. The handshake
/// RTT, timed from the last SYN, does not show it; the connect time (first
/// SYN to the final ACK) is what the client's `connect()` waited.
/// What the nodes' kernel counters (bundles' /proc/net copies) say about
/// listen queues during the capture: "node-a's kernel counted 72 listen
/// queue overflows (TcpExt.ListenOverflows), …"; `None` when nothing moved.
pub(super) fn listen_queue_counters(archives: &[crate::report::ArchiveRecord]) -> Option<String> {
    const COUNTERS: [(&str, &str); 3] = [
        ("TcpExt.ListenOverflows", "listen queue overflows"),
        ("TcpExt.ListenDrops", "SYNs dropped by listeners"),
        (
            "TcpExt.TCPReqQFullDrop",
            "SYNs dropped with a full SYN queue",
        ),
    ];
    let said: Vec<String> = archives
        .iter()
        .filter_map(|a| {
            let moved: Vec<String> = COUNTERS
                .iter()
                .filter_map(|(k, what)| {
                    let n = *a.kernel_counters.get(*k)?;
                    (n > 0).then(|| format!("{n} {what} ({k})"))
                })
                .collect();
            (!moved.is_empty()).then(|| {
                format!(
                    "{}'s kernel counted {} during the capture",
                    a.node.as_deref().unwrap_or("the capture's node"),
                    moved.join(", ")
                )
            })
        })
        .collect();
    (!said.is_empty()).then(|| said.join("; "))
}

pub(super) fn slow_connects(
    flows: &[FlowRecord],
    th: &Thresholds,
    listen_queues: Option<&str>,
    out: &mut Vec<Finding>,
) {
    #[derive(Default)]
    struct Connects {
        /// Connect times of every completed handshake.
        times: Vec<f64>,
        /// Handshake RTTs (last SYN) of those.
        rtts: Vec<f64>,
        /// Connect times of the late ones.
        late: Vec<f64>,
        retried: u64,
        retries: u64,
        ids: Vec<(u64, f64)>,
        clients: Vec<IpAddr>,
        all_clients: std::collections::HashSet<IpAddr>,
        drops: BTreeMap<String, u64>,
    }
    let mut by_server: BTreeMap<(IpAddr, u16), Connects> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        let Some(c) = t.connect_ms else { continue };
        let e = by_server.entry((f.server.ip, f.server.port)).or_default();
        e.times.push(c);
        if let Some(h) = t.handshake_rtt_ms {
            e.rtts.push(h);
        }
        if t.syn_retransmissions == 0 && c < th.slow_connect_ms {
            continue;
        }
        e.late.push(c);
        if t.syn_retransmissions > 0 {
            e.retried += 1;
            e.retries += t.syn_retransmissions;
        }
        e.ids.push((f.id, c));
        if e.all_clients.insert(f.client.ip) && e.clients.len() < 6 {
            e.clients.push(f.client.ip);
        }
        for (r, n) in f.drops.iter().flat_map(|d| &d.by_reason) {
            *e.drops.entry(r.clone()).or_default() += n;
        }
    }
    for ((ip, port), mut c) in by_server {
        let late = c.late.len() as u64;
        if late == 0 {
            continue;
        }
        let done = c.times.len() as u64;
        let p50 = percentile(&mut c.times, 50.0).unwrap_or(0.0);
        let p99 = percentile(&mut c.times, 99.0).unwrap_or(0.0);
        let late_p50 = percentile(&mut c.late, 50.0).unwrap_or(0.0);
        let late_max = c.late.iter().copied().fold(0.0, f64::max);
        let rtt = percentile(&mut c.rtts, 50.0);
        let server = Endpoint { ip, port };
        let backlog = c
            .drops
            .keys()
            .any(|r| r == "TCP_LISTEN_OVERFLOW" || r == "TCP_REQQFULLDROP")
            || listen_queues.is_some();
        let why = if c.retried > 0 && backlog {
            "the server's listen backlog overflowed and its kernel dropped their SYNs: the application accepts too slowly, or its backlog is too small"
        } else if c.retried > 0 {
            "SYNs were lost before the server answered: a full listen backlog (the application accepts too slowly), drops on the path, or a policy"
        } else {
            "the handshake itself is slow: the server host or the path"
        };
        let mut evidence = vec![
            format!(
                "connect time (first SYN to the final ACK) p50 {}, p99 {} over {done} completed connection(s){}",
                ms(p50),
                ms(p99),
                rtt.map_or(String::new(), |r| format!("; handshake RTT p50 {} (the last SYN's round trip)", ms(r)))
            ),
            format!(
                "{late} connection(s) took {} (median), up to {}; {} needed SYN retries ({} SYN(s) sent again)",
                ms(late_p50),
                ms(late_max),
                c.retried,
                c.retries
            ),
        ];
        let clients: Vec<String> = c.clients.iter().take(5).map(|x| x.to_string()).collect();
        evidence.push(format!(
            "clients: {}{}",
            clients.join(", "),
            if c.all_clients.len() > 5 { " …" } else { "" }
        ));
        if !c.drops.is_empty() {
            let r: Vec<String> = c.drops.iter().map(|(r, n)| format!("{r} ({n})")).collect();
            evidence.push(format!(
                "the kernel dropped packets of these connections: {}",
                r.join(", ")
            ));
        }
        if let (Some(q), true) = (listen_queues, c.retried > 0) {
            evidence.push(q.to_string());
        }
        // Impact: how many connections waited, and what share of the server's.
        let severity = if late >= 2 && late * 10 >= done {
            Severity::High
        } else if late >= 2 {
            Severity::Medium
        } else {
            Severity::Low
        };
        out.push(Finding {
            severity,
            kind: "slow_connect",
            summary: format!(
                "{server}: {late} of {done} connections waited {} to connect (up to {}): {why}",
                ms(late_p50),
                ms(late_max)
            ),
            evidence,
            impact: c.ids.len() as u64,
            flows: list(c.ids),
        });
    }
}
