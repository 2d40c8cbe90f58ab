//! Distributions carried by the report: summaries of samples and
//! mergeable logarithmic histograms (built by the analysis, drawn by
//! renderers).

use serde::Serialize;

/// Values in logarithmic buckets of milliseconds, ten per decade from 1 µs
/// to 100 s (values outside go to the end buckets): exact to merge across
/// shards and flows, fine enough for a CDF.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LogHistogram {
    /// Bucket edges in ms: bucket `i` is `[edges_ms[i], edges_ms[i+1])`.
    pub edges_ms: Vec<f64>,
    /// Values per bucket (one fewer than the edges).
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

    /// The cumulative distribution this histogram gives, as `(ms, fraction
    /// of the values below ms)`: at the lower edge of the first non-empty
    /// bucket (0), then at the upper edge of every bucket up to the last
    /// non-empty one (1). Values are taken as spread over their bucket, so
    /// the points are joined by straight lines. Empty without values.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.total();
        let first = self.counts.iter().position(|&c| c > 0);
        let last = self.counts.iter().rposition(|&c| c > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(last - first + 2);
        out.push((self.edges_ms[first], 0.0));
        let mut below = 0;
        for i in first..=last {
            below += self.counts[i];
            out.push((self.edges_ms[i + 1], below as f64 / total as f64));
        }
        out
    }
}

/// A summary of samples: values in milliseconds rounded to the
/// microsecond; percentiles are nearest-rank (exact up to 65,536 samples per
/// collection, over a uniform reservoir beyond; count, min and max always
/// exact).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Number of samples.
    pub samples: u64,
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// A short summary of samples, computed like a [summary](#summary).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ShortSummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_runs_from_the_first_to_the_last_bucket_with_values() {
        assert!(LogHistogram::default().cdf().is_empty());
        let mut h = LogHistogram::default();
        for ms in [0.5, 0.5, 0.55, 20.0] {
            h.add(ms);
        }
        let cdf = h.cdf();
        // From 0 at the lower edge of 0.5's bucket to 1 past 20 ms, rising.
        assert_eq!(cdf.first(), Some(&(h.edges_ms[26], 0.0)));
        assert!(cdf[0].0 <= 0.5 && cdf[1].0 > 0.5);
        assert_eq!(cdf.last().map(|p| p.1), Some(1.0));
        assert!(cdf.last().unwrap().0 > 20.0);
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        // Past the bucket of 0.55 ms, three of the four values are below.
        let past = cdf.iter().find(|p| p.0 > 0.55).unwrap();
        assert_eq!(past.1, 0.75);
    }
}
