//! The transport's health: retransmissions by path, zero windows, slow
//! servers, and how much the capture itself missed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{list, pct};
use crate::report::{Endpoint, Finding, FlowRecord, Severity, Thresholds};

/// High retransmission rate on some paths while others are clean.
pub(super) fn retransmission_paths(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
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
            impact: p.ids.len() as u64,
            flows: list(p.ids.clone()),
        });
    }
}

/// Receivers advertising zero windows: a slow reader.
pub(super) fn zero_windows(flows: &[FlowRecord], out: &mut Vec<Finding>) {
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
            impact: ids.len() as u64,
        flows: list(ids),
        });
    }
}

/// Slow server response next to a fast network.
pub(super) fn slow_servers(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
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
            impact: ids.len() as u64,
        flows: list(ids),
        });
    }
}

/// Capture loss: how far the numbers can be trusted.
pub(super) fn capture_loss(flows: &[FlowRecord], t: &Thresholds, out: &mut Vec<Finding>) {
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
        impact: ids.len() as u64,
        flows: list(ids),
    });
}
