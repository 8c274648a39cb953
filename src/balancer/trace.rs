//! Tracing of backend selection: why [`Pool::select`](super::Pool::select)
//! chose what it chose, for the admin `/explain` endpoint.
//!
//! `select` is generic over [`Trace`]. The data plane passes [`NoTrace`],
//! whose methods are empty and always inlined, so every trace call and the
//! work done only to build an event compile to nothing. `/explain` passes a
//! [`Recorder`], which keeps the events in a `Vec` (it may allocate; it never
//! runs on a worker).
//!
//! Invariants: a [`TraceEvent`] is plain `Copy` data (no strings, no
//! references), so recording one costs a push. `select` checks
//! [`Trace::enabled`] before computing anything it computes only for a
//! trace.

use super::{RegionId, WhenAllDown};

/// Receives the events of one selection.
pub trait Trace {
    /// Whether events are wanted at all; `select` skips the work of
    /// describing its decisions when this is false.
    fn enabled(&self) -> bool;
    /// Records one event.
    fn event(&mut self, event: TraceEvent);
}

impl<T: Trace + ?Sized> Trace for &mut T {
    #[inline(always)]
    fn enabled(&self) -> bool {
        (**self).enabled()
    }

    #[inline(always)]
    fn event(&mut self, event: TraceEvent) {
        (**self).event(event);
    }
}

/// The data plane's trace: records nothing and compiles to nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoTrace;

impl Trace for NoTrace {
    #[inline(always)]
    fn enabled(&self) -> bool {
        false
    }

    #[inline(always)]
    fn event(&mut self, _event: TraceEvent) {}
}

/// A trace that keeps every event, in order, for `/explain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorder {
    /// The events of the selections traced so far, oldest first.
    pub events: Vec<TraceEvent>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The events recorded so far, oldest first.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Forgets the events recorded so far.
    pub fn clear(&mut self) {
        self.events.clear();
    }
}

impl Trace for Recorder {
    fn enabled(&self) -> bool {
        true
    }

    fn event(&mut self, event: TraceEvent) {
        self.events.push(event);
    }
}

/// What `select` decided and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TraceEvent {
    /// geo: the client's region and the ECS scope prefix length the topology
    /// lookup gave (`None`: in no network and no default region).
    Region {
        region: Option<RegionId>,
        prefix_len: u8,
    },
    /// geo: region `from` has no up backend in this pool, so `to` (the first
    /// of its fallbacks that has one) answers.
    RegionFallback { from: RegionId, to: RegionId },
    /// geo: the client has no region, or neither its region nor any of its
    /// fallbacks has an up backend, so every region's up backends answer.
    EveryRegion,
    /// hash: the key of the client's subnet and the subnet's prefix length.
    HashKey { key: u64, prefix_len: u8 },
    /// priority: the level answered (the lowest with an up backend).
    PriorityLevel { priority: u32 },
    /// No backend is up (or the pool has none); what happens instead.
    AllDown { action: WhenAllDown },
    /// How many backends were eligible after health, region and level.
    Candidates { count: usize },
    /// One chosen backend (an index into the pool's backends), in answer
    /// order.
    Picked { index: u16, reason: PickReason },
}

/// Why a backend was picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickReason {
    /// round_robin: next in the rotation.
    Rotation,
    /// weighted: drawn at random in proportion to weight.
    WeightedDraw,
    /// hash: among the highest rendezvous scores for the client's subnet.
    HighestHash,
    /// priority: drawn by weight within the best level with an up backend.
    Priority,
    /// geo: drawn by weight among the backends of the region answering.
    Region,
    /// least_loaded: drawn in proportion to spare capacity.
    SpareCapacity,
    /// Every backend is down and when_all_down = all: picked by the policy
    /// as if all were up.
    AllDownAnswerAll,
}

impl PickReason {
    /// A short snake_case name, for `/explain` output.
    pub fn name(self) -> &'static str {
        match self {
            PickReason::Rotation => "rotation",
            PickReason::WeightedDraw => "weighted_draw",
            PickReason::HighestHash => "highest_hash",
            PickReason::Priority => "priority",
            PickReason::Region => "region",
            PickReason::SpareCapacity => "spare_capacity",
            PickReason::AllDownAnswerAll => "all_down_answer_all",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_into<T: Trace>(mut trace: T) {
        if trace.enabled() {
            trace.event(TraceEvent::Candidates { count: 3 });
        }
        trace.event(TraceEvent::EveryRegion);
    }

    #[test]
    fn no_trace_is_disabled() {
        assert!(!NoTrace.enabled());
        record_into(NoTrace);
    }

    #[test]
    fn recorder_keeps_events_in_order_through_a_reference() {
        let mut recorder = Recorder::new();
        record_into(&mut recorder);
        assert_eq!(
            recorder.events(),
            &[TraceEvent::Candidates { count: 3 }, TraceEvent::EveryRegion]
        );
        recorder.clear();
        assert!(recorder.events().is_empty());
    }

    #[test]
    fn pick_reason_names_are_distinct() {
        let reasons = [
            PickReason::Rotation,
            PickReason::WeightedDraw,
            PickReason::HighestHash,
            PickReason::Priority,
            PickReason::Region,
            PickReason::SpareCapacity,
            PickReason::AllDownAnswerAll,
        ];
        for (position, reason) in reasons.iter().enumerate() {
            for other in &reasons[position + 1..] {
                assert_ne!(reason.name(), other.name());
            }
        }
    }
}
