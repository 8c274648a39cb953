//! Weighted rendezvous (highest random weight) hashing of client subnets,
//! for the hash policy.
//!
//! A client is keyed by its subnet ([`Rendezvous::key`]: the address masked
//! to the shorter of the hash prefix and the ECS source prefix), each member
//! by a seed mixed from its backend index, and the pair by `mix64(key ^
//! seed)`. A member's score is `ln(u) / weight`, `u` being that hash read as
//! a uniform value in (0, 1); the highest scores win
//! ([`Rendezvous::highest`]).
//! Because a member's score depends only on the client and the member, a
//! member leaving or joining moves only the subnets it wins, and each member
//! comes first for a share of subnets in proportion to its weight.
//!
//! Invariants: members are kept heaviest weight first, ascending backend
//! index within a weight; within one weight the score grows with the raw
//! hash, so members are screened by raw hash against a per-class threshold
//! and only a class's few best pay for a logarithm, without changing the
//! answer (see [`THRESHOLD_MARGIN`]). `key` and `highest` allocate nothing,
//! never panic, and cost O(members) hashes.

use std::net::IpAddr;

use super::{Chosen, Client, MAX_ANSWERS};
use crate::hash::mix64;

/// Mixed into a backend's index to seed its rendezvous hashes.
const HASH_SEED_SALT: u64 = 0x243f_6a88_85a3_08d3;
/// Told apart in the key: an IPv4 subnet.
const HASH_KEY_V4: u64 = 4;
/// Told apart in the key: an IPv6 subnet.
const HASH_KEY_V6: u64 = 6;

/// The rendezvous table of one candidate set: its members, their seeds and
/// weight classes, and the subnet lengths clients are keyed by. Empty (no
/// member) for pools of other policies.
#[derive(Clone, Debug, Default)]
pub(super) struct Rendezvous {
    /// The IPv4 client subnet length hashed (e.g. 24).
    prefix_v4: u8,
    /// The IPv6 client subnet length hashed (e.g. 56).
    prefix_v6: u8,
    /// Backend indices, heaviest weight class first and ascending within a
    /// class.
    members: Vec<u16>,
    /// Each member's rendezvous seed, by position in `members`.
    hash_seeds: Vec<u64>,
    /// The members grouped by weight, in `members` order.
    weight_classes: Vec<WeightClass>,
}

/// Members `previous class's end..end` all have weight `weight`.
/// Within a class the rendezvous score grows with the raw hash, so one raw
/// hash threshold per class screens out, before any logarithm, the members
/// that cannot make the top list.
#[derive(Clone, Copy, Debug, PartialEq)]
struct WeightClass {
    end: usize,
    weight: f64,
    inverse_weight: f64,
}

impl Rendezvous {
    /// A table over `members` (backend indices) with `weights` (one per
    /// member, at least 1), keying IPv4 clients by their `/prefix_v4` and
    /// IPv6 clients by their `/prefix_v6`.
    pub(super) fn build(
        members: &[u16],
        weights: &[u64],
        prefix_v4: u8,
        prefix_v6: u8,
    ) -> Rendezvous {
        let mut weighted: Vec<(u64, u16)> = weights
            .iter()
            .copied()
            .zip(members.iter().copied())
            .collect();
        // Heaviest first: they fill the top list with high scores early, so
        // fewer later members pass the raw-hash threshold.
        weighted.sort_unstable_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(&right.1)));
        let members: Vec<u16> = weighted.iter().map(|&(_, index)| index).collect();
        let hash_seeds = members
            .iter()
            .map(|&index| mix64(u64::from(index) ^ HASH_SEED_SALT))
            .collect();
        let mut weight_classes: Vec<WeightClass> = Vec::new();
        for (position, &(weight, _)) in weighted.iter().enumerate() {
            let weight = weight as f64;
            match weight_classes.last_mut() {
                Some(class) if class.weight == weight => class.end = position + 1,
                _ => weight_classes.push(WeightClass {
                    end: position + 1,
                    weight,
                    inverse_weight: 1.0 / weight,
                }),
            }
        }
        Rendezvous {
            prefix_v4,
            prefix_v6,
            members,
            hash_seeds,
            weight_classes,
        }
    }

    /// How many members the table holds.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The key of the client's subnet and the subnet's prefix length.
    #[inline]
    pub(super) fn key(&self, client: &Client) -> (u64, u8) {
        match client.address {
            IpAddr::V4(address) => {
                let prefix_len = self.prefix_v4.min(client.source_prefix).min(32);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix_len))
                    .unwrap_or(0);
                let subnet = u32::from(address) & mask;
                let key = (u64::from(subnet) << 32) | (u64::from(prefix_len) << 8) | HASH_KEY_V4;
                (mix64(key), prefix_len)
            }
            IpAddr::V6(address) => {
                let prefix_len = self.prefix_v6.min(client.source_prefix).min(128);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix_len))
                    .unwrap_or(0);
                let subnet = u128::from(address) & mask;
                let high = mix64((subnet >> 64) as u64 ^ HASH_KEY_V6);
                let low = subnet as u64 ^ u64::from(prefix_len).rotate_right(8);
                (mix64(high ^ low), prefix_len)
            }
        }
    }

    /// Replaces `out` with the `wanted` members (at most [`MAX_ANSWERS`])
    /// with the highest rendezvous scores for `key`, best first.
    #[inline]
    pub(super) fn highest(&self, key: u64, wanted: usize, out: &mut Chosen) {
        if self.weight_classes.len() == 1 {
            // One weight: the raw hash order is the score order.
            highest_raw_hashes(key, &self.members, &self.hash_seeds, wanted, 0).copy_into(out);
        } else {
            let mut best = TopList::new(wanted, f64::NEG_INFINITY);
            let mut class_start = 0;
            for class in &self.weight_classes {
                let members = self.members.get(class_start..class.end).unwrap_or(&[]);
                let seeds = self.hash_seeds.get(class_start..class.end).unwrap_or(&[]);
                class_start = class.end;
                // Within a class the raw hash orders the scores, so only the
                // class's best few (and only those that can beat the lowest
                // score kept so far) need a logarithm.
                let floor = entry_threshold(&best, class.weight);
                let class_best = highest_raw_hashes(key, members, seeds, wanted, floor);
                for (&hash, &index) in class_best.entries() {
                    best.offer(rendezvous_score(hash, class.inverse_weight), index);
                }
            }
            best.copy_into(out);
        }
    }
}

/// The weighted rendezvous score of a backend whose hash for the
/// client is `hash`: `ln(u) / weight` for `u` uniform in (0, 1). `-ln(u) /
/// weight` is exponential with rate `weight`, so the highest score goes to
/// each backend with probability `weight / total`.
#[inline]
fn rendezvous_score(hash: u64, inverse_weight: f64) -> f64 {
    let unit = ((hash >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    unit.ln() * inverse_weight
}

/// How far below the exact tie point [`entry_threshold`] sits, as a
/// fraction: far more than the rounding of `exp` and `ln` (about 1e-16), so
/// skipping members below the threshold never changes the answer.
const THRESHOLD_MARGIN: f64 = 1e-9;

/// The smallest raw hash with which a member of weight `weight` could
/// still enter `best`; below it the member's score is certainly no better
/// than the lowest kept one (see [`THRESHOLD_MARGIN`]).
#[inline]
fn entry_threshold(best: &TopList<f64>, weight: f64) -> u64 {
    if !best.is_full() {
        return 0;
    }
    // The uniform value at which ln(u) / weight ties the lowest kept score.
    let tie = (best.lowest() * weight).exp();
    let steps = tie * (1.0 - THRESHOLD_MARGIN) * (1u64 << 53) as f64 - 1.0;
    if steps.is_nan() || steps <= 0.0 {
        return 0;
    }
    (steps as u64).min((1 << 53) - 1) << 11
}

/// The `wanted` members with the highest raw hashes for `key` of at
/// least `floor`, best first. A member only costs a comparison with the
/// lowest hash that can still enter.
#[inline]
fn highest_raw_hashes(
    key: u64,
    members: &[u16],
    seeds: &[u64],
    wanted: usize,
    floor: u64,
) -> TopList<u64> {
    let mut best = TopList::new(wanted, 0);
    let mut lowest = floor;
    for (&index, &seed) in members.iter().zip(seeds) {
        let hash = mix64(key ^ seed);
        if hash >= lowest && best.offer(hash, index) && best.is_full() {
            lowest = best.lowest();
        }
    }
    best
}

/// The `capacity` highest-scoring backends offered so far, best first; ties
/// keep the one offered first. On the stack, at most [`MAX_ANSWERS`].
#[derive(Clone, Copy, Debug)]
struct TopList<S> {
    scores: [S; MAX_ANSWERS],
    indices: [u16; MAX_ANSWERS],
    len: usize,
    capacity: usize,
}

impl<S: Copy + PartialOrd> TopList<S> {
    /// An empty list keeping at most `capacity` (capped at [`MAX_ANSWERS`]);
    /// `filler` only fills unused slots.
    #[inline]
    fn new(capacity: usize, filler: S) -> TopList<S> {
        TopList {
            scores: [filler; MAX_ANSWERS],
            indices: [0; MAX_ANSWERS],
            len: 0,
            capacity: capacity.min(MAX_ANSWERS),
        }
    }

    /// Keeps `index` if its score is among the best `capacity`; whether it
    /// was kept.
    #[inline]
    fn offer(&mut self, score: S, index: u16) -> bool {
        let Some(last) = self.capacity.checked_sub(1) else {
            return false;
        };
        if self.len == self.capacity && score <= self.scores[last] {
            return false;
        }
        self.insert(score, index);
        true
    }

    /// Whether `capacity` entries are kept.
    #[inline]
    fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Inserts `index` in score order, dropping the last when full; the
    /// caller has checked that the score beats the last when full.
    #[inline]
    fn insert(&mut self, score: S, index: u16) {
        let Some(last) = self.capacity.checked_sub(1) else {
            return;
        };
        let mut slot = self.len.min(last);
        while slot > 0 && self.scores[slot - 1] < score {
            self.scores[slot] = self.scores[slot - 1];
            self.indices[slot] = self.indices[slot - 1];
            slot -= 1;
        }
        self.scores[slot] = score;
        self.indices[slot] = index;
        if self.len < self.capacity {
            self.len += 1;
        }
    }

    /// The lowest score kept (the filler when empty).
    #[inline]
    fn lowest(&self) -> S {
        self.scores[self.len.saturating_sub(1)]
    }

    /// The kept (score, backend index) pairs, best first.
    #[inline]
    fn entries(&self) -> impl Iterator<Item = (&S, &u16)> {
        self.scores.iter().zip(&self.indices).take(self.len)
    }

    /// Replaces `out` with the kept indices, best first.
    #[inline]
    fn copy_into(&self, out: &mut Chosen) {
        out.len = 0;
        for &index in self.indices.iter().take(self.len) {
            out.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::random::WorkerState;
    use super::*;

    /// The answer by definition: every member scored, best first.
    fn scoring_every_member(key: u64, members: &[u16], weights: &[u64], wanted: usize) -> Vec<u16> {
        let mut scored: Vec<(f64, u16)> = members
            .iter()
            .zip(weights)
            .map(|(&index, &weight)| {
                let seed = mix64(u64::from(index) ^ HASH_SEED_SALT);
                let hash = mix64(key ^ seed);
                (rendezvous_score(hash, 1.0 / weight as f64), index)
            })
            .collect();
        scored.sort_by(|left, right| right.0.total_cmp(&left.0));
        scored
            .iter()
            .take(wanted)
            .map(|&(_, index)| index)
            .collect()
    }

    #[test]
    fn highest_by_weight_class_matches_scoring_every_member() {
        let mut random = WorkerState::new(21);
        for round in 0..200 {
            let count = 1 + random.next_below(40);
            let classes = 1 + round % 5;
            // Backend indices with gaps, as when some backends are down.
            let members: Vec<u16> = (0..count as u16)
                .filter(|_| random.next_below(4) != 0)
                .collect();
            let weights: Vec<u64> = members
                .iter()
                .map(|_| 1 + random.next_below(classes) as u64)
                .collect();
            let wanted = (1 + random.next_below(MAX_ANSWERS)).min(members.len());
            let table = Rendezvous::build(&members, &weights, 24, 56);
            assert_eq!(table.len(), members.len());
            for _ in 0..20 {
                let address = Ipv4Addr::from(random.next_u64() as u32);
                let (key, _) = table.key(&Client::from_address(IpAddr::V4(address)));
                let mut out = Chosen::default();
                table.highest(key, wanted, &mut out);
                // One weight class or several: the same order.
                assert_eq!(
                    out.as_slice(),
                    scoring_every_member(key, &members, &weights, wanted),
                    "{members:?} {weights:?}"
                );
            }
        }
    }

    #[test]
    fn key_masks_to_the_shorter_prefix_and_returns_it() {
        let table = Rendezvous::build(&[0, 1], &[1, 1], 24, 56);
        let key = |text: &str, source_prefix: u8| {
            table.key(&Client {
                address: text.parse().expect("test address parses"),
                source_prefix,
            })
        };
        let (same_24, prefix) = key("198.51.100.1", 32);
        assert_eq!(prefix, 24);
        assert_eq!(key("198.51.100.254", 32), (same_24, 24));
        assert_ne!(key("198.51.101.1", 32).0, same_24);
        // An ECS source prefix shorter than the hash prefix wins.
        assert_eq!(key("198.51.96.0", 20).1, 20);
        assert_eq!(key("198.51.96.0", 20).0, key("198.51.111.0", 20).0);
        let (same_56, prefix) = key("2001:db8:1:100::1", 128);
        assert_eq!(prefix, 56);
        assert_eq!(key("2001:db8:1:1ff:ffff::1", 128), (same_56, 56));
        // The same bits as an IPv4 and an IPv6 subnet are told apart.
        assert_ne!(key("0.0.0.0", 0).0, key("::", 0).0);
    }

    #[test]
    fn an_empty_table_answers_nothing() {
        let table = Rendezvous::default();
        let mut out = Chosen {
            indices: [7; MAX_ANSWERS],
            len: 3,
        };
        table.highest(12_345, 0, &mut out);
        assert!(out.as_slice().is_empty());
    }
}
