//! How a rollout's endpoints are split into waves: ordered by a hash of the run id and the
//! name (so that one run always splits the same way, and two runs pick different first
//! endpoints), each wave a slice of that order, targeted by name.

use runbook_playbook::{Combine, MAX_CLAUSE_VALUES, Operator};
use sha2::Digest;

use crate::platform::{ClauseValue, TargetClause, TargetRequest};

/// The sensor a wave's group matches names on.
pub(crate) const NAME_SENSOR: &str = "Computer Name";

/// The endpoints in wave order: sorted by a hash of the run id and the name (the name breaks
/// ties), each name once.
pub(crate) fn wave_order(run_id: &str, mut names: Vec<String>) -> Vec<String> {
    names.sort_by_cached_key(|name| (rank(run_id, name), name.clone()));
    names.dedup();
    names
}

/// The first eight bytes of SHA-256 over the run id and the name.
fn rank(run_id: &str, name: &str) -> u64 {
    let mut hasher = sha2::Sha256::new();
    hasher.update(run_id.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The endpoints of each wave, from the order and the cumulative sizes: wave `k` gets the
/// names between the size before it and its own (none when its size adds nobody).
pub(crate) fn wave_slices<'a>(order: &'a [String], sizes: &[u64]) -> Vec<&'a [String]> {
    let mut reached = 0usize;
    sizes
        .iter()
        .map(|size| {
            let end = usize::try_from(*size)
                .unwrap_or(usize::MAX)
                .min(order.len())
                .max(reached);
            let slice = &order[reached..end];
            reached = end;
            slice
        })
        .collect()
}

/// The group of one wave: `Computer Name equals` any of its names, at most
/// [`MAX_CLAUSE_VALUES`] a clause, the clauses OR-ed. The platform quotes and escapes each
/// name as it does every clause value.
pub(crate) fn wave_target(names: &[String]) -> TargetRequest {
    TargetRequest::Clauses {
        combine: Combine::Any,
        clauses: names
            .chunks(MAX_CLAUSE_VALUES)
            .map(|chunk| TargetClause {
                sensor: NAME_SENSOR.to_owned(),
                op: Operator::Equals,
                value: ClauseValue::AnyOf(chunk.to_vec()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use runbook_playbook::{Rollout, Wave};

    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|index| format!("host-{index:04}")).collect()
    }

    fn rollout(waves: Vec<Wave>) -> Rollout {
        Rollout {
            waves,
            until_percent: 90,
            max_failed_percent: 5,
            pause: std::time::Duration::ZERO,
            stop_on_abort: true,
            interval: std::time::Duration::from_secs(5),
        }
    }

    #[test]
    fn the_order_is_deterministic_per_run_and_differs_between_runs() {
        let mut shuffled = names(50);
        shuffled.reverse();
        let first = wave_order("run-a", names(50));
        assert_eq!(first, wave_order("run-a", shuffled));
        assert_ne!(first, wave_order("run-b", names(50)));
        assert_ne!(first, names(50), "not merely alphabetical");
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, names(50), "every name kept");
    }

    #[test]
    fn duplicate_names_are_listed_once() {
        let order = wave_order("run", vec!["a".into(), "b".into(), "a".into()]);
        assert_eq!(order.len(), 2);
    }

    #[test]
    fn slices_follow_the_cumulative_sizes() {
        let order = names(40);
        let waves = rollout(vec![
            Wave::Count(1),
            Wave::Percent(10),
            Wave::Percent(50),
            Wave::Percent(100),
        ]);
        let slices = wave_slices(&order, &waves.sizes(40));
        let lengths: Vec<usize> = slices.iter().map(|slice| slice.len()).collect();
        assert_eq!(lengths, vec![1, 3, 16, 20]);
        assert_eq!(slices[0], &order[..1]);
        assert_eq!(slices[3], &order[20..]);
        // A wave that adds nobody is empty.
        let small = wave_slices(&order[..5], &waves.sizes(5));
        let lengths: Vec<usize> = small.iter().map(|slice| slice.len()).collect();
        assert_eq!(lengths, vec![1, 0, 2, 2]);
    }

    #[test]
    fn a_wave_of_many_names_is_several_clauses_of_at_most_500() {
        let TargetRequest::Clauses { combine, clauses } = wave_target(&names(1201)) else {
            panic!("clauses");
        };
        assert_eq!(combine, Combine::Any);
        let lengths: Vec<usize> = clauses
            .iter()
            .map(|clause| match &clause.value {
                ClauseValue::AnyOf(values) => values.len(),
                ClauseValue::One(_) => 1,
            })
            .collect();
        assert_eq!(lengths, vec![500, 500, 201]);
        assert!(
            clauses
                .iter()
                .all(|clause| clause.sensor == NAME_SENSOR && clause.op == Operator::Equals)
        );
    }

    fn wave_strategy() -> impl Strategy<Value = Wave> {
        prop_oneof![
            (1u64..60).prop_map(Wave::Count),
            (1u8..=100).prop_map(Wave::Percent)
        ]
    }

    proptest! {
        #[test]
        fn every_name_lands_in_exactly_one_wave(
            count in 0usize..300,
            mut waves in proptest::collection::vec(wave_strategy(), 1..6),
            run_id in "[a-z0-9-]{1,20}",
        ) {
            // The validator makes the last wave `100%`.
            waves.push(Wave::Percent(100));
            let order = wave_order(&run_id, names(count));
            let sizes = rollout(waves.clone()).sizes(count as u64);
            prop_assert_eq!(sizes.len(), waves.len());
            prop_assert!(sizes.windows(2).all(|pair| pair[0] <= pair[1]));
            let slices = wave_slices(&order, &sizes);
            let mut seen = BTreeSet::new();
            let mut total = 0;
            for slice in &slices {
                for name in *slice {
                    prop_assert!(seen.insert(name.clone()), "{} in two waves", name);
                }
                total += slice.len();
            }
            prop_assert_eq!(total, count);
            prop_assert_eq!(seen.len(), count);
        }
    }
}
