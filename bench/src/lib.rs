//! Pieces the benchmark binaries share: the one definition of a percentile they all report.
#![forbid(unsafe_code)]

use std::time::Duration;

/// The `q`-quantile (0 < q ≤ 1) of `sorted` by the nearest-rank method: the smallest sample such that at least
/// `q` of all samples are at most it. None for no samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms = Duration::from_millis;
        let rows: [(&str, Vec<u64>, f64, Option<u64>); 6] = [
            ("no samples", vec![], 0.5, None),
            ("one sample is every percentile", vec![7], 0.99, Some(7)),
            ("median of 1..=100 is 50", (1..=100).collect(), 0.5, Some(50)),
            ("p99 of 1..=100 is 99", (1..=100).collect(), 0.99, Some(99)),
            ("p99 of ten samples is the largest", (1..=10).collect(), 0.99, Some(10)),
            ("the maximum", (1..=10).collect(), 1.0, Some(10)),
        ];
        for (what, samples, q, want) in rows {
            let sorted: Vec<Duration> = samples.into_iter().map(ms).collect();
            assert_eq!(percentile(&sorted, q), want.map(ms), "{what}");
        }
    }
}
