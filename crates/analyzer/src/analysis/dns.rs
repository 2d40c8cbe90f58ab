//! DNS over UDP and TCP: queries matched to responses by flow, transaction
//! id and question; latency, rcodes, unanswered queries and names. The
//! messages themselves are parsed by [`crate::decode::dns`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::stats::Samples;
pub use crate::decode::dns::{rcode_name, DnsMsg};
use crate::report::{DnsFlowRecord, DnsServer, DnsSummary, NameCount};

/// A query without a response this long after it is unanswered. Matches the
/// default per-try timeout of glibc's resolver (`options timeout:5`).
pub const UNANSWERED_AFTER_NS: i64 = 5_000_000_000;
/// Queries awaiting their response, per flow; older ones are counted unanswered.
const MAX_PENDING: usize = 1024;
/// Distinct names counted per flow before further ones go to "(other)".
const MAX_NAMES_PER_FLOW: usize = 256;
#[derive(Debug, Clone)]
struct Pending {
    id: u16,
    qname: String,
    qtype: u16,
    ts: i64,
}

/// The outcome of one query message, for a per-query table.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    pub ts_ns: i64,
    pub id: u16,
    pub qname: String,
    pub qtype: u16,
    /// `answered`, `unanswered`, `pending_at_end` or `retry`.
    pub status: &'static str,
    pub response_ns: Option<i64>,
    pub rcode: Option<u8>,
    pub answers: Option<u16>,
    pub truncated: Option<bool>,
}

impl QueryOutcome {
    fn unanswered(p: Pending, status: &'static str) -> QueryOutcome {
        QueryOutcome {
            ts_ns: p.ts,
            id: p.id,
            qname: p.qname,
            qtype: p.qtype,
            status,
            response_ns: None,
            rcode: None,
            answers: None,
            truncated: None,
        }
    }
}

/// DNS transactions of one flow.
#[derive(Debug, Clone, Default)]
pub struct DnsFlow {
    /// Keep every query's outcome in `outcomes` (for `--parquet`).
    pub record: bool,
    /// Outcomes decided since the caller last took them.
    pub outcomes: Vec<QueryOutcome>,
    pending: Vec<Pending>,
    queries: u64,
    responses: u64,
    /// Queries sent again with the same id and question before a response.
    retries: u64,
    unanswered: u64,
    /// Responses that matched no query seen.
    unmatched_responses: u64,
    rcodes: BTreeMap<String, u64>,
    latency: Samples,
    names: BTreeMap<String, u64>,
    /// Unanswered query times, for timelines.
    unanswered_at: Vec<i64>,
    /// Unanswered queries by name, for findings.
    unanswered_names: BTreeMap<String, u64>,
}

impl DnsFlow {
    /// Accounts one DNS message seen at `ts`.
    pub fn message(&mut self, ts: i64, m: &DnsMsg) {
        if !m.response {
            self.queries += 1;
            let key = if self.names.len() < MAX_NAMES_PER_FLOW || self.names.contains_key(&m.qname)
            {
                m.qname.clone()
            } else {
                "(other)".to_string()
            };
            *self.names.entry(key).or_insert(0) += 1;
            if self
                .pending
                .iter()
                .any(|p| p.id == m.id && p.qname == m.qname && p.qtype == m.qtype)
            {
                // A resend of the same query: latency counts from the first.
                self.retries += 1;
                if self.record {
                    self.outcomes.push(QueryOutcome::unanswered(
                        Pending {
                            id: m.id,
                            qname: m.qname.clone(),
                            qtype: m.qtype,
                            ts,
                        },
                        "retry",
                    ));
                }
                return;
            }
            if self.pending.len() >= MAX_PENDING {
                let old = self.pending.remove(0);
                self.unanswered += 1;
                self.unanswered_at.push(old.ts);
                count_name(&mut self.unanswered_names, &old.qname);
                if self.record {
                    self.outcomes
                        .push(QueryOutcome::unanswered(old, "unanswered"));
                }
            }
            self.pending.push(Pending {
                id: m.id,
                qname: m.qname.clone(),
                qtype: m.qtype,
                ts,
            });
            return;
        }
        self.responses += 1;
        *self.rcodes.entry(rcode_name(m.rcode)).or_insert(0) += 1;
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.id == m.id && p.qname == m.qname && p.qtype == m.qtype)
        {
            let q = self.pending.remove(i);
            self.latency.push((ts - q.ts) as f64 / 1e6);
            if self.record {
                self.outcomes.push(QueryOutcome {
                    response_ns: Some(ts),
                    rcode: Some(m.rcode),
                    answers: Some(m.answers),
                    truncated: Some(m.truncated),
                    ..QueryOutcome::unanswered(q, "answered")
                });
            }
        } else {
            self.unmatched_responses += 1;
        }
    }

    /// Ends the flow when the capture ends at `end_ns`: pending queries older
    /// than the timeout are unanswered; younger ones may yet have been answered.
    pub fn finish(&mut self, end_ns: i64) -> DnsFlowRecord {
        let mut pending_at_end = 0;
        let mut waiting = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let status = if end_ns - p.ts >= UNANSWERED_AFTER_NS {
                self.unanswered += 1;
                self.unanswered_at.push(p.ts);
                count_name(&mut self.unanswered_names, &p.qname);
                "unanswered"
            } else {
                pending_at_end += 1;
                waiting.push((p.ts, p.id, p.qname.clone()));
                "pending_at_end"
            };
            if self.record {
                self.outcomes.push(QueryOutcome::unanswered(p, status));
            }
        }
        DnsFlowRecord {
            queries: self.queries,
            responses: self.responses,
            unanswered: self.unanswered,
            pending_at_end,
            retries: self.retries,
            unmatched_responses: self.unmatched_responses,
            rcodes: self.rcodes.clone(),
            latency_ms: self.latency.short(),
            names: std::mem::take(&mut self.names),
            latency_samples: std::mem::take(&mut self.latency).values().to_vec(),
            unanswered_at: std::mem::take(&mut self.unanswered_at),
            waiting,
            unanswered_names: std::mem::take(&mut self.unanswered_names),
        }
    }
}

/// Counts `name` in `names`, at most [`MAX_NAMES_PER_FLOW`] distinct ones
/// (the rest as "(other)").
fn count_name(names: &mut BTreeMap<String, u64>, name: &str) {
    let key = if names.len() < MAX_NAMES_PER_FLOW || names.contains_key(name) {
        name.to_string()
    } else {
        "(other)".to_string()
    };
    *names.entry(key).or_insert(0) += 1;
}

/// The shortest and longest learned timeout for queries still waiting when
/// the capture ended.
const MIN_TIMEOUT_NS: i64 = 1_000_000_000;
/// A learned timeout is this many times the server's p99 response time.
const TIMEOUT_P99_FACTOR: f64 = 10.0;

/// What the capture's end decided about the queries still waiting then.
#[derive(Debug, Default)]
pub struct Settled {
    /// The timeout of each server (address, port), ns.
    pub timeouts: BTreeMap<(IpAddr, u16), i64>,
    /// Queries it called unanswered: (flow uid, sent at ns, transaction id).
    pub unanswered: std::collections::HashSet<(u64, i64, u16)>,
}

/// Decides the queries that were still waiting when their flows ended: a
/// query older than its server's timeout at the capture's end (`end_ns`) is
/// unanswered, a younger one stays pending. The timeout is `fixed`
/// (`--dns-timeout`) or learned: ten times the server's p99 response time
/// (the capture's when the server answered nothing), within 1..5 s; 5 s
/// when nothing was answered at all. Updates the flows' DNS records.
pub fn settle(flows: &mut [crate::report::FlowRecord], end_ns: i64, fixed: Option<i64>) -> Settled {
    let mut by_server: BTreeMap<(IpAddr, u16), Samples> = BTreeMap::new();
    let mut all = Samples::default();
    for f in flows.iter() {
        if let Some(d) = &f.dns {
            by_server
                .entry((f.server.ip, f.server.port))
                .or_default()
                .extend_values(&d.latency_samples);
            all.extend_values(&d.latency_samples);
        }
    }
    let learn = |s: &Samples| -> Option<i64> {
        let mut v = s.values().to_vec();
        let p99 = super::stats::percentile(&mut v, 99.0)?;
        Some(((p99 * 1e6 * TIMEOUT_P99_FACTOR) as i64).clamp(MIN_TIMEOUT_NS, UNANSWERED_AFTER_NS))
    };
    let fallback = learn(&all).unwrap_or(UNANSWERED_AFTER_NS);
    let timeouts: BTreeMap<(IpAddr, u16), i64> = by_server
        .iter()
        .map(|(k, s)| (*k, fixed.unwrap_or_else(|| learn(s).unwrap_or(fallback))))
        .collect();
    let mut unanswered = std::collections::HashSet::new();
    for f in flows.iter_mut() {
        let uid = f.uid;
        let key = (f.server.ip, f.server.port);
        let Some(d) = f.dns.as_mut() else { continue };
        let timeout = timeouts.get(&key).copied().unwrap_or(fallback);
        let mut kept = Vec::new();
        for (ts, id, name) in std::mem::take(&mut d.waiting) {
            if end_ns.saturating_sub(ts) >= timeout {
                d.unanswered += 1;
                d.pending_at_end -= 1;
                d.unanswered_at.push(ts);
                count_name(&mut d.unanswered_names, &name);
                unanswered.insert((uid, ts, id));
            } else {
                kept.push((ts, id, name));
            }
        }
        d.unanswered_at.sort_unstable();
        d.waiting = kept;
    }
    Settled {
        timeouts,
        unanswered,
    }
}

/// How many names `top_names` lists.
const TOP_NAMES: usize = 10;

/// Builds the capture-wide summary from the flows' DNS records.
pub fn summarize<'a>(
    flows: impl Iterator<Item = (IpAddr, u16, &'a DnsFlowRecord)>,
    timeouts: &BTreeMap<(IpAddr, u16), i64>,
) -> Option<DnsSummary> {
    let mut s = DnsSummary::default();
    let mut latency = Samples::default();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    let mut servers: BTreeMap<(IpAddr, u16), (u64, u64, u64, Samples)> = BTreeMap::new();
    let mut unanswered_at = Vec::new();
    let mut any = false;
    for (ip, port, d) in flows {
        any = true;
        s.queries += d.queries;
        s.responses += d.responses;
        s.unanswered += d.unanswered;
        s.pending_at_end += d.pending_at_end;
        s.retries += d.retries;
        for (k, v) in &d.rcodes {
            *s.rcodes.entry(k.clone()).or_insert(0) += v;
        }
        latency.extend_values(&d.latency_samples);
        for &ms in &d.latency_samples {
            s.latency_histogram.add(ms);
        }
        for (k, v) in &d.names {
            *names.entry(k.clone()).or_insert(0) += v;
        }
        let e = servers.entry((ip, port)).or_default();
        e.0 += d.queries;
        e.1 += d.unanswered;
        e.2 += d.pending_at_end;
        e.3.extend_values(&d.latency_samples);
        unanswered_at.extend(d.unanswered_at.iter().copied());
    }
    if !any {
        return None;
    }
    s.latency_ms = latency.short();
    let mut top: Vec<NameCount> = names
        .into_iter()
        .map(|(name, queries)| NameCount { name, queries })
        .collect();
    top.sort_by(|a, b| b.queries.cmp(&a.queries).then(a.name.cmp(&b.name)));
    top.truncate(TOP_NAMES);
    s.top_names = top;
    s.servers = servers
        .into_iter()
        .map(
            |((ip, port), (queries, unanswered, pending_at_end, lat))| DnsServer {
                ip,
                port,
                queries,
                unanswered,
                pending_at_end,
                timeout_ms: timeouts
                    .get(&(ip, port))
                    .copied()
                    .unwrap_or(UNANSWERED_AFTER_NS) as f64
                    / 1e6,
                latency_ms: lat.short(),
            },
        )
        .collect();
    s.servers
        .sort_by(|a, b| b.queries.cmp(&a.queries).then(a.ip.cmp(&b.ip)));
    unanswered_at.sort_unstable();
    s.unanswered_ts = unanswered_at
        .iter()
        .take(1000)
        .map(|&t| t as f64 / 1e9)
        .collect();
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::dns::{display_name, parse};

    fn query(id: u16, name: &str, response: bool, rcode: u8) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        let flags: u16 = if response {
            0x8180 | u16::from(rcode)
        } else {
            0x0100
        };
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&[0, 1, 0, 1]);
        m
    }

    #[test]
    fn parses_query_and_response() {
        let q = parse(&query(7, "fast.test", false, 0), true).unwrap();
        assert_eq!(
            (q.id, q.response, q.qname.as_str(), q.qtype),
            (7, false, "fast.test", 1)
        );
        let r = parse(&query(7, "nx.test", true, 3), true).unwrap();
        assert_eq!((r.response, r.rcode), (true, 3));
        assert!(parse(b"hello world, not dns at all", false).is_none());
        assert!(parse(&[0u8; 5], true).is_none());
    }

    #[test]
    fn hostile_names_become_inert_ascii() {
        let labels: [&[u8]; 3] = [b"<script>alert(1)</script>", b"a.b\x1b[31m", b"ok"];
        let s = display_name(labels.into_iter());
        assert!(s.is_ascii());
        for bad in ['<', '>', '\x1b', '"', '&', '\''] {
            assert!(!s.contains(bad), "{s}");
        }
        assert_eq!(display_name([b"a.b".as_slice()].into_iter()), "a\\046b");
    }

    #[test]
    fn latency_and_unanswered() {
        let mut f = DnsFlow::default();
        let m = |id, name: &str, resp, rcode| parse(&query(id, name, resp, rcode), true).unwrap();
        f.message(0, &m(1, "a.test", false, 0));
        f.message(5_000_000, &m(1, "a.test", true, 0));
        f.message(10_000_000, &m(2, "nx.test", false, 0));
        f.message(20_000_000, &m(2, "nx.test", true, 3));
        f.message(30_000_000, &m(3, "drop.test", false, 0));
        f.message(40_000_000, &m(4, "late.test", false, 0));
        let r = f.finish(5_035_000_000);
        assert_eq!(
            (r.queries, r.responses, r.unanswered, r.pending_at_end),
            (4, 2, 1, 1)
        );
        assert_eq!(r.rcodes.get("NXDOMAIN"), Some(&1));
        let l = r.latency_ms.unwrap();
        assert_eq!((l.count, l.max), (2, 10.0));
    }
}
