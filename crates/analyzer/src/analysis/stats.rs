//! Sample collections and their summaries (count, min, percentiles, max).

pub use crate::report::{LogHistogram, ShortSummary, Summary};

/// Samples kept exactly per collection; beyond this a deterministic
/// reservoir keeps a uniform subset, so memory stays bounded for huge flows
/// while count, min and max stay exact.
const MAX_KEPT: usize = 65_536;

/// A collection of non-negative samples (milliseconds, by convention).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    kept: Vec<f64>,
    count: u64,
    min: f64,
    max: f64,
    rng: u64,
}

impl Samples {
    pub fn push(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        if self.kept.len() < MAX_KEPT {
            self.kept.push(v);
        } else {
            // Algorithm R with a fixed-seed xorshift: reproducible output.
            self.rng = if self.rng == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                self.rng
            };
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let j = self.rng % self.count;
            if (j as usize) < MAX_KEPT {
                self.kept[j as usize] = v;
            }
        }
    }

    /// Smallest sample, if any.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The kept samples (all of them up to the reservoir size), unordered.
    pub fn values(&self) -> &[f64] {
        &self.kept
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds plain sample values (a flow record's kept samples).
    pub fn extend_values(&mut self, values: &[f64]) {
        for v in values {
            self.push(*v);
        }
    }

    /// Adds all samples of another collection.
    pub fn extend(&mut self, other: &Samples) {
        for v in &other.kept {
            self.push(*v);
        }
        // Samples the other reservoir dropped still count for count/min/max.
        if other.count > other.kept.len() as u64 {
            self.count += other.count - other.kept.len() as u64;
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
    }

    /// Full summary, or `None` without samples.
    pub fn summary(&self) -> Option<Summary> {
        if self.count == 0 {
            return None;
        }
        let mut v = self.kept.clone();
        let v = sort(&mut v);
        Some(Summary {
            samples: self.count,
            min: round3(self.min),
            p50: round3(percentile_sorted(v, 50.0)?),
            p90: round3(percentile_sorted(v, 90.0)?),
            p99: round3(percentile_sorted(v, 99.0)?),
            max: round3(self.max),
        })
    }

    /// Short summary (count, p50, p99, max), or `None` without samples.
    pub fn short(&self) -> Option<ShortSummary> {
        self.summary().map(|s| ShortSummary {
            count: s.samples,
            p50: s.p50,
            p99: s.p99,
            max: s.max,
        })
    }
}

fn sort(v: &mut [f64]) -> &[f64] {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Nearest-rank percentile `p` (0..100) of unsorted values (sorts them).
pub(crate) fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    percentile_sorted(sort(v), p)
}

fn percentile_sorted(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Milliseconds to the microsecond: more digits are noise.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for v in 1..=100 {
            s.push(f64::from(v));
        }
        let sum = s.summary().unwrap();
        assert_eq!(
            (sum.samples, sum.min, sum.p50, sum.p90, sum.p99, sum.max),
            (100, 1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert!(Samples::default().summary().is_none());
    }

    #[test]
    fn reservoir_keeps_exact_count_min_max() {
        let mut s = Samples::default();
        for v in 0..(MAX_KEPT as u64 * 3) {
            s.push(v as f64);
        }
        let sum = s.summary().unwrap();
        assert_eq!(sum.samples, MAX_KEPT as u64 * 3);
        assert_eq!(sum.min, 0.0);
        assert_eq!(sum.max, (MAX_KEPT * 3 - 1) as f64);
        // A uniform subset: the median lands near the middle.
        let mid = (MAX_KEPT * 3 / 2) as f64;
        assert!((sum.p50 - mid).abs() < mid * 0.05, "{}", sum.p50);
    }
}
