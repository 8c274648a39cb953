//! Backend health.
//!
//! [`state`] is the rise/fall state machine: pure code driven by probe
//! results and `now`, with no sockets and no clock of its own, so it is
//! tested on its own. [`spec`] is what a check is (kind, port, pace,
//! thresholds), as the config resolves it. [`engine`] runs the probes that
//! feed the state machine (TCP, HTTP, DNS on one `mio` poll, the socket work
//! of each kind in `probe`) and builds on both.

pub mod engine;
mod probe;
pub mod spec;
pub mod state;

pub use engine::{EngineHandle, HealthEngine, ProbeOutcome, ProbeTarget};
pub use spec::{DnsProbe, HealthCheck, HttpProbe, ProbeKind};
pub use state::{BackendHealth, Health, Thresholds};
