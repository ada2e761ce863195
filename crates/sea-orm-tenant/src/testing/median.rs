//! The median every benchmark of the workspace reports: one convention, so
//! that figures from different benches compare.

/// The median of `values`: the middle one, the mean of the middle two for an
/// even count, 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
