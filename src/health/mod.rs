//! Backend health.
//!
//! [`state`] is the rise/fall state machine: pure code driven by probe
//! results and `now`, with no sockets and no clock of its own, so it is
//! tested on its own. The probes that feed it (TCP, HTTP, DNS on one `mio`
//! poll) and the publication of state changes as snapshot swaps build on it.

pub mod state;

pub use state::{BackendHealth, Health, Thresholds};
