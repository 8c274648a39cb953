//! One service's backends of one address family, with the policy's
//! selection tables precomputed: [`Pool::build`] off the fast path,
//! [`Pool::select`] per query.
//!
//! Build decides everything that does not depend on the client: which
//! backends are eligible (the up ones; every one when none is up and
//! when_all_down = all), the priority level, each region's candidate set and
//! the fallback that stands in for it, a Vose alias table per candidate set
//! for O(1) weighted draws (`alias`), and for hash the members' rendezvous
//! seeds and weight classes (`rendezvous`). Select then only draws, rotates
//! or hashes.
//!
//! Invariants of `select`: it allocates nothing, locks nothing and touches no
//! shared mutable state (the random generator and rotation counters are the
//! worker's own); it writes at most `answers` distinct indices, each into
//! [`PoolSpec::backends`], into [`Chosen`], and a down backend only when no
//! backend is up and when_all_down = all; it never panics. Its cost is
//! O(answers) for round_robin, weighted, priority and least_loaded,
//! O(backends) for hash and O(log networks + answers) for geo.
//!
//! Policies:
//! - round_robin: `answers` consecutive eligible backends from
//!   `counter % eligible`, the counter being the worker's own for this pool
//!   (see [`ROTATION_SLOTS`](super::random::ROTATION_SLOTS)); weights are
//!   ignored.
//! - weighted, least_loaded, priority (within its level) and geo (within the
//!   region answering): distinct draws in proportion to weight (least_loaded:
//!   weight × spare capacity). Duplicates are redrawn up to
//!   [`REDRAWS_PER_ANSWER`] times per answer, then the rest is filled in
//!   backend order after the last draw. Asking for at least as many as are
//!   eligible answers all of them, rotated to start at a weighted draw.
//! - hash: weighted rendezvous hashing (score `ln(u) / weight` for a uniform
//!   `u` hashed from the client subnet and the backend, highest wins; equal
//!   weights compare raw hashes, no logarithm) of the client's address
//!   masked to `min(hash prefix, ECS source prefix)`, which is also the
//!   scope returned. A backend's identity is its index in
//!   [`PoolSpec::backends`], so a backend going down or up moves only the
//!   subnets it wins; reordering or removing backends in the config
//!   reshuffles subnets.
//! - geo: the region [`Topology::lookup`] gives (scope: the prefix length it
//!   gives), else the first of its fallbacks with an up backend, else every
//!   region's up backends (also for a client in no region).
//! - when no backend is up: `All` answers as if all were up, the other
//!   actions answer no backend ([`Choice::Fallback`], [`Choice::Empty`],
//!   [`Choice::ServFail`]); an empty pool is all down, and with `All` answers
//!   [`Choice::Empty`].

use super::alias::AliasTable;
use super::geo::Topology;
use super::random::WorkerState;
use super::rendezvous::Rendezvous;
use super::trace::{PickReason, Trace, TraceEvent};
use super::{Choice, Chosen, Client, MAX_ANSWERS, Policy, RegionId, WhenAllDown};

/// Most backends a pool can index ([`Chosen`] holds `u16` indices); backends
/// after these are ignored.
pub const MAX_BACKENDS: usize = u16::MAX as usize + 1;
/// Distinct draws: how many random draws per wanted answer before the rest
/// is filled in order (a heavy backend keeps coming up again).
pub const REDRAWS_PER_ANSWER: usize = 4;
/// least_loaded: the spare capacity a fully loaded backend still counts
/// with, so it is chosen rarely but not never (and comes back into use once
/// its load report drops).
pub const SPARE_CAPACITY_FLOOR: f32 = 0.02;
/// least_loaded: spare capacity is counted in steps of 1 / this.
const SPARE_CAPACITY_STEPS: f32 = 65_536.0;

/// One backend as the balancer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendInfo {
    /// Relative share, at least 1 (0 counts as 1).
    pub weight: u32,
    /// Lower is preferred; at least 1.
    pub priority: u32,
    /// The region it serves, for geo.
    pub region: Option<RegionId>,
    /// Healthy and not drained.
    pub up: bool,
    /// For least_loaded: 0.0 (idle) to 1.0 (full); outside that range is
    /// clamped, NaN counts as full.
    pub load: f32,
}

/// Everything [`Pool::build`] needs.
#[derive(Clone, Copy, Debug)]
pub struct PoolSpec<'a> {
    /// How backends are picked.
    pub policy: Policy,
    /// Addresses per answer, 1..=[`MAX_ANSWERS`] (clamped into that range).
    pub answers: usize,
    /// The backends of this family; may be empty.
    pub backends: &'a [BackendInfo],
    /// hash: the IPv4 client subnet length hashed (e.g. 24).
    pub hash_prefix_v4: u8,
    /// hash: the IPv6 client subnet length hashed (e.g. 56).
    pub hash_prefix_v6: u8,
    /// geo, indexed by region: the regions to try, in order, when a region
    /// has no up backend (not followed further).
    pub region_fallbacks: &'a [Vec<RegionId>],
    /// What to answer when no backend is up.
    pub when_all_down: WhenAllDown,
    /// round_robin: which of each worker's rotation counters the pool steps
    /// (taken modulo [`ROTATION_SLOTS`](super::random::ROTATION_SLOTS));
    /// ignored by other policies. Pools queried in alternation, such as a
    /// service's A and AAAA pools, need different slots, or each sees only
    /// every other counter value; a rebuild of the same pool (health
    /// changed) keeps its slot, so its rotation carries on where it was.
    pub rotation_slot: usize,
}

/// Backends eligible together (a pool, a priority level, a region) and their
/// draw table. Positions index `members` and `alias_table` alike.
#[derive(Clone, Debug, Default)]
struct CandidateSet {
    /// Backend indices, ascending.
    members: Vec<u16>,
    /// Alias table over `members`, by weight.
    alias_table: AliasTable,
}

impl CandidateSet {
    /// A set of `members` drawn in proportion to `weights` (one per member).
    fn build(members: Vec<u16>, weights: &[u64]) -> CandidateSet {
        CandidateSet {
            alias_table: AliasTable::build(weights),
            members,
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    /// A member's position, drawn in proportion to weight: O(1).
    #[inline]
    fn draw(&self, worker: &mut WorkerState) -> usize {
        self.alias_table.draw(worker)
    }

    /// The backend index at `position`, wrapping around. Callers pass a
    /// position below twice the count (a draw or a rotation start, plus a
    /// step), which wraps with one subtraction instead of a division.
    #[inline]
    fn member_at(&self, position: usize) -> Option<u16> {
        let count = self.members.len();
        let index = if position < count {
            position
        } else if position - count < count {
            position - count
        } else if count == 0 {
            return None;
        } else {
            position % count
        };
        self.members.get(index).copied()
    }
}

/// How many units of share `backend` gets under `policy`.
fn share_units(policy: Policy, backend: &BackendInfo) -> u64 {
    let weight = u64::from(backend.weight.max(1));
    if policy != Policy::LeastLoaded {
        return weight;
    }
    let load = if backend.load.is_nan() {
        1.0
    } else {
        backend.load.clamp(0.0, 1.0)
    };
    let spare = (1.0 - load).max(SPARE_CAPACITY_FLOOR);
    weight * (spare * SPARE_CAPACITY_STEPS).round() as u64
}

/// geo: where a client region's answer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RegionRoute {
    /// The region's own up backends: `region_sets[set]`.
    Own { set: u32 },
    /// The region has none up; fallback region `to` answers from
    /// `region_sets[set]`.
    Fallback { to: RegionId, set: u32 },
    /// Neither the region nor any fallback has an up backend: every region's
    /// up backends answer.
    EveryRegion,
}

/// Precomputed selection tables for one pool; immutable, `Send + Sync`,
/// built off the fast path.
#[derive(Clone, Debug)]
pub struct Pool {
    policy: Policy,
    /// 1..=MAX_ANSWERS.
    answers: usize,
    /// How many backends the pool was built from.
    backend_count: usize,
    /// When `select` answers no backend (none up, and the action is not to
    /// answer them all): what it answers and the action that says so.
    refusal: Option<(Choice, WhenAllDown)>,
    /// No backend is up and when_all_down = all: every backend is eligible.
    answering_all_down: bool,
    /// The reason each pick is traced with.
    reason: PickReason,
    /// round_robin: the worker's counter this pool rotates with.
    rotation_slot: usize,
    /// priority: the level answered.
    priority_level: u32,
    /// Every eligible backend (priority: of the level answered).
    main: CandidateSet,
    /// geo: one set per region with an eligible backend.
    region_sets: Vec<CandidateSet>,
    /// geo: indexed by region; regions past the end answer from every region.
    routes: Vec<RegionRoute>,
    /// hash: every eligible backend's rendezvous hashing (empty for other
    /// policies).
    rendezvous: Rendezvous,
}

impl Pool {
    /// Precomputes the tables for `spec`. Off the fast path: O(backends +
    /// regions + fallbacks).
    pub fn build(spec: &PoolSpec<'_>) -> Pool {
        let backends = spec.backends.get(..MAX_BACKENDS).unwrap_or(spec.backends);
        let policy = spec.policy;
        let any_up = backends.iter().any(|backend| backend.up);
        let refusal = if any_up {
            None
        } else {
            match spec.when_all_down {
                WhenAllDown::All if !backends.is_empty() => None,
                WhenAllDown::All | WhenAllDown::Empty => Some(Choice::Empty),
                WhenAllDown::Fallback => Some(Choice::Fallback),
                WhenAllDown::ServFail => Some(Choice::ServFail),
            }
            .map(|choice| (choice, spec.when_all_down))
        };
        let answering_all_down = !any_up && refusal.is_none();
        let backend_at = |index: u16| backends.get(usize::from(index));

        let mut eligible: Vec<u16> = if refusal.is_some() {
            Vec::new()
        } else {
            (0..backends.len())
                .filter(|&index| answering_all_down || backends[index].up)
                .map(|index| index as u16)
                .collect()
        };
        let mut priority_level = 0;
        if policy == Policy::Priority
            && let Some(best) = eligible
                .iter()
                .filter_map(|&index| backend_at(index))
                .map(|backend| backend.priority)
                .min()
        {
            priority_level = best;
            eligible.retain(|&index| backend_at(index).is_some_and(|b| b.priority == best));
        }

        let weights_of = |members: &[u16]| -> Vec<u64> {
            members
                .iter()
                .filter_map(|&index| backend_at(index))
                .map(|backend| share_units(policy, backend))
                .collect()
        };
        let candidate_set = |members: Vec<u16>| {
            let weights = weights_of(&members);
            CandidateSet::build(members, &weights)
        };
        let rendezvous = if policy == Policy::Hash {
            Rendezvous::build(
                &eligible,
                &weights_of(&eligible),
                spec.hash_prefix_v4,
                spec.hash_prefix_v6,
            )
        } else {
            Rendezvous::default()
        };

        let mut region_sets = Vec::new();
        let mut routes = Vec::new();
        if policy == Policy::Geo {
            let region_count = eligible
                .iter()
                .filter_map(|&index| backend_at(index).and_then(|backend| backend.region))
                .map(|region| usize::from(region) + 1)
                .max()
                .unwrap_or(0);
            let mut members_by_region: Vec<Vec<u16>> = vec![Vec::new(); region_count];
            for &index in &eligible {
                if let Some(region) = backend_at(index).and_then(|backend| backend.region)
                    && let Some(members) = members_by_region.get_mut(usize::from(region))
                {
                    members.push(index);
                }
            }
            let mut set_of_region: Vec<Option<u32>> = vec![None; region_count];
            for (region, members) in members_by_region.into_iter().enumerate() {
                if !members.is_empty() {
                    set_of_region[region] = Some(region_sets.len() as u32);
                    region_sets.push(candidate_set(members));
                }
            }
            let own_set = |region: usize| set_of_region.get(region).copied().flatten();
            let route_count = region_count.max(spec.region_fallbacks.len());
            routes = (0..route_count)
                .map(|region| {
                    if let Some(set) = own_set(region) {
                        return RegionRoute::Own { set };
                    }
                    spec.region_fallbacks
                        .get(region)
                        .into_iter()
                        .flatten()
                        .find_map(|&to| {
                            own_set(usize::from(to)).map(|set| RegionRoute::Fallback { to, set })
                        })
                        .unwrap_or(RegionRoute::EveryRegion)
                })
                .collect();
        }

        let reason = if answering_all_down {
            PickReason::AllDownAnswerAll
        } else {
            match policy {
                Policy::RoundRobin => PickReason::Rotation,
                Policy::Weighted => PickReason::WeightedDraw,
                Policy::Hash => PickReason::HighestHash,
                Policy::Priority => PickReason::Priority,
                Policy::Geo => PickReason::Region,
                Policy::LeastLoaded => PickReason::SpareCapacity,
            }
        };
        Pool {
            policy,
            answers: spec.answers.clamp(1, MAX_ANSWERS),
            backend_count: spec.backends.len(),
            refusal,
            answering_all_down,
            reason,
            rotation_slot: spec.rotation_slot,
            priority_level,
            main: candidate_set(eligible),
            region_sets,
            routes,
            rendezvous,
        }
    }

    /// Number of backends the pool was built from.
    pub fn len(&self) -> usize {
        self.backend_count
    }

    /// Whether the pool was built from no backend.
    pub fn is_empty(&self) -> bool {
        self.backend_count == 0
    }

    /// The pool's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Backends per answer, at most (1..=[`MAX_ANSWERS`]).
    pub fn answers(&self) -> usize {
        self.answers
    }

    /// round_robin: which of a worker's rotation counters the pool steps
    /// (see [`PoolSpec::rotation_slot`]).
    pub fn rotation_slot(&self) -> usize {
        self.rotation_slot
    }

    /// Chooses backends for `client` into `out` (cleared first).
    /// Allocation-free, lock-free, O(answers) or O(backends) at most (geo:
    /// O(log prefixes)). `topology` is only consulted by geo.
    pub fn select<T: Trace>(
        &self,
        client: &Client,
        topology: &Topology,
        worker: &mut WorkerState,
        out: &mut Chosen,
        trace: &mut T,
    ) -> Choice {
        out.len = 0;
        if let Some((choice, action)) = self.refusal {
            trace.event(TraceEvent::AllDown { action });
            return choice;
        }
        if self.answering_all_down {
            trace.event(TraceEvent::AllDown {
                action: WhenAllDown::All,
            });
        }
        match self.policy {
            Policy::RoundRobin => {
                self.rotate(worker, out, trace);
                Choice::Backends { scope_prefix: 0 }
            }
            Policy::Weighted | Policy::LeastLoaded => {
                self.draw_distinct(&self.main, worker, out, trace);
                Choice::Backends { scope_prefix: 0 }
            }
            Policy::Priority => {
                trace.event(TraceEvent::PriorityLevel {
                    priority: self.priority_level,
                });
                self.draw_distinct(&self.main, worker, out, trace);
                Choice::Backends { scope_prefix: 0 }
            }
            Policy::Hash => {
                let (key, prefix_len) = self.rendezvous.key(client);
                trace.event(TraceEvent::HashKey { key, prefix_len });
                self.highest_hashes(key, out, trace);
                Choice::Backends {
                    scope_prefix: prefix_len,
                }
            }
            Policy::Geo => {
                let (region, prefix_len) = topology.lookup(client.address);
                trace.event(TraceEvent::Region { region, prefix_len });
                let set = self.region_set(region, trace);
                self.draw_distinct(set, worker, out, trace);
                Choice::Backends {
                    scope_prefix: prefix_len,
                }
            }
        }
    }

    /// Appends `index` to `out` unless it is there already or `out` is full.
    #[inline]
    fn offer<T: Trace>(&self, index: u16, out: &mut Chosen, trace: &mut T) {
        if out.len < self.answers && !out.contains(index) {
            out.push(index);
            trace.event(TraceEvent::Picked {
                index,
                reason: self.reason,
            });
        }
    }

    /// round_robin: `answers` consecutive eligible backends from the worker's
    /// counter.
    fn rotate<T: Trace>(&self, worker: &mut WorkerState, out: &mut Chosen, trace: &mut T) {
        let count = self.main.len();
        trace.event(TraceEvent::Candidates { count });
        if count == 0 {
            return;
        }
        let start = (worker.advance_rotation(self.rotation_slot) % count as u64) as usize;
        for step in 0..self.answers.min(count) {
            if let Some(index) = self.main.member_at(start + step) {
                self.offer(index, out, trace);
            }
        }
    }

    /// Distinct weighted draws from `set` (see the module doc).
    fn draw_distinct<T: Trace>(
        &self,
        set: &CandidateSet,
        worker: &mut WorkerState,
        out: &mut Chosen,
        trace: &mut T,
    ) {
        let count = set.len();
        trace.event(TraceEvent::Candidates { count });
        if count == 0 {
            return;
        }
        let first = set.draw(worker);
        if self.answers >= count {
            for step in 0..count {
                if let Some(index) = set.member_at(first + step) {
                    self.offer(index, out, trace);
                }
            }
            return;
        }
        let mut last = first;
        if let Some(index) = set.member_at(first) {
            self.offer(index, out, trace);
        }
        let mut draws_left = self.answers * REDRAWS_PER_ANSWER;
        while out.len < self.answers && draws_left > 0 {
            draws_left -= 1;
            last = set.draw(worker);
            if let Some(index) = set.member_at(last) {
                self.offer(index, out, trace);
            }
        }
        for step in 1..count {
            if out.len >= self.answers {
                break;
            }
            if let Some(index) = set.member_at(last + step) {
                self.offer(index, out, trace);
            }
        }
    }

    /// hash: the `answers` eligible backends with the highest rendezvous
    /// scores for `key`, best first.
    fn highest_hashes<T: Trace>(&self, key: u64, out: &mut Chosen, trace: &mut T) {
        let table = &self.rendezvous;
        trace.event(TraceEvent::Candidates { count: table.len() });
        table.highest(key, self.answers.min(table.len()), out);
        if trace.enabled() {
            for &index in out.as_slice() {
                trace.event(TraceEvent::Picked {
                    index,
                    reason: self.reason,
                });
            }
        }
    }

    /// geo: the candidates for a client of `region`.
    #[inline]
    fn region_set<T: Trace>(&self, region: Option<RegionId>, trace: &mut T) -> &CandidateSet {
        let route = region.and_then(|region| self.routes.get(usize::from(region)).copied());
        let set = match (region, route) {
            (_, Some(RegionRoute::Own { set })) => set,
            (Some(from), Some(RegionRoute::Fallback { to, set })) => {
                trace.event(TraceEvent::RegionFallback { from, to });
                set
            }
            _ => {
                trace.event(TraceEvent::EveryRegion);
                return &self.main;
            }
        };
        self.region_sets.get(set as usize).unwrap_or(&self.main)
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::ROTATION_SLOTS;
    use std::net::IpAddr;

    use super::super::trace::{NoTrace, Recorder};
    use super::*;

    fn backend(weight: u32) -> BackendInfo {
        BackendInfo {
            weight,
            priority: 1,
            region: None,
            up: true,
            load: 0.0,
        }
    }

    fn down(mut info: BackendInfo) -> BackendInfo {
        info.up = false;
        info
    }

    fn in_region(mut info: BackendInfo, region: RegionId) -> BackendInfo {
        info.region = Some(region);
        info
    }

    fn spec(policy: Policy, answers: usize, backends: &[BackendInfo]) -> PoolSpec<'_> {
        PoolSpec {
            policy,
            answers,
            backends,
            hash_prefix_v4: 24,
            hash_prefix_v6: 56,
            region_fallbacks: &[],
            when_all_down: WhenAllDown::All,
            rotation_slot: 0,
        }
    }

    fn client(text: &str) -> Client {
        Client::from_address(text.parse().expect("test address parses"))
    }

    fn select(pool: &Pool, client: &Client, worker: &mut WorkerState) -> (Choice, Vec<u16>) {
        select_in(pool, client, &Topology::empty(), worker)
    }

    fn select_in(
        pool: &Pool,
        client: &Client,
        topology: &Topology,
        worker: &mut WorkerState,
    ) -> (Choice, Vec<u16>) {
        let mut out = Chosen::default();
        let choice = pool.select(client, topology, worker, &mut out, &mut NoTrace);
        (choice, out.as_slice().to_vec())
    }

    /// How often each backend is answered first over `queries` selections,
    /// as shares of the total.
    fn first_shares(pool: &Pool, queries: usize, seed: u64) -> Vec<f64> {
        let mut worker = WorkerState::new(seed);
        let mut counts = vec![0usize; pool.len()];
        let anyone = client("192.0.2.1");
        for _ in 0..queries {
            let (_, chosen) = select(pool, &anyone, &mut worker);
            counts[usize::from(chosen[0])] += 1;
        }
        counts
            .iter()
            .map(|&count| count as f64 / queries as f64)
            .collect()
    }

    fn assert_shares(observed: &[f64], expected: &[f64], tolerance: f64) {
        for (position, (seen, wanted)) in observed.iter().zip(expected).enumerate() {
            assert!(
                (seen - wanted).abs() <= tolerance,
                "backend {position}: share {seen:.4}, expected {wanted:.4} (all: {observed:?})"
            );
        }
    }

    #[test]
    fn round_robin_rotates_through_up_backends() {
        let backends = [backend(1), backend(1), backend(1), backend(1)];
        let pool = Pool::build(&spec(Policy::RoundRobin, 2, &backends));
        let mut worker = WorkerState::new(1);
        let anyone = client("192.0.2.1");
        let answers: Vec<Vec<u16>> = (0..5)
            .map(|_| select(&pool, &anyone, &mut worker).1)
            .collect();
        assert_eq!(
            answers,
            [vec![0, 1], vec![1, 2], vec![2, 3], vec![3, 0], vec![0, 1]]
        );
        assert_eq!(
            select(&pool, &anyone, &mut worker).0,
            Choice::Backends { scope_prefix: 0 }
        );
    }

    #[test]
    fn round_robin_skips_down_backends_and_caps_at_up_count() {
        let backends = [backend(1), down(backend(1)), backend(1), backend(1)];
        let pool = Pool::build(&spec(Policy::RoundRobin, 2, &backends));
        let mut worker = WorkerState::new(1);
        let anyone = client("192.0.2.1");
        let answers: Vec<Vec<u16>> = (0..3)
            .map(|_| select(&pool, &anyone, &mut worker).1)
            .collect();
        assert_eq!(answers, [vec![0, 2], vec![2, 3], vec![3, 0]]);

        let pool = Pool::build(&spec(Policy::RoundRobin, 5, &backends));
        let answers: Vec<Vec<u16>> = (0..3)
            .map(|_| select(&pool, &anyone, &mut worker).1)
            .collect();
        assert_eq!(answers, [vec![0, 2, 3], vec![2, 3, 0], vec![3, 0, 2]]);
    }

    /// The first backend each of two round-robin pools over two backends
    /// answers, queried strictly in turn by one worker four times each.
    fn first_answers_in_alternation(first_slot: usize, second_slot: usize) -> [Vec<u16>; 2] {
        let backends = [backend(1), backend(1)];
        let first = Pool::build(&PoolSpec {
            rotation_slot: first_slot,
            ..spec(Policy::RoundRobin, 1, &backends)
        });
        let second = Pool::build(&PoolSpec {
            rotation_slot: second_slot,
            ..spec(Policy::RoundRobin, 1, &backends)
        });
        let mut worker = WorkerState::new(1);
        let anyone = client("192.0.2.1");
        let mut answers = [Vec::new(), Vec::new()];
        for _ in 0..4 {
            answers[0].push(select(&first, &anyone, &mut worker).1[0]);
            answers[1].push(select(&second, &anyone, &mut worker).1[0]);
        }
        answers
    }

    #[test]
    fn round_robin_pools_in_alternation_each_rotate_fully() {
        // A service's A and AAAA pools, on different slots: each still
        // starts at every backend in turn.
        assert_eq!(
            first_answers_in_alternation(0, 1),
            [[0, 1, 0, 1], [0, 1, 0, 1]]
        );
        assert_eq!(
            first_answers_in_alternation(5, 5 + ROTATION_SLOTS + 1),
            [[0, 1, 0, 1], [0, 1, 0, 1]]
        );
        // On one slot (or slots a multiple of ROTATION_SLOTS apart) each
        // sees every other counter value, so each is stuck on one backend.
        assert_eq!(
            first_answers_in_alternation(3, 3),
            [[0, 0, 0, 0], [1, 1, 1, 1]]
        );
        assert_eq!(
            first_answers_in_alternation(3, 3 + ROTATION_SLOTS),
            [[0, 0, 0, 0], [1, 1, 1, 1]]
        );
    }

    #[test]
    fn weighted_shares_are_within_two_percent_over_100k() {
        // A down backend with a big weight must get nothing.
        let backends = [
            backend(1),
            backend(2),
            down(backend(50)),
            backend(3),
            backend(4),
        ];
        let pool = Pool::build(&spec(Policy::Weighted, 1, &backends));
        let shares = first_shares(&pool, 100_000, 7);
        // Standard deviation of a share near 0.3 over 100k draws: 0.0015.
        assert_shares(&shares, &[0.1, 0.2, 0.0, 0.3, 0.4], 0.01);
        for (share, wanted) in shares.iter().zip([0.1, 0.2, 0.0, 0.3, 0.4]) {
            assert!((share - wanted).abs() <= 0.02 * wanted, "{shares:?}");
        }
    }

    #[test]
    fn weighted_answers_are_distinct_up_and_skewed_by_weight() {
        let backends = [
            backend(1),
            backend(10),
            down(backend(10)),
            backend(1),
            backend(1),
            backend(1),
        ];
        let pool = Pool::build(&spec(Policy::Weighted, 3, &backends));
        let mut worker = WorkerState::new(3);
        let anyone = client("192.0.2.1");
        let mut heavy_in_answer = 0;
        for _ in 0..10_000 {
            let (choice, chosen) = select(&pool, &anyone, &mut worker);
            assert_eq!(choice, Choice::Backends { scope_prefix: 0 });
            assert_eq!(chosen.len(), 3);
            assert!(!chosen.contains(&2));
            let mut sorted = chosen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "{chosen:?}");
            if chosen.contains(&1) {
                heavy_in_answer += 1;
            }
        }
        // The heavy backend (10 of 14) is first 71% of the time and misses
        // all three places with probability 4/14 × 3/13 × 2/12 = 1.1%: about
        // 9,890 times in, standard deviation 10.
        assert!(
            (9_800..=9_960).contains(&heavy_in_answer),
            "{heavy_in_answer}"
        );
    }

    #[test]
    fn weighted_with_answers_over_up_count_answers_all_starting_by_weight() {
        let backends = [backend(1), backend(3), down(backend(1))];
        let pool = Pool::build(&spec(Policy::Weighted, 4, &backends));
        let mut worker = WorkerState::new(5);
        let anyone = client("192.0.2.1");
        for _ in 0..100 {
            let (_, chosen) = select(&pool, &anyone, &mut worker);
            assert!(chosen == [0, 1] || chosen == [1, 0], "{chosen:?}");
        }
        let shares = first_shares(&pool, 20_000, 6);
        assert_shares(&shares, &[0.25, 0.75, 0.0], 0.02);
    }

    #[test]
    fn weighted_fills_in_order_when_one_backend_dominates() {
        let backends = [backend(1_000_000), backend(1), backend(1), backend(1)];
        let pool = Pool::build(&spec(Policy::Weighted, 3, &backends));
        let mut worker = WorkerState::new(8);
        let anyone = client("192.0.2.1");
        for _ in 0..1_000 {
            let (_, chosen) = select(&pool, &anyone, &mut worker);
            assert_eq!(chosen, [0, 1, 2]);
        }
    }

    #[test]
    fn hash_sticks_to_the_client_subnet() {
        let backends: Vec<BackendInfo> = (0..8).map(|_| backend(1)).collect();
        let pool = Pool::build(&spec(Policy::Hash, 2, &backends));
        let mut worker = WorkerState::new(1);
        let (choice, first) = select(&pool, &client("198.51.100.1"), &mut worker);
        assert_eq!(choice, Choice::Backends { scope_prefix: 24 });
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        for host in ["198.51.100.2", "198.51.100.200", "198.51.100.255"] {
            assert_eq!(select(&pool, &client(host), &mut worker).1, first);
        }
        // An ECS source prefix shorter than the hash prefix is hashed (and
        // scoped) at its own length.
        let ecs = Client {
            address: "198.51.96.0".parse().expect("valid"),
            source_prefix: 20,
        };
        let (choice, _) = select(&pool, &ecs, &mut worker);
        assert_eq!(choice, Choice::Backends { scope_prefix: 20 });
        // Different subnets spread over the backends.
        let mut firsts = [0usize; 8];
        for third in 0..=255u8 {
            let (_, chosen) = select(&pool, &client(&format!("10.0.{third}.1")), &mut worker);
            firsts[usize::from(chosen[0])] += 1;
        }
        assert!(firsts.iter().all(|&count| count > 10), "{firsts:?}");
    }

    #[test]
    fn hash_v6_hashes_the_56() {
        let backends: Vec<BackendInfo> = (0..8).map(|_| backend(1)).collect();
        let pool = Pool::build(&spec(Policy::Hash, 1, &backends));
        let mut worker = WorkerState::new(1);
        let (choice, first) = select(&pool, &client("2001:db8:1:100::1"), &mut worker);
        assert_eq!(choice, Choice::Backends { scope_prefix: 56 });
        assert_eq!(
            select(&pool, &client("2001:db8:1:1ff:ffff::1"), &mut worker).1,
            first
        );
        let mut differs = 0;
        for subnet in 0..64u16 {
            let address = format!("2001:db8:1:{:x}00::1", subnet + 2);
            if select(&pool, &client(&address), &mut worker).1 != first {
                differs += 1;
            }
        }
        assert!(differs > 40, "{differs}");
    }

    /// First backend (and full answer) of 10,000 client /24s.
    fn hash_answers(pool: &Pool) -> Vec<Vec<u16>> {
        let mut worker = WorkerState::new(1);
        (0..10_000u32)
            .map(|subnet| {
                let address = std::net::Ipv4Addr::from((subnet << 8) | 0x0a00_0001);
                let client = Client::from_address(IpAddr::V4(address));
                select(pool, &client, &mut worker).1
            })
            .collect()
    }

    #[test]
    fn hash_moves_only_the_removed_backends_subnets() {
        for answers in [1, 2] {
            let mut backends: Vec<BackendInfo> = (0..10).map(|_| backend(1)).collect();
            let before = hash_answers(&Pool::build(&spec(Policy::Hash, answers, &backends)));
            backends[3].up = false;
            let after = hash_answers(&Pool::build(&spec(Policy::Hash, answers, &backends)));
            let mut moved: usize = 0;
            for (old, new) in before.iter().zip(&after) {
                assert!(!new.contains(&3));
                if old != new {
                    moved += 1;
                    assert!(old.contains(&3), "{old:?} -> {new:?}");
                    // The others stay, in order; the replacement comes last.
                    let kept: Vec<u16> = old.iter().copied().filter(|&index| index != 3).collect();
                    assert_eq!(&new[..kept.len()], &kept[..]);
                }
            }
            // Expect 1,000 × answers; the standard deviation is about 30.
            let expected = 1_000 * answers;
            assert!(
                moved.abs_diff(expected) < 200,
                "answers {answers}: {moved} of 10,000 moved"
            );
            // Back up: everything returns.
            backends[3].up = true;
            assert_eq!(
                hash_answers(&Pool::build(&spec(Policy::Hash, answers, &backends))),
                before
            );
        }
    }

    #[test]
    fn hash_shares_follow_weights() {
        let backends = [backend(1), backend(3), backend(6)];
        let pool = Pool::build(&spec(Policy::Hash, 1, &backends));
        let mut counts = [0usize; 3];
        for answer in hash_answers(&pool) {
            counts[usize::from(answer[0])] += 1;
        }
        let shares: Vec<f64> = counts
            .iter()
            .map(|&count| count as f64 / 10_000.0)
            .collect();
        // Standard deviation of a share near 0.5 over 10k subnets: 0.005.
        assert_shares(&shares, &[0.1, 0.3, 0.6], 0.03);
    }

    #[test]
    fn priority_fails_over_level_by_level() {
        let mut backends = [
            BackendInfo {
                priority: 1,
                ..backend(1)
            },
            BackendInfo {
                priority: 1,
                ..backend(1)
            },
            BackendInfo {
                priority: 2,
                ..backend(1)
            },
            BackendInfo {
                priority: 2,
                ..backend(1)
            },
            BackendInfo {
                priority: 3,
                ..backend(1)
            },
        ];
        let anyone = client("192.0.2.1");
        let mut worker = WorkerState::new(2);
        let answered = |backends: &[BackendInfo], worker: &mut WorkerState| {
            let pool = Pool::build(&spec(Policy::Priority, 4, backends));
            let mut recorder = Recorder::new();
            let mut out = Chosen::default();
            let choice = pool.select(&anyone, &Topology::empty(), worker, &mut out, &mut recorder);
            assert_eq!(choice, Choice::Backends { scope_prefix: 0 });
            let level = recorder.events().iter().find_map(|event| match event {
                TraceEvent::PriorityLevel { priority } => Some(*priority),
                _ => None,
            });
            let mut chosen = out.as_slice().to_vec();
            chosen.sort_unstable();
            (level, chosen)
        };
        assert_eq!(answered(&backends, &mut worker), (Some(1), vec![0, 1]));
        backends[0].up = false;
        assert_eq!(answered(&backends, &mut worker), (Some(1), vec![1]));
        backends[1].up = false;
        assert_eq!(answered(&backends, &mut worker), (Some(2), vec![2, 3]));
        backends[2].up = false;
        backends[3].up = false;
        assert_eq!(answered(&backends, &mut worker), (Some(3), vec![4]));
        backends[0].up = true;
        assert_eq!(answered(&backends, &mut worker), (Some(1), vec![0]));
        // All down and when_all_down = all: the best level, as if up.
        for info in &mut backends {
            info.up = false;
        }
        assert_eq!(answered(&backends, &mut worker), (Some(1), vec![0, 1]));
    }

    #[test]
    fn priority_draws_by_weight_within_the_level() {
        let backends = [
            BackendInfo {
                priority: 2,
                ..backend(100)
            },
            BackendInfo {
                priority: 1,
                ..backend(1)
            },
            BackendInfo {
                priority: 1,
                ..backend(3)
            },
        ];
        let pool = Pool::build(&spec(Policy::Priority, 1, &backends));
        let shares = first_shares(&pool, 20_000, 4);
        assert_shares(&shares, &[0.0, 0.25, 0.75], 0.02);
    }

    #[test]
    fn least_loaded_shares_follow_spare_capacity() {
        let loaded = |weight: u32, load: f32| BackendInfo {
            load,
            ..backend(weight)
        };
        let backends = [
            loaded(1, 0.0),
            loaded(1, 0.5),
            loaded(2, 0.75),
            loaded(1, 1.0),
            down(loaded(1, 0.0)),
        ];
        let pool = Pool::build(&spec(Policy::LeastLoaded, 1, &backends));
        // Spare capacity × weight: 1, 0.5, 0.5, 0.02 (the floor).
        let total = 2.02;
        let shares = first_shares(&pool, 100_000, 9);
        assert_shares(
            &shares,
            &[1.0 / total, 0.5 / total, 0.5 / total, 0.02 / total, 0.0],
            0.01,
        );
        // The fully loaded backend is rare but not never.
        assert!(shares[3] > 0.003, "{shares:?}");
        // Nonsense loads count as full or are clamped.
        let odd = [loaded(1, f32::NAN), loaded(1, -3.0), loaded(1, 7.0)];
        let pool = Pool::build(&spec(Policy::LeastLoaded, 1, &odd));
        let shares = first_shares(&pool, 20_000, 10);
        assert_shares(&shares, &[0.02 / 1.04, 1.0 / 1.04, 0.02 / 1.04], 0.01);
    }

    #[test]
    fn least_loaded_answers_are_distinct() {
        let backends: Vec<BackendInfo> = (0..6)
            .map(|position| BackendInfo {
                load: position as f32 / 6.0,
                ..backend(1)
            })
            .collect();
        let pool = Pool::build(&spec(Policy::LeastLoaded, 4, &backends));
        let mut worker = WorkerState::new(11);
        for _ in 0..1_000 {
            let (_, mut chosen) = select(&pool, &client("192.0.2.1"), &mut worker);
            chosen.sort_unstable();
            chosen.dedup();
            assert_eq!(chosen.len(), 4);
        }
    }

    /// Regions 0 (eu), 1 (us), 2 (ap); topology: 10.0.0.0/8 eu, 10.1.0.0/16
    /// us, 10.1.2.0/24 ap, 2001:db8::/32 us.
    fn geo_topology(default_region: Option<RegionId>) -> Topology {
        let networks: Vec<(ipnet::IpNet, RegionId)> = [
            ("10.0.0.0/8", 0),
            ("10.1.0.0/16", 1),
            ("10.1.2.0/24", 2),
            ("2001:db8::/32", 1),
        ]
        .iter()
        .map(|&(text, region)| (text.parse().expect("valid"), region))
        .collect();
        Topology::build(&networks, default_region)
    }

    fn geo_backends() -> Vec<BackendInfo> {
        vec![
            in_region(backend(1), 0),
            in_region(backend(1), 0),
            in_region(backend(1), 1),
            in_region(backend(3), 1),
            in_region(backend(1), 2),
        ]
    }

    fn sorted_answer(
        pool: &Pool,
        address: &str,
        topology: &Topology,
        worker: &mut WorkerState,
    ) -> (Choice, Vec<u16>) {
        let (choice, mut chosen) = select_in(pool, &client(address), topology, worker);
        chosen.sort_unstable();
        (choice, chosen)
    }

    #[test]
    fn geo_answers_the_longest_matching_region_with_its_scope() {
        let topology = geo_topology(None);
        let backends = geo_backends();
        let pool = Pool::build(&spec(Policy::Geo, 2, &backends));
        let mut worker = WorkerState::new(1);
        let answer = |address: &str, worker: &mut WorkerState| {
            sorted_answer(&pool, address, &topology, worker)
        };
        let scope = |prefix: u8| Choice::Backends {
            scope_prefix: prefix,
        };
        // 10.128.0.0/9 is the largest block around it that leaves 10.1.0.0/16 out.
        assert_eq!(answer("10.200.0.1", &mut worker), (scope(9), vec![0, 1]));
        assert_eq!(answer("10.1.200.1", &mut worker), (scope(17), vec![2, 3]));
        assert_eq!(answer("10.1.3.1", &mut worker), (scope(24), vec![2, 3]));
        assert_eq!(answer("10.1.2.9", &mut worker), (scope(24), vec![4]));
        assert_eq!(
            answer("2001:db8:5::1", &mut worker),
            (scope(32), vec![2, 3])
        );
        // Weighted within the region: backend 3 (weight 3) first 75% of the
        // time.
        let pool_one = Pool::build(&spec(Policy::Geo, 1, &backends));
        let mut threes = 0;
        for _ in 0..20_000 {
            let (_, chosen) = select_in(&pool_one, &client("10.1.9.9"), &topology, &mut worker);
            assert!(chosen == [2] || chosen == [3]);
            if chosen == [3] {
                threes += 1;
            }
        }
        assert!((14_600..=15_400).contains(&threes), "{threes}");
    }

    #[test]
    fn geo_falls_back_in_order() {
        let topology = geo_topology(None);
        let mut backends = geo_backends();
        let fallbacks = vec![vec![1, 2], vec![0], vec![1, 0]];
        let build = |backends: &[BackendInfo]| {
            Pool::build(&PoolSpec {
                region_fallbacks: &fallbacks,
                ..spec(Policy::Geo, 2, backends)
            })
        };
        let mut worker = WorkerState::new(1);
        let trace_of = |pool: &Pool, worker: &mut WorkerState| {
            let mut recorder = Recorder::new();
            let mut out = Chosen::default();
            pool.select(
                &client("10.1.2.9"),
                &topology,
                worker,
                &mut out,
                &mut recorder,
            );
            let mut chosen = out.as_slice().to_vec();
            chosen.sort_unstable();
            (recorder.events, chosen)
        };
        // ap down: its first fallback, us.
        backends[4].up = false;
        let (events, chosen) = trace_of(&build(&backends), &mut worker);
        assert_eq!(chosen, [2, 3]);
        assert!(events.contains(&TraceEvent::RegionFallback { from: 2, to: 1 }));
        // us down too: eu.
        backends[2].up = false;
        backends[3].up = false;
        let (events, chosen) = trace_of(&build(&backends), &mut worker);
        assert_eq!(chosen, [0, 1]);
        assert!(events.contains(&TraceEvent::RegionFallback { from: 2, to: 0 }));
        // Only one eu backend left: fewer answers rather than other regions.
        backends[0].up = false;
        let (_, chosen) = trace_of(&build(&backends), &mut worker);
        assert_eq!(chosen, [1]);
        // The region and every fallback down (but something up elsewhere):
        // every region's up backends.
        let mut backends = geo_backends();
        backends.push(backend(1));
        for (index, info) in backends.iter_mut().enumerate().take(5) {
            info.up = index == 0;
        }
        let only_ap_fallbacks = vec![vec![], vec![], vec![1]];
        let pool = Pool::build(&PoolSpec {
            region_fallbacks: &only_ap_fallbacks,
            ..spec(Policy::Geo, 3, &backends)
        });
        let (events, chosen) = trace_of(&pool, &mut worker);
        assert_eq!(chosen, [0, 5]);
        assert!(events.contains(&TraceEvent::EveryRegion));
    }

    #[test]
    fn geo_default_region_and_no_region() {
        let backends = geo_backends();
        let pool = Pool::build(&spec(Policy::Geo, 5, &backends));
        let mut worker = WorkerState::new(1);
        // Outside every network with a default region: that region, scoped
        // to the largest block around the client holding no network.
        let with_default = geo_topology(Some(2));
        assert_eq!(
            sorted_answer(&pool, "11.0.0.1", &with_default, &mut worker),
            (Choice::Backends { scope_prefix: 8 }, vec![4])
        );
        // No default region: every region's up backends.
        let without_default = geo_topology(None);
        assert_eq!(
            sorted_answer(&pool, "192.0.2.1", &without_default, &mut worker),
            (Choice::Backends { scope_prefix: 1 }, vec![0, 1, 2, 3, 4])
        );
        assert_eq!(
            sorted_answer(&pool, "2001:db9::1", &without_default, &mut worker),
            (Choice::Backends { scope_prefix: 32 }, vec![0, 1, 2, 3, 4])
        );
        // No topology at all.
        assert_eq!(
            sorted_answer(&pool, "192.0.2.1", &Topology::empty(), &mut worker),
            (Choice::Backends { scope_prefix: 0 }, vec![0, 1, 2, 3, 4])
        );
        // A region the pool knows nothing about: every region.
        let elsewhere = Topology::build(&[("192.0.2.0/24".parse().expect("valid"), 40)], None);
        assert_eq!(
            sorted_answer(&pool, "192.0.2.1", &elsewhere, &mut worker),
            (Choice::Backends { scope_prefix: 24 }, vec![0, 1, 2, 3, 4])
        );
        // Over every region the draw is weighted: backend 3 is 3 of 7.
        let pool_one = Pool::build(&spec(Policy::Geo, 1, &backends));
        let mut threes = 0;
        for _ in 0..21_000 {
            let (_, chosen) = select_in(
                &pool_one,
                &client("192.0.2.1"),
                &without_default,
                &mut worker,
            );
            if chosen == [3] {
                threes += 1;
            }
        }
        assert!((8_600..=9_400).contains(&threes), "{threes}");
    }

    #[test]
    fn when_all_down_acts_for_every_policy() {
        let topology = geo_topology(None);
        let backends: Vec<BackendInfo> = geo_backends().into_iter().map(down).collect();
        for policy in Policy::ALL {
            for action in WhenAllDown::ALL {
                let pool = Pool::build(&PoolSpec {
                    when_all_down: action,
                    ..spec(policy, 2, &backends)
                });
                let mut worker = WorkerState::new(1);
                let mut recorder = Recorder::new();
                // Left over from an earlier query: select must clear it.
                let mut out = Chosen {
                    indices: [7; MAX_ANSWERS],
                    len: 3,
                };
                let choice = pool.select(
                    &client("10.1.2.9"),
                    &topology,
                    &mut worker,
                    &mut out,
                    &mut recorder,
                );
                assert_eq!(
                    recorder.events.first(),
                    Some(&TraceEvent::AllDown { action }),
                    "{policy:?}"
                );
                let expected = match action {
                    WhenAllDown::All => {
                        assert!(matches!(choice, Choice::Backends { .. }), "{policy:?}");
                        assert!(!out.as_slice().is_empty(), "{policy:?}");
                        for event in &recorder.events {
                            if let TraceEvent::Picked { reason, .. } = event {
                                assert_eq!(*reason, PickReason::AllDownAnswerAll);
                            }
                        }
                        continue;
                    }
                    WhenAllDown::Fallback => Choice::Fallback,
                    WhenAllDown::Empty => Choice::Empty,
                    WhenAllDown::ServFail => Choice::ServFail,
                };
                assert_eq!(choice, expected, "{policy:?} {action:?}");
                assert!(out.as_slice().is_empty());
            }
        }
    }

    #[test]
    fn all_down_with_all_answers_like_all_up() {
        let up = geo_backends();
        let all_down: Vec<BackendInfo> = up.iter().cloned().map(down).collect();
        let topology = geo_topology(None);
        for policy in [
            Policy::RoundRobin,
            Policy::Hash,
            Policy::Geo,
            Policy::Priority,
        ] {
            let up_pool = Pool::build(&spec(policy, 2, &up));
            let down_pool = Pool::build(&spec(policy, 2, &all_down));
            for address in ["10.1.2.9", "10.7.7.7", "10.1.99.1", "192.0.2.1"] {
                let mut first = WorkerState::new(4);
                let mut second = WorkerState::new(4);
                assert_eq!(
                    select_in(&up_pool, &client(address), &topology, &mut first),
                    select_in(&down_pool, &client(address), &topology, &mut second),
                    "{policy:?} {address}"
                );
            }
        }
    }

    #[test]
    fn empty_pool_behaves_as_all_down() {
        for policy in Policy::ALL {
            for action in WhenAllDown::ALL {
                let pool = Pool::build(&PoolSpec {
                    when_all_down: action,
                    ..spec(policy, 2, &[])
                });
                assert!(pool.is_empty());
                assert_eq!(pool.len(), 0);
                assert_eq!(pool.policy(), policy);
                let (choice, chosen) =
                    select(&pool, &client("192.0.2.1"), &mut WorkerState::new(1));
                let expected = match action {
                    WhenAllDown::All | WhenAllDown::Empty => Choice::Empty,
                    WhenAllDown::Fallback => Choice::Fallback,
                    WhenAllDown::ServFail => Choice::ServFail,
                };
                assert_eq!(choice, expected);
                assert!(chosen.is_empty());
            }
        }
    }

    #[test]
    fn answers_are_clamped_to_range() {
        let backends: Vec<BackendInfo> = (0..40).map(|_| backend(1)).collect();
        let topology = Topology::empty();
        for policy in Policy::ALL {
            let none = Pool::build(&spec(policy, 0, &backends));
            assert_eq!(none.answers(), 1);
            let many = Pool::build(&spec(policy, 100, &backends));
            assert_eq!(many.answers(), MAX_ANSWERS);
            let mut worker = WorkerState::new(1);
            let address = client("192.0.2.1");
            assert_eq!(
                select_in(&none, &address, &topology, &mut worker).1.len(),
                1
            );
            assert_eq!(
                select_in(&many, &address, &topology, &mut worker).1.len(),
                MAX_ANSWERS
            );
        }
    }

    /// Random pools and clients: every answer is distinct, in range, up
    /// (unless all are down), and as long as it can be.
    #[test]
    fn random_pools_answer_distinct_eligible_backends() {
        let mut random = WorkerState::new(12);
        let topology = geo_topology(Some(3));
        let fallbacks = vec![vec![1, 2], vec![0], vec![3, 1], vec![0, 1, 2]];
        let addresses = [
            "10.1.2.9",
            "10.1.7.7",
            "10.9.9.9",
            "11.1.1.1",
            "2001:db8::1",
            "::1",
        ];
        for round in 0..400 {
            let count = random.next_below(24);
            let all_down = round % 10 == 0;
            let backends: Vec<BackendInfo> = (0..count)
                .map(|_| BackendInfo {
                    weight: 1 + random.next_below(5) as u32,
                    priority: 1 + random.next_below(3) as u32,
                    region: [None, Some(0), Some(1), Some(2), Some(3), Some(9)]
                        [random.next_below(6)],
                    up: !all_down && random.next_below(3) != 0,
                    load: random.next_below(11) as f32 / 10.0,
                })
                .collect();
            let policy = Policy::ALL[round % Policy::ALL.len()];
            let answers = 1 + random.next_below(MAX_ANSWERS);
            let pool = Pool::build(&PoolSpec {
                region_fallbacks: &fallbacks,
                ..spec(policy, answers, &backends)
            });
            let any_up = backends.iter().any(|info| info.up);
            let up_count = backends.iter().filter(|info| info.up).count();
            for address in addresses {
                let (choice, chosen) = select_in(&pool, &client(address), &topology, &mut random);
                if backends.is_empty() {
                    assert_eq!(choice, Choice::Empty);
                    continue;
                }
                assert!(matches!(choice, Choice::Backends { .. }));
                assert!(chosen.len() <= answers);
                assert!(!chosen.is_empty(), "{policy:?} {backends:?}");
                let mut distinct = chosen.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), chosen.len(), "{chosen:?}");
                for &index in &chosen {
                    let info = &backends[usize::from(index)];
                    assert!(info.up || !any_up, "{policy:?}: down {index} chosen");
                }
                if matches!(
                    policy,
                    Policy::RoundRobin | Policy::Weighted | Policy::Hash | Policy::LeastLoaded
                ) && any_up
                {
                    assert_eq!(chosen.len(), answers.min(up_count), "{policy:?}");
                }
            }
        }
    }

    #[test]
    fn trace_explains_a_hash_choice() {
        let backends = [backend(1), backend(1), down(backend(1))];
        let pool = Pool::build(&spec(Policy::Hash, 1, &backends));
        let mut recorder = Recorder::new();
        let mut out = Chosen::default();
        pool.select(
            &client("192.0.2.77"),
            &Topology::empty(),
            &mut WorkerState::new(1),
            &mut out,
            &mut recorder,
        );
        let events = recorder.events();
        assert!(matches!(
            events[0],
            TraceEvent::HashKey { prefix_len: 24, .. }
        ));
        assert_eq!(events[1], TraceEvent::Candidates { count: 2 });
        assert_eq!(
            events[2],
            TraceEvent::Picked {
                index: out.indices[0],
                reason: PickReason::HighestHash
            }
        );
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn pool_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pool>();
        assert_send_sync::<Topology>();
        assert_send_sync::<WorkerState>();
    }
}
