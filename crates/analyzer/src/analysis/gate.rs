//! `--fail-on` conditions: a metric, a comparison and a number, evaluated on
//! the report's metrics so the tool can gate a CI pipeline or a canary.

use std::collections::BTreeMap;
use std::fmt;

use crate::report::Report;

/// Metric names and what they mean (shown in `--help` and docs).
pub const METRICS: &[(&str, &str)] = &[
    (
        "retrans_rate",
        "retransmitted / data segments over all TCP flows (0..1)",
    ),
    (
        "retrans_segments",
        "retransmitted segments over all TCP flows",
    ),
    (
        "syn_unanswered",
        "TCP connection attempts never answered (state S0)",
    ),
    (
        "refused",
        "TCP connection attempts refused with a reset (state REJ)",
    ),
    (
        "syn_retries",
        "client SYNs sent again (connection attempts retried), all TCP flows",
    ),
    (
        "connect_p99_ms",
        "p99 connect time (first SYN to the final ACK, SYN retries included) over all completed TCP handshakes",
    ),
    ("resets", "RST segments sent, both directions, all flows"),
    (
        "capture_loss_rate",
        "segments the capture missed / (missed + captured data segments) (0..1)",
    ),
    ("rtt_p99_ms", "worst per-flow p99 data RTT"),
    ("handshake_rtt_max_ms", "largest handshake RTT"),
    ("response_p99_ms", "worst per-flow p99 server response time"),
    ("zero_windows", "zero-window advertisements"),
    ("dns_queries", "DNS queries"),
    ("dns_unanswered", "DNS queries without an answer"),
    (
        "dns_pending_at_end",
        "DNS queries without an answer yet when the capture ended (younger than the timeout)",
    ),
    ("dns_nxdomain", "NXDOMAIN responses"),
    ("dns_servfail", "SERVFAIL responses"),
    (
        "dns_latency_p99_ms",
        "p99 DNS latency over all answered queries",
    ),
    (
        "kernel_drops",
        "packets the kernel dropped (agent bundles, drops.parquet), normal-life frees excluded",
    ),
    (
        "kernel_drops.REASON",
        "kernel drops of one reason, e.g. kernel_drops.NETFILTER_DROP",
    ),
    (
        "flow_log_drops",
        "packets of DROPPED flow-log records (Hubble)",
    ),
    (
        "flow_log_drops.REASON",
        "those of one drop reason, e.g. flow_log_drops.POLICY_DENIED",
    ),
    (
        "lost_between_points",
        "segments seen at one capture point and never at the next one downstream",
    ),
    ("findings_high", "findings of severity HIGH"),
    ("flows", "flows"),
    ("packets", "packets read"),
];

/// Metric families keyed by a reason: `PREFIX.REASON`.
const PER_REASON: [&str; 2] = ["kernel_drops", "flow_log_drops"];

/// Computes every metric of [`METRICS`] from a report (absent values are
/// 0), and `kernel_drops.REASON` / `flow_log_drops.REASON` for every reason seen.
pub fn metrics(r: &Report, findings_high: usize) -> BTreeMap<String, f64> {
    let mut m: BTreeMap<&'static str, f64> = METRICS
        .iter()
        .filter(|(k, _)| !k.ends_with(".REASON"))
        .map(|(k, _)| (*k, 0.0))
        .collect();
    let (mut segs, mut re, mut lost) = (0u64, 0u64, 0u64);
    let mut connects: Vec<f64> = Vec::new();
    for f in &r.flows {
        let Some(t) = &f.tcp else { continue };
        if let Some(c) = t.connect_ms {
            connects.push(c);
        }
        segs += t.data_segments.client + t.data_segments.server;
        re += t.retransmissions.client.segments + t.retransmissions.server.segments;
        lost += t.capture_lost_segments.client + t.capture_lost_segments.server;
        let max = |m: &mut BTreeMap<&'static str, f64>, k: &'static str, v: f64| {
            let e = m.entry(k).or_insert(0.0);
            *e = e.max(v);
        };
        let add = |m: &mut BTreeMap<&'static str, f64>, k: &'static str, v: f64| {
            *m.entry(k).or_insert(0.0) += v;
        };
        if t.conn_state == "S0" {
            add(&mut m, "syn_unanswered", 1.0);
        }
        if t.conn_state == "REJ" {
            add(&mut m, "refused", 1.0);
        }
        add(&mut m, "syn_retries", t.syn_retransmissions as f64);
        add(&mut m, "resets", (t.resets.client + t.resets.server) as f64);
        add(
            &mut m,
            "zero_windows",
            (t.zero_windows.client + t.zero_windows.server) as f64,
        );
        if let Some(s) = &t.rtt_ms {
            max(&mut m, "rtt_p99_ms", s.p99);
        }
        if let Some(h) = t.handshake_rtt_ms {
            max(&mut m, "handshake_rtt_max_ms", h);
        }
        if let Some(s) = &t.response_time_ms {
            max(&mut m, "response_p99_ms", s.p99);
        }
    }
    // Nearest rank, as every other percentile of the report.
    if let Some(p99) = crate::analysis::stats::percentile(&mut connects, 99.0) {
        m.insert("connect_p99_ms", p99);
    }
    m.insert("retrans_segments", re as f64);
    m.insert(
        "retrans_rate",
        if segs == 0 {
            0.0
        } else {
            re as f64 / segs as f64
        },
    );
    // Missed / (missed + captured): a share, 0..1, however much was missed.
    m.insert(
        "capture_loss_rate",
        if segs + lost == 0 {
            0.0
        } else {
            lost as f64 / (segs + lost) as f64
        },
    );
    if let Some(d) = &r.dns {
        m.insert("dns_queries", d.queries as f64);
        m.insert("dns_unanswered", d.unanswered as f64);
        m.insert("dns_pending_at_end", d.pending_at_end as f64);
        m.insert(
            "dns_nxdomain",
            d.rcodes.get("NXDOMAIN").copied().unwrap_or(0) as f64,
        );
        m.insert(
            "dns_servfail",
            d.rcodes.get("SERVFAIL").copied().unwrap_or(0) as f64,
        );
        m.insert("dns_latency_p99_ms", d.latency_ms.map_or(0.0, |l| l.p99));
    }
    m.insert(
        "lost_between_points",
        r.flows
            .iter()
            .flat_map(|f| &f.lost_between)
            .map(|l| l.segments)
            .sum::<u64>() as f64,
    );
    m.insert("findings_high", findings_high as f64);
    m.insert("flows", r.flows.len() as f64);
    m.insert("packets", r.capture.packets as f64);
    let mut out: BTreeMap<String, f64> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if let Some(d) = &r.drops {
        out.insert("kernel_drops".into(), d.loss as f64);
        for reason in d.reasons.iter().filter(|r| r.family.is_loss()) {
            *out.entry(format!("kernel_drops.{}", reason.reason))
                .or_insert(0.0) += reason.count as f64;
        }
    }
    if let Some(s) = r.hubble.as_ref().and_then(|h| h.summary.as_ref()) {
        let dropped: u64 = s.drop_reasons.iter().map(|g| g.dropped).sum();
        out.insert("flow_log_drops".into(), dropped as f64);
        for g in s.drop_reasons.iter().filter(|g| g.dropped > 0) {
            out.insert(format!("flow_log_drops.{}", g.key), g.dropped as f64);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

/// A parsed `--fail-on` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub metric: String,
    pub op: Op,
    pub value: f64,
    /// The condition as written.
    pub text: String,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses `metric OP number`, e.g. `retrans_rate>0.01` or `dns_unanswered > 0`.
pub fn parse(expr: &str) -> Result<Condition, String> {
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ];
    let (pos, sym, op) = ops
        .iter()
        .filter_map(|(sym, op)| expr.find(sym).map(|p| (p, *sym, *op)))
        .min_by_key(|(p, sym, _)| (*p, std::cmp::Reverse(sym.len())))
        .ok_or_else(|| {
            format!("'{expr}': expected METRIC OP NUMBER, with OP one of > >= < <= == !=")
        })?;
    let name = expr[..pos].trim();
    let value_text = expr[pos + sym.len()..].trim();
    let known = METRICS
        .iter()
        .any(|(k, _)| *k == name && !k.ends_with(".REASON"))
        || PER_REASON.iter().any(|p| {
            name.strip_prefix(p)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| {
                    !r.is_empty()
                        && r.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
        });
    if !known {
        let names: Vec<&str> = METRICS.iter().map(|(k, _)| *k).collect();
        return Err(format!(
            "'{expr}': unknown metric '{name}' (known: {})",
            names.join(", ")
        ));
    }
    let metric = name.to_string();
    let value: f64 = value_text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("'{expr}': '{value_text}' is not a number"))?;
    Ok(Condition {
        op,
        value,
        text: format!("{name}{sym}{value_text}"),
        metric,
    })
}

impl Condition {
    /// The metric's value in `m` (0 when absent: a reason never seen).
    pub fn value(&self, m: &BTreeMap<String, f64>) -> f64 {
        m.get(&self.metric).copied().unwrap_or(0.0)
    }

    /// True when the condition holds for these metrics.
    pub fn holds(&self, m: &BTreeMap<String, f64>) -> bool {
        let v = self.value(m);
        match self.op {
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_conditions() {
        let c = parse("retrans_rate>0.01").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.op, c.value),
            ("retrans_rate", Op::Gt, 0.01)
        );
        let c = parse(" dns_unanswered >= 1 ").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.op, c.value),
            ("dns_unanswered", Op::Ge, 1.0)
        );
        let c = parse("kernel_drops.NETFILTER_DROP>0").unwrap();
        assert_eq!(c.metric, "kernel_drops.NETFILTER_DROP");
        assert!(parse("kernel_drops.>0").is_err());
        assert!(parse("kernel_drops.A B>0").is_err());
        assert!(parse("kernel_drops.REASON>0").is_ok());
        assert!(parse("nonsense>1").unwrap_err().contains("unknown metric"));
        assert!(parse("flows>abc").unwrap_err().contains("not a number"));
        assert!(parse("flows").is_err());
        let m: BTreeMap<String, f64> = [("flows".to_string(), 3.0)].into_iter().collect();
        // A reason never seen counts 0.
        assert!(!parse("kernel_drops.NO_SOCKET>0").unwrap().holds(&m));
        assert!(parse("flows>2").unwrap().holds(&m));
        assert!(!parse("flows!=3").unwrap().holds(&m));
        assert!(parse("flows<=3").unwrap().holds(&m));
    }
}
