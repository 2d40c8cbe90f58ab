//! The whole analysis of a run, in one declared order. The binary and the
//! tests call [`run`]; the binary only parses arguments, renders the
//! [`Outcome`] and picks the exit status.
//!
//! The order, and why:
//! 1. inputs by kind ([`inputs`]): archives are extracted, flow logs and
//!    the agent's tables set apart from the captures;
//! 2. Kubernetes names: kubectl files, then the names Hubble flow logs
//!    carry (read first so they can label the capture's flows);
//! 3. read and decode the captures into flows ([`merge`]), streaming event
//!    rows to the Parquet tables;
//! 4. Kubernetes names on every flow end;
//! 5. kernel joins: the agent's drops and retransmissions joined to flows;
//! 6. per-flow summaries: protocol totals, DNS, worst flows, timeline;
//! 7. findings and metrics, which see everything above (drops included);
//! 8. roll-ups (polars), of captures and flow logs;
//! 9. what the outputs need beyond the report: time-sequence traces of the
//!    worst flows (a second read, for `--report`), and the Parquet tables.

mod finish;
pub mod inputs;
mod merge;
mod points;
pub mod trace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::context::K8sIndex;
use crate::flow::Timeouts;
use crate::parquet_out::{ParquetError, ParquetOut, Written};
use crate::report::{FlowRecord, FlowTrace, Report, Thresholds, ToolInfo, SCHEMA_VERSION};
pub use merge::pool as worker_pool;
pub use merge::PointsConfig;

/// Flow-table shards: fixed, so that every thread count sees the same
/// shards (and writes rows in the same order); more than any core count
/// this tool is run with keeps every worker busy.
pub const DEFAULT_SHARDS: usize = 16;

/// Flows tracked at once by default: ~2-4 KB each while active.
pub const DEFAULT_MAX_FLOWS: usize = 1_000_000;

/// Validated settings of one analysis run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Every input the user named, of any kind (told apart by content).
    pub inputs: Vec<PathBuf>,
    /// kubectl JSON files naming flow ends (`--k8s`).
    pub k8s: Vec<PathBuf>,
    pub timeouts: Timeouts,
    /// Flow-table shards (1 or more). Output does not depend on it.
    pub shards: usize,
    /// Worker threads for the flow tables and the steps after reading
    /// (0: one per core). Output does not depend on it.
    pub threads: usize,
    /// `--dns-timeout`: a query still waiting when the capture ended is
    /// unanswered when older than this (ns); `None`: learned per server.
    pub dns_timeout_ns: Option<i64>,
    /// Most flows tracked at once; beyond it the longest-idle flows end
    /// early (`end_reason` "evicted", counted in the report).
    pub max_flows: usize,
    /// Limits for findings.
    pub thresholds: Thresholds,
    /// Parquet tables to write (`--parquet`).
    pub parquet: Option<ParquetConfig>,
    /// Worst TCP flows to trace for time-sequence graphs (`--report`); 0: none.
    pub traces: usize,
    /// Matching packets across capture points.
    pub points: PointsConfig,
}

impl Config {
    /// A run over `inputs` with every default.
    pub fn new(inputs: Vec<PathBuf>) -> Config {
        Config {
            inputs,
            k8s: Vec::new(),
            timeouts: Timeouts::default(),
            shards: DEFAULT_SHARDS,
            threads: 0,
            max_flows: DEFAULT_MAX_FLOWS,
            dns_timeout_ns: None,
            thresholds: Thresholds::default(),
            parquet: None,
            traces: 0,
            points: PointsConfig::default(),
        }
    }
}

/// `--parquet DIR` and its options.
#[derive(Debug, Clone)]
pub struct ParquetConfig {
    pub dir: PathBuf,
    /// Also packets.parquet.
    pub packets: bool,
    /// Replace existing tables.
    pub force: bool,
}

/// Live counters for a progress display and for interruption.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Bytes read from the input files so far (compressed size for gzip).
    pub bytes_read: Arc<AtomicU64>,
    /// Packets merged so far.
    pub packets: Arc<AtomicU64>,
    /// Set to stop reading early (Ctrl-C); what was read is still analyzed.
    pub stop: Arc<AtomicBool>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// Time-sequence traces of the worst flows (when [`Config::traces`] > 0).
    pub traces: Vec<FlowTrace>,
    /// What the user should read on standard error: damaged or unreadable
    /// inputs, skipped flow-log lines. In input order.
    pub messages: Vec<String>,
    /// Some input was damaged, unreadable or partly unsupported: the
    /// report covers the rest (exit status 3).
    pub partial: bool,
    /// Reading was stopped by [`Progress::stop`].
    pub interrupted: bool,
    /// The Parquet tables, when asked for: what was written, or why not.
    pub tables: Option<Result<Written, ParquetError>>,
    /// Most flows held in memory at once.
    pub peak_active_flows: usize,
}

/// Why a run could not produce a report at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("--k8s: {0}")]
    K8s(#[from] crate::context::K8sError),
    #[error("creating a directory to extract archives into: {0}")]
    Scratch(#[source] std::io::Error),
    /// The flow logs' records could not be made into their table.
    #[error("flow logs: {0}")]
    FlowLogs(#[source] retina_tables::TableError),
    /// `messages` say why, input by input.
    #[error("no input could be read")]
    NothingRead { messages: Vec<String> },
}

/// Prints how long each step of a run took on standard error when
/// `RETINA_ANALYZE_TIMINGS` is set (for profiling; see docs/performance.md).
pub struct Phases {
    on: bool,
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Phases {
    pub fn from_env() -> Phases {
        let now = std::time::Instant::now();
        Phases {
            on: std::env::var_os("RETINA_ANALYZE_TIMINGS").is_some(),
            start: now,
            last: now,
        }
    }

    /// Ends the step `name`.
    pub fn done(&mut self, name: &str) {
        if self.on {
            let now = std::time::Instant::now();
            // Resident memory now and at its peak (Linux), in MiB.
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let kib = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .map_or(0, |k| k / 1024)
            };
            eprintln!(
                "retina-analyze: timing: {name:<16} {:>8.3} s (at {:.3} s), RSS {} MiB (anonymous {}, peak {} MiB)",
                (now - self.last).as_secs_f64(),
                (now - self.start).as_secs_f64(),
                kib("VmRSS:"),
                kib("RssAnon:"),
                kib("VmHWM:")
            );
            self.last = now;
        }
    }
}

/// Runs the whole analysis.
pub fn run(config: &Config, progress: &Progress) -> Result<Outcome, RunError> {
    let mut phases = Phases::from_env();
    // Outputs that can fail are prepared before any work: a bad --parquet
    // directory fails at once.
    let mut tables = match &config.parquet {
        Some(p) => Some(ParquetOut::create(
            &p.dir,
            &config.inputs,
            p.packets,
            p.force,
        )?),
        None => None,
    };
    let mut messages = Vec::new();

    // 1. Inputs by kind.
    let inputs = inputs::classify(&config.inputs).map_err(RunError::Scratch)?;
    let mut partial = false;
    for a in &inputs.archives {
        if let Some(e) = &a.error {
            partial = true;
            messages.push(e.clone());
        }
    }

    // 2. Kubernetes names, and the flow logs that carry more of them.
    let mut names = K8sIndex::default();
    for path in &config.k8s {
        names.load_kubectl(path)?;
    }
    let hubble = (!inputs.flow_logs.is_empty())
        .then(|| crate::hubble::load(&inputs.flow_logs, &mut names, &progress.stop))
        .transpose()
        .map_err(RunError::FlowLogs)?;

    // 3. Read and decode the captures into flows.
    let pool = merge::pool(config.threads);
    let mut merged = merge::read(
        &inputs.captures,
        &merge::TablesConfig {
            timeouts: config.timeouts,
            shards: config.shards,
            max_flows: config.max_flows,
        },
        pool.as_ref(),
        &config.points,
        progress,
        tables.as_mut().map(|t| t as &mut dyn crate::record::Sink),
    );
    phases.done("read");
    let interrupted = progress.stop.load(Ordering::SeqCst);
    let (capture, errors) = finish::capture(&mut merged, &inputs, interrupted);
    for e in &errors {
        messages.push(inputs.relabel(&e.to_string()));
    }
    partial |= capture.partial;
    let mut flows = std::mem::take(&mut merged.flows);

    // 4. Kubernetes names on every flow end.
    crate::context::label_flows(&mut flows, &names);

    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "retina-analyze",
            version: env!("CARGO_PKG_VERSION"),
        },
        capture,
        protocols: BTreeMap::new(),
        drops: None,
        kernel_retransmissions: None,
        dns: None,
        worst_flows: Default::default(),
        timeline: Default::default(),
        findings: Vec::new(),
        metrics: BTreeMap::new(),
        hubble: None,
        rollups: None,
        flows,
    };

    phases.done("names");
    // 5. Kernel joins.
    let joins = finish::kernel_joins(&mut report, &inputs);
    messages.extend(joins.messages);
    partial |= joins.partial;

    phases.done("kernel joins");
    // 6. Per-flow summaries. First the DNS queries still waiting when their
    // flows ended, decided against their servers' timeouts.
    let settled = match merged.last_ns {
        Some(end) => crate::analysis::dns::settle(&mut report.flows, end, config.dns_timeout_ns),
        None => Default::default(),
    };
    let s = finish::summaries(
        &report.flows,
        std::mem::take(&mut merged.by_proto),
        std::mem::take(&mut merged.per_tick),
        std::mem::take(&mut merged.rtt_histogram),
        merged.first_ns,
        merged.last_ns,
        &joins.loss_times,
    );
    report.dns = crate::analysis::dns::summarize(
        report
            .flows
            .iter()
            .filter_map(|f| f.dns.as_ref().map(|d| (f.server.ip, f.server.port, d))),
        &settled.timeouts,
    );
    if let Some(t) = tables.as_mut() {
        t.dns_settled(settled.unanswered);
    }
    report.protocols = s.protocols;
    report.worst_flows = s.worst_flows;
    report.timeline = s.timeline;

    // Flow logs join the report before findings, which read them too.
    let mut hubble_table = None;
    if let Some((mut h, batch)) = hubble {
        for f in &h.files {
            if let Some(e) = &f.error {
                partial = true;
                messages.push(e.clone());
            }
            if f.skipped > 0 {
                partial = true;
                let first = f.bad_lines.first();
                messages.push(format!(
                    "{}: skipped {} line(s) that are not flow records{}",
                    f.path.display(),
                    f.skipped,
                    first.map_or(String::new(), |b| format!(
                        " (first: line {}: {})",
                        b.line, b.error
                    ))
                ));
            }
        }
        // 8 (flow logs). Their roll-ups feed the findings below.
        h.summary = hubble_summary(&batch, &mut report.capture.warnings);
        report.hubble = Some(h);
        hubble_table = Some(batch);
    }

    phases.done("summaries");
    // 7. Findings and metrics.
    finish::findings_and_metrics(&mut report, &config.thresholds);
    phases.done("findings");

    // 8. Roll-ups over the flows: once per run, never per packet.
    #[cfg(feature = "polars")]
    match crate::rollups::compute(&report, pool.as_ref()) {
        Ok(r) => report.rollups = r,
        Err(e) => report.capture.warnings.push(e),
    }

    phases.done("roll-ups");
    let hubble_read = report
        .hubble
        .as_ref()
        .is_some_and(|h| h.files.iter().any(|f| f.error.is_none()));
    let nothing_read = report.capture.files.iter().all(|f| f.format.is_none());
    if nothing_read && !hubble_read && report.drops.is_none() {
        // The per-input errors say why; the caller prints them.
        return Err(RunError::NothingRead { messages });
    }

    // 9. What the outputs need beyond the report.
    let traces = if config.traces > 0 {
        let flows = traced_flows(&report, config.traces);
        trace::trace(&inputs.captures, &flows)
    } else {
        Vec::new()
    };
    let tables = tables.map(|t| {
        // An interrupted run's tables cover what was read, like its report
        // (their metadata say retina.interrupted=true).
        t.finish(&report, interrupted, hubble_table.as_ref())
    });
    phases.done("traces, tables");
    Ok(Outcome {
        report,
        traces,
        messages,
        partial,
        interrupted,
        tables,
        peak_active_flows: merged.peak_active_flows,
    })
}

/// The worst TCP flows, whose time-sequence graphs a report shows: by
/// retransmission rate, then the largest.
fn traced_flows(r: &Report, n: usize) -> Vec<&FlowRecord> {
    let mut ids: Vec<u64> = Vec::new();
    let mut by_bytes: Vec<&FlowRecord> = r.flows.iter().filter(|f| f.tcp.is_some()).collect();
    by_bytes.sort_by(|a, b| {
        b.payload_bytes
            .total()
            .cmp(&a.payload_bytes.total())
            .then(a.id.cmp(&b.id))
    });
    let candidates = r
        .worst_flows
        .retransmission_rate
        .iter()
        .map(|x| x.flow)
        .chain(by_bytes.iter().map(|f| f.id));
    for id in candidates {
        if ids.len() < n && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.iter()
        .filter_map(|id| r.flows.get(*id as usize))
        .collect()
}

/// Roll-ups of the Hubble records (computed with polars when built with
/// it); a failure becomes a warning of the report.
fn hubble_summary(
    batch: &retina_tables::arrow_array::RecordBatch,
    warnings: &mut Vec<String>,
) -> Option<crate::report::HubbleSummary> {
    #[cfg(feature = "polars")]
    {
        match crate::hubble::summary::summarize(batch) {
            Ok(s) => Some(s),
            Err(e) => {
                warnings.push(format!("Hubble roll-ups failed: {e}"));
                None
            }
        }
    }
    #[cfg(not(feature = "polars"))]
    {
        let _ = (batch, warnings);
        None
    }
}
