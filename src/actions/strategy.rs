//! `--strategy parallel|rolling|canary`: the order targets are written in,
//! as a list of steps. Pure, so the rules are tested without Redis.

use crate::cli::Strategy;

/// The steps of a run: each a list of indexes into the targets, run
/// together; the next step starts after a pause, and (rolling, canary)
/// only when every target of the previous one succeeded.
pub(crate) fn steps(
    strategy: Strategy,
    n: usize,
    canary_first: usize,
    max_parallel: Option<usize>,
) -> Vec<Vec<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let chunk = |idx: Vec<usize>, size: usize| -> Vec<Vec<usize>> {
        idx.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
    };
    match strategy {
        Strategy::Parallel => chunk((0..n).collect(), max_parallel.unwrap_or(n)),
        Strategy::Rolling => chunk((0..n).collect(), max_parallel.unwrap_or(1)),
        Strategy::Canary => {
            let first = canary_first.min(n - 1);
            let rest: Vec<usize> = (0..n).filter(|i| *i != first).collect();
            let mut s = vec![vec![first]];
            if !rest.is_empty() {
                let size = max_parallel.unwrap_or(rest.len());
                s.extend(chunk(rest, size));
            }
            s
        }
    }
}

/// Whether a failure in one step stops the steps after it.
pub(crate) fn stops_on_failure(strategy: Strategy) -> bool {
    !matches!(strategy, Strategy::Parallel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_is_one_step_unless_bounded() {
        assert_eq!(steps(Strategy::Parallel, 3, 0, None), vec![vec![0, 1, 2]]);
        assert_eq!(
            steps(Strategy::Parallel, 3, 0, Some(2)),
            vec![vec![0, 1], vec![2]]
        );
    }

    #[test]
    fn rolling_goes_one_at_a_time_by_default() {
        assert_eq!(
            steps(Strategy::Rolling, 3, 0, None),
            vec![vec![0], vec![1], vec![2]]
        );
        assert_eq!(
            steps(Strategy::Rolling, 5, 0, Some(2)),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
    }

    #[test]
    fn canary_starts_with_the_first_named() {
        assert_eq!(
            steps(Strategy::Canary, 4, 2, None),
            vec![vec![2], vec![0, 1, 3]]
        );
        assert_eq!(
            steps(Strategy::Canary, 4, 2, Some(1)),
            vec![vec![2], vec![0], vec![1], vec![3]]
        );
        assert_eq!(steps(Strategy::Canary, 1, 0, None), vec![vec![0]]);
        assert!(steps(Strategy::Canary, 0, 0, None).is_empty());
    }
}
