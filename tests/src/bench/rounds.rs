//! Interleaved rounds: each round runs every variant once, in the same order
//! (A, B, A, B, ...), so a slow spell of a shared machine falls on all of
//! them; the figure reported is the [`median`] over the rounds, so one
//! disturbed round does not move it.

use std::fmt::Display;

/// One run: its round (from 1), its variant, what it measured.
#[derive(Debug, Clone)]
pub struct Measured<V, R> {
    /// The round, from 1.
    pub round: usize,
    /// The variant run.
    pub variant: V,
    /// What it measured.
    pub result: R,
}

/// Runs `run(round, variant)` for every variant in each of `rounds` rounds,
/// printing the progress to stderr (`round 1/3: {variant}...`); stops at the
/// first error.
pub async fn interleaved<V, R, E>(
    rounds: usize,
    variants: &[V],
    mut run: impl AsyncFnMut(usize, V) -> Result<R, E>,
) -> Result<Vec<Measured<V, R>>, E>
where
    V: Copy + Display,
{
    let mut out = Vec::with_capacity(rounds * variants.len());
    for round in 1..=rounds {
        for &variant in variants {
            eprintln!("round {round}/{rounds}: {variant}...");
            let result = run(round, variant).await?;
            out.push(Measured {
                round,
                variant,
                result,
            });
        }
    }
    Ok(out)
}

/// The results of `variant`'s runs, in round order.
pub fn of<V: PartialEq, R>(runs: &[Measured<V, R>], variant: V) -> Vec<&R> {
    runs.iter()
        .filter(|m| m.variant == variant)
        .map(|m| &m.result)
        .collect()
}

/// The median of `figure` over `runs`.
pub fn median_of<R>(runs: &[&R], figure: impl Fn(&R) -> f64) -> f64 {
    median(runs.iter().map(|r| figure(r)).collect())
}

pub use sea_orm_tenant::testing::median;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rounds_interleave_the_variants() {
        let runs = interleaved(2, &['a', 'b'], async |round, v| {
            Ok::<_, ()>(format!("{v}{round}"))
        })
        .await
        .unwrap();
        let order: Vec<&str> = runs.iter().map(|m| m.result.as_str()).collect();
        assert_eq!(order, ["a1", "b1", "a2", "b2"]);
        assert_eq!(of(&runs, 'b'), [&"b1".to_owned(), &"b2".to_owned()]);
        let failed = interleaved(
            3,
            &[1],
            async |round, _| {
                if round == 2 { Err("second") } else { Ok(round) }
            },
        )
        .await;
        assert_eq!(failed.unwrap_err(), "second");
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
        assert_eq!(median_of(&[&1.0, &5.0, &3.0], |x| *x), 3.0);
    }
}
