//! Loss located between capture points: packets one point saw and the next
//! one downstream, capturing at the time, never did.

use std::collections::BTreeMap;

use super::pct;
use crate::report::{Finding, PointRecord, Report, Severity, Thresholds};

/// Flows named per finding.
const SHOWN: usize = 3;

/// How a point is named in a sentence.
pub fn point_name(p: &PointRecord) -> String {
    p.name()
}

/// Where loss between two points happened, in words.
fn location(a: &PointRecord, b: &PointRecord) -> String {
    let place = |p: &PointRecord| p.node.clone().unwrap_or_else(|| p.file.clone());
    if place(a) == place(b) && a.interface != b.interface {
        let host = match &a.node {
            Some(n) => n.clone(),
            None => format!(
                "the host that captured {}",
                point_name(a).split(" (").next().unwrap_or("")
            ),
        };
        format!(
            "seen entering {} and never leaving it ({}): dropped inside {host}",
            point_name(a),
            b.interface,
        )
    } else {
        format!(
            "seen at {} and never at {}: lost between the two capture points (the network, or a host between them)",
            point_name(a),
            point_name(b)
        )
    }
}

pub(super) fn lost_between(report: &Report, t: &Thresholds, out: &mut Vec<Finding>) {
    let points = &report.capture.points;
    // By (from, to): flows with their loss, and the totals.
    struct Pair {
        segments: u64,
        bytes: u64,
        seen: u64,
        flows: Vec<(u64, u64, String)>,
        drops: BTreeMap<String, u64>,
    }
    let mut pairs: BTreeMap<(u32, u32), Pair> = BTreeMap::new();
    for f in &report.flows {
        for l in &f.lost_between {
            let p = pairs.entry((l.from, l.to)).or_insert(Pair {
                segments: 0,
                bytes: 0,
                seen: 0,
                flows: Vec::new(),
                drops: BTreeMap::new(),
            });
            p.segments += l.segments;
            p.bytes += l.bytes;
            let sender = if l.direction == "client" {
                (&f.client, &f.server)
            } else {
                (&f.server, &f.client)
            };
            // What the upstream point saw of that direction, for the rate.
            p.seen += f.points.iter().find(|x| x.point == l.from).map_or(0, |x| {
                if l.direction == "client" {
                    x.packets.client
                } else {
                    x.packets.server
                }
            });
            p.flows
                .push((f.id, l.segments, format!("{} → {}", sender.0, sender.1)));
            for (r, n) in &l.kernel_drops {
                *p.drops.entry(r.clone()).or_default() += n;
            }
        }
    }
    for ((from, to), mut p) in pairs {
        let (Some(a), Some(b)) = (points.get(from as usize), points.get(to as usize)) else {
            continue;
        };
        p.flows.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let what = match p.flows.as_slice() {
            [(_, n, name)] => format!("{n} segment(s) of {name} were"),
            fl => format!("{} segment(s) of {} flows were", p.segments, fl.len()),
        };
        let rate = p.segments as f64 / p.seen.max(1) as f64;
        let mut evidence = vec![format!(
            "{} segment(s), {} bytes; {} of what {} saw",
            p.segments,
            p.bytes,
            pct(rate.min(1.0)),
            point_name(a)
        )];
        if p.flows.len() > 1 {
            let named: Vec<String> = p
                .flows
                .iter()
                .take(SHOWN)
                .map(|(id, n, name)| format!("#{id} {name} ({n})"))
                .collect();
            evidence.push(format!("flows: {}", named.join(", ")));
        }
        if !p.drops.is_empty() {
            let r: Vec<String> = p.drops.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            evidence.push(format!("the kernel dropped them: {}", r.join(", ")));
        }
        out.push(Finding {
            severity: if rate > 5.0 * t.retrans_rate {
                Severity::High
            } else if rate > t.retrans_rate {
                Severity::Medium
            } else {
                Severity::Low
            },
            kind: "lost_between_points",
            summary: format!("{what} {}", location(a, b)),
            evidence,
            impact: p.flows.len() as u64,
            flows: p.flows.iter().take(20).map(|(id, _, _)| *id).collect(),
        });
    }
}
