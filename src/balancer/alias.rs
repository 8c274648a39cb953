//! Weighted draws in O(1): Vose's alias method (Walker's alias tables).
//!
//! [`AliasTable::build`] turns one weight per member into one column per
//! member, off the fast path, in O(members). A draw picks a column uniformly
//! and tosses that column's biased coin: heads keeps the column's own member,
//! tails takes its alias. Members are positions `0..weights.len()`; what they
//! stand for (backend indices) is the caller's.
//!
//! Invariants: the table is built in exact integer arithmetic, so member `i`
//! is drawn with probability `weights[i] / total` to within 2^-32 per column;
//! a table holds at most 2^16 members (aliases are `u16`); [`AliasTable::draw`]
//! allocates nothing, never panics, and on an empty table (or one whose
//! weights are all zero: every member then equally likely) still answers a
//! position, 0 when empty.

use super::random::WorkerState;

/// One column of an alias table: a draw landing here keeps the column's own
/// member when the coin is below `threshold`, else takes `alias`. Full
/// columns have `alias` = the column itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AliasColumn {
    threshold: u32,
    alias: u16,
}

/// An alias table over members `0..len`, drawn in proportion to their
/// weights.
#[derive(Clone, Debug, Default)]
pub(super) struct AliasTable {
    columns: Vec<AliasColumn>,
}

impl AliasTable {
    /// Builds the table in exact integer arithmetic: column `i` keeps itself
    /// with probability `threshold / 2^32` and gives the rest to its alias,
    /// so that member `i` is drawn with probability `weights[i] / total` (to
    /// within 2^-32 per column).
    pub(super) fn build(weights: &[u64]) -> AliasTable {
        let count = weights.len();
        let mut columns: Vec<AliasColumn> = (0..count)
            .map(|position| AliasColumn {
                threshold: u32::MAX,
                alias: position as u16,
            })
            .collect();
        let total: u128 = weights.iter().map(|&weight| u128::from(weight)).sum();
        if total == 0 {
            return AliasTable { columns };
        }
        // Each column holds `total` units; member i brings weights[i] × count.
        let mut units: Vec<u128> = weights
            .iter()
            .map(|&weight| u128::from(weight) * count as u128)
            .collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..count).partition(|&position| units[position] < total);
        while let (Some(&under), Some(&over)) = (small.last(), large.last()) {
            small.pop();
            columns[under] = AliasColumn {
                threshold: ((units[under] << 32) / total) as u32,
                alias: over as u16,
            };
            units[over] -= total - units[under];
            if units[over] < total {
                large.pop();
                small.push(over);
            }
        }
        // What is left is full, up to rounding: it keeps itself.
        AliasTable { columns }
    }

    /// A member's position, drawn in proportion to weight: O(1).
    #[inline]
    pub(super) fn draw(&self, worker: &mut WorkerState) -> usize {
        let random = worker.next_u64();
        // The top 32 bits pick the column (at most 2^16 columns, so the
        // product fits), the bottom 32 bits toss its coin.
        let column = (((random >> 32) * self.columns.len() as u64) >> 32) as usize;
        match self.columns.get(column) {
            Some(entry) if (random as u32) < entry.threshold => column,
            Some(entry) => usize::from(entry.alias),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probability of each member under an alias table, exactly.
    fn alias_probabilities(table: &AliasTable) -> Vec<f64> {
        let columns = &table.columns;
        let mut probability = vec![0.0; columns.len()];
        let column_share = 1.0 / columns.len() as f64;
        for (position, column) in columns.iter().enumerate() {
            let keep = if usize::from(column.alias) == position {
                1.0
            } else {
                f64::from(column.threshold) / 4_294_967_296.0
            };
            probability[position] += column_share * keep;
            probability[usize::from(column.alias)] += column_share * (1.0 - keep);
        }
        probability
    }

    #[test]
    fn alias_table_gives_each_member_its_weight() {
        let cases: [&[u64]; 5] = [
            &[1],
            &[1, 1, 1, 1],
            &[1, 2, 3, 4],
            &[1_000_000, 1, 1, 1, 1, 1, 1],
            &[5, 0, 7, 281_474_976_710_656, 3],
        ];
        for weights in cases {
            let total: u64 = weights.iter().sum();
            let probability = alias_probabilities(&AliasTable::build(weights));
            for (position, &weight) in weights.iter().enumerate() {
                let wanted = weight as f64 / total as f64;
                assert!(
                    (probability[position] - wanted).abs() < 1e-9,
                    "{weights:?}: {probability:?}"
                );
            }
        }
        assert!(AliasTable::build(&[]).columns.is_empty());
    }

    #[test]
    fn draws_follow_the_weights_and_an_empty_table_answers_zero() {
        let table = AliasTable::build(&[1, 0, 3, 4]);
        let mut worker = WorkerState::new(17);
        let mut counts = [0usize; 4];
        for _ in 0..80_000 {
            counts[table.draw(&mut worker)] += 1;
        }
        // Expected 10,000, 0, 30,000 and 40,000; the largest standard
        // deviation is about 140.
        assert_eq!(counts[1], 0, "{counts:?}");
        for (count, wanted) in counts.iter().zip([10_000, 0, 30_000, 40_000]) {
            assert!(count.abs_diff(wanted) < 700, "{counts:?}");
        }
        let empty = AliasTable::build(&[]);
        assert_eq!(empty.draw(&mut worker), 0);
    }
}
