//! Percentiles of latencies, in one convention for every report: the
//! **nearest rank**. The `p` percentile (`p` a fraction, 0 to 1) of `n`
//! sorted values is the value at rank `ceil(p * n)` (counting from 1,
//! clamped to 1..=n): the smallest value with at least a fraction `p` of the
//! values at or below it. It is always one of the measured values, never an
//! interpolation; p50 of 1..=4 is 2, p99 of 100 values is the 99th.

use std::time::Duration;

/// The `p` percentile (a fraction, 0 to 1) of `sorted` (ascending), by
/// nearest rank; zero when there is no value.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    if n == 0 {
        return Duration::ZERO;
    }
    debug_assert!(sorted.is_sorted(), "percentile of unsorted latencies");
    let rank = ((n as f64 * p).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// The `p` percentile of `values` in any order (sorted here first).
pub fn percentile_of(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort_unstable();
    percentile(&values, p)
}

/// A duration in milliseconds, rounded to hundredths (for reports).
pub fn ms(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1e3)
}

/// `x` rounded to hundredths (for reports).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank() {
        let four = ms_list(&[1, 2, 3, 4]);
        assert_eq!(percentile(&four, 0.5), Duration::from_millis(2));
        assert_eq!(percentile(&four, 0.51), Duration::from_millis(3));
        assert_eq!(percentile(&four, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&four, 1.0), Duration::from_millis(4));
        let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&hundred, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn unsorted_input_is_sorted_first() {
        assert_eq!(
            percentile_of(ms_list(&[4, 1, 3, 2]), 0.5),
            Duration::from_millis(2)
        );
    }
}
