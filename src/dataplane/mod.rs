//! The data plane: pinned UDP workers ([`worker`]) answering batches with the
//! pure [`handler`], and one TCP thread ([`tcp`]) for RFC 7766 clients,
//! whose length-prefix framing is the pure state machine in [`framing`].

pub mod framing;
pub mod handler;
pub mod step;
pub mod tcp;
pub mod worker;
