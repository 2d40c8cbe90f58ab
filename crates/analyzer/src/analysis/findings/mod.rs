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
    connections::unanswered_syns(&report.flows, &mut out);
    connections::refused(&report.flows, &mut out);
    connections::server_resets(&report.flows, &mut out);
    transport::retransmission_paths(&report.flows, t, &mut out);
    transport::zero_windows(&report.flows, &mut out);
    transport::slow_servers(&report.flows, t, &mut out);
    transport::capture_loss(&report.flows, t, &mut out);
    dns::dns(report, t, &mut out);
    drops::kernel_drops(report, t, &mut out);
    flow_logs::flow_log_drops(report, t, &mut out);
    flow_logs::flow_log_retransmissions(report, t, &mut out);
    points::lost_between(report, t, &mut out);
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.kind.cmp(b.kind)));
    out
}
