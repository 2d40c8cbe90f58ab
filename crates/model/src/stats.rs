//! Distributions carried by the report: summaries of samples and
//! mergeable logarithmic histograms (built by the analysis, drawn by
//! renderers).

use serde::Serialize;

/// Counts in logarithmic buckets of milliseconds, ten per decade from 1 µs
/// to 100 s (values outside go to the end buckets): exact to merge across
/// shards and flows, fine enough for a CDF.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogHistogram {
    /// Bucket edges in ms: bucket i is [edges[i], edges[i+1]).
    pub edges_ms: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Buckets per decade and decades covered (1 µs .. 100 s).
const PER_DECADE: usize = 10;
const DECADES: usize = 8;
const LOWEST_MS: f64 = 0.001;

impl Default for LogHistogram {
    fn default() -> Self {
        let edges_ms = (0..=PER_DECADE * DECADES)
            .map(|k| LOWEST_MS * 10f64.powf(k as f64 / PER_DECADE as f64))
            .collect();
        LogHistogram {
            edges_ms,
            counts: vec![0; PER_DECADE * DECADES],
        }
    }
}

impl LogHistogram {
    pub fn add(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        let k = if ms <= LOWEST_MS {
            0
        } else {
            ((ms / LOWEST_MS).log10() * PER_DECADE as f64).floor() as usize
        };
        let last = self.counts.len() - 1;
        self.counts[k.min(last)] += 1;
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// count, min, p50, p90, p99, max.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub samples: u64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// count, p50, p99, max.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShortSummary {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}
