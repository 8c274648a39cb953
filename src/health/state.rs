//! The rise/fall state machine of one backend (as gdnsd, HAProxy and
//! Route 53 do it): a backend changes state only after `rise` successes in
//! a row (down to up) or `fall` failures in a row (up to down), so one lost
//! probe does not move traffic and one lucky probe does not bring back a
//! broken backend.
//!
//! Invariants: `streak` counts consecutive results that disagree with the
//! current state and is always below the threshold that would flip it; a
//! result that agrees with the state resets it.

use std::num::NonZeroU32;
use std::time::Instant;

/// Whether a backend may be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

impl Health {
    /// "up" or "down", for the admin API and logs.
    pub fn name(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// How many results in a row change the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Successes in a row that bring a down backend up.
    pub rise: NonZeroU32,
    /// Failures in a row that take an up backend down.
    pub fall: NonZeroU32,
}

/// One backend's health and how it got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    state: Health,
    /// Consecutive results disagreeing with `state`.
    streak: u32,
    /// When `state` was entered.
    since: Instant,
    /// The last probe's outcome and time.
    last: Option<(bool, Instant)>,
}

impl BackendHealth {
    /// A backend in `initial` state from `now` (backends start up, as gdnsd's
    /// do, so a fresh start answers before the first probes come back).
    pub fn new(initial: Health, now: Instant) -> BackendHealth {
        BackendHealth {
            state: initial,
            streak: 0,
            since: now,
            last: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> Health {
        self.state
    }

    /// When the current state was entered.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The last probe's outcome (true: success) and when it came.
    pub fn last_result(&self) -> Option<(bool, Instant)> {
        self.last
    }

    /// Feeds one probe result at `now`. Returns the new state when this
    /// result changed it.
    pub fn record(
        &mut self,
        success: bool,
        now: Instant,
        thresholds: Thresholds,
    ) -> Option<Health> {
        self.last = Some((success, now));
        let (agrees, needed, next) = match self.state {
            Health::Up => (success, thresholds.fall.get(), Health::Down),
            Health::Down => (!success, thresholds.rise.get(), Health::Up),
        };
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < needed {
            return None;
        }
        self.state = next;
        self.streak = 0;
        self.since = now;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn thresholds(rise: u32, fall: u32) -> Thresholds {
        Thresholds {
            rise: NonZeroU32::new(rise).unwrap(),
            fall: NonZeroU32::new(fall).unwrap(),
        }
    }

    /// Feeds `results` one second apart; returns the state after each.
    fn run(initial: Health, results: &[bool], rise: u32, fall: u32) -> Vec<Health> {
        let start = Instant::now();
        let mut health = BackendHealth::new(initial, start);
        results
            .iter()
            .enumerate()
            .map(|(second, &success)| {
                let now = start + Duration::from_secs(second as u64 + 1);
                health.record(success, now, thresholds(rise, fall));
                health.state()
            })
            .collect()
    }

    use Health::{Down, Up};

    #[test]
    fn goes_down_only_after_fall_failures_in_a_row() {
        assert_eq!(
            run(Up, &[false, false, true, false, false, false], 2, 3),
            [Up, Up, Up, Up, Up, Down]
        );
    }

    #[test]
    fn comes_up_only_after_rise_successes_in_a_row() {
        assert_eq!(
            run(Down, &[true, false, true, true, false], 2, 3),
            [Down, Down, Down, Up, Up]
        );
    }

    #[test]
    fn thresholds_of_one_follow_every_result() {
        assert_eq!(
            run(Up, &[false, true, false, true], 1, 1),
            [Down, Up, Down, Up]
        );
    }

    #[test]
    fn change_is_reported_once_with_its_time() {
        let start = Instant::now();
        let mut health = BackendHealth::new(Up, start);
        let limits = thresholds(2, 2);
        let first = start + Duration::from_secs(1);
        let second = start + Duration::from_secs(2);
        assert_eq!(health.record(false, first, limits), None);
        assert_eq!(health.record(false, second, limits), Some(Down));
        assert_eq!(health.since(), second);
        assert_eq!(health.last_result(), Some((false, second)));
        // Staying down reports nothing more.
        assert_eq!(
            health.record(false, second + Duration::from_secs(1), limits),
            None
        );
        assert_eq!(health.since(), second);
        assert_eq!(Down.name(), "down");
    }
}
