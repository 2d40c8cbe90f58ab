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
        /// ICMP "too big" errors about the path's flows, and the smallest MTU.
        too_big: u64,
        mtu: Option<u32>,
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
        for e in f.icmp_errors.iter().filter(|e| e.mtu.is_some()) {
            p.too_big += e.count;
            p.mtu = p.mtu.into_iter().chain(e.mtu).min();
        }
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
        if let Some(mtu) = p.mtu {
            evidence.push(format!(
                "{} ICMP fragmentation needed / packet too big (MTU {mtu}) about these flows: segments resent smaller after them are what the path MTU cost (the path_mtu finding)",
                p.too_big
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

/// ICMP "fragmentation needed" / "packet too big" a hop sent about the
/// capture's flows: a path whose MTU is smaller than the senders' (a pod MTU
/// of 1500 over an overlay that takes 50 bytes). Per reporter and MTU: the
/// flows, the errors, and the segments those flows sent again. HIGH when a
/// flow never got its data through (it ended with data unacknowledged or
/// no more than a handshake), else MEDIUM: path-MTU discovery recovered,
/// at the cost of a round of retransmissions (and of every new connection
/// learning it again when the route cache expires).
pub(super) fn path_mtu(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    #[derive(Default)]
    struct Hop {
        errors: u64,
        ids: Vec<(u64, f64)>,
        senders: std::collections::BTreeSet<IpAddr>,
        resent: u64,
        stalled: u64,
    }
    let mut by_hop: BTreeMap<(IpAddr, u32), Hop> = BTreeMap::new();
    for f in flows {
        for e in &f.icmp_errors {
            let Some(mtu) = e.mtu else { continue };
            let h = by_hop.entry((e.reporter, mtu)).or_default();
            h.errors += e.count;
            let client = e.about == "client";
            h.senders
                .insert(if client { f.client.ip } else { f.server.ip });
            if let Some(t) = &f.tcp {
                let r = if client {
                    t.retransmissions.client.segments
                } else {
                    t.retransmissions.server.segments
                };
                h.resent += r;
                if !matches!(t.conn_state, "SF" | "S1" | "RSTO" | "RSTR" | "S2" | "S3") {
                    h.stalled += 1;
                }
            }
            h.ids.push((f.id, e.count as f64));
        }
    }
    for ((reporter, mtu), h) in by_hop {
        let senders: Vec<String> = h.senders.iter().take(5).map(|s| s.to_string()).collect();
        let n = h.ids.len();
        let mut evidence = vec![format!(
            "senders told: {}{}",
            senders.join(", "),
            if h.senders.len() > 5 { " …" } else { "" }
        )];
        if (1400..1500).contains(&mtu) {
            evidence.push(format!(
                "{mtu} is {} bytes below 1500, what an overlay takes (VXLAN and Geneve 50, IP-in-IP 20, GRE 24 or more): senders (pods) with MTU 1500 on such a path; set their MTU (the CNI's) to {mtu} or less",
                1500 - mtu
            ));
        }
        if h.stalled > 0 {
            evidence.push(format!("{} of these flow(s) did not complete", h.stalled));
        }
        evidence.push(
            "a path that filters these ICMP messages drops such segments silently instead (a path-MTU black hole)"
                .to_string(),
        );
        out.push(Finding {
            severity: if h.stalled > 0 {
                Severity::High
            } else {
                Severity::Medium
            },
            kind: "path_mtu",
            summary: format!(
                "packets above {mtu} bytes do not fit the path: {reporter} answered {} ICMP fragmentation needed / packet too big, and {n} flow(s) sent {} segment(s) again, smaller",
                h.errors, h.resent
            ),
            evidence,
            impact: n as u64,
            flows: list(h.ids),
        });
    }
}

/// Full-size segments that died without a word: a sender (of a flow that
/// completed its handshake and got no ICMP "too big") retransmitted
/// segments of about the receiver's MSS by timeout again and again
/// (at least twice), none by fast retransmit, the receiver never sent a
/// duplicate ACK (nothing after them arrived), and the flow did not end
/// normally: what a path-MTU black hole (a hop dropping packets above its
/// MTU with the ICMP that would say so filtered) looks like. Per server.
pub(super) fn path_mtu_black_holes(flows: &[FlowRecord], out: &mut Vec<Finding>) {
    /// Flows (id, segments resent), segments resent, the largest size.
    type Stalled = (Vec<(u64, f64)>, u64, u64);
    let mut by_server: BTreeMap<(IpAddr, u16), Stalled> = BTreeMap::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        if t.handshake.is_none()
            || t.conn_state == "SF"
            || f.icmp_errors.iter().any(|e| e.mtu.is_some())
        {
            continue;
        }
        for client in [true, false] {
            let (r, peer_mss, peer_dup_acks) = if client {
                (
                    &t.retransmissions.client,
                    t.options.server.mss,
                    t.dup_acks.server,
                )
            } else {
                (
                    &t.retransmissions.server,
                    t.options.client.mss,
                    t.dup_acks.client,
                )
            };
            if r.rto < 2 || r.fast > 0 || peer_dup_acks > 0 || r.segments == 0 {
                continue;
            }
            let avg = r.bytes as f64 / r.segments as f64;
            // Timestamps and other options take up to 40 bytes of the MSS.
            let full = peer_mss.map_or(avg >= 1200.0, |m| {
                avg >= f64::from(m) - 40.0 && avg >= 1000.0
            });
            if full {
                let e = by_server.entry((f.server.ip, f.server.port)).or_default();
                e.0.push((f.id, r.segments as f64));
                e.1 += r.segments;
                e.2 = e.2.max(avg as u64);
            }
        }
    }
    for ((ip, port), (ids, segments, size)) in by_server {
        out.push(Finding {
            severity: Severity::High,
            kind: "path_mtu_black_hole",
            summary: format!(
                "{n} connection(s) with {} stalled after the handshake: their full-size segments ({size} bytes) were sent again {segments} time(s) by timeout and never got through, with no ICMP \"too big\" seen; a hop with a smaller MTU whose ICMP is filtered (a path-MTU black hole) is likely",
                Endpoint { ip, port },
                n = ids.len()
            ),
            evidence: vec![
                "no fast retransmission and no duplicate ACK: nothing sent after those segments arrived either".to_string(),
                "test with a smaller MSS or MTU (ping -M do -s 1422), allow ICMP fragmentation needed / packet too big on the path, or lower the senders' MTU; Linux's net.ipv4.tcp_mtu_probing=1 recovers from such paths".to_string(),
            ],
            impact: ids.len() as u64,
            flows: list(ids),
        });
    }
}
