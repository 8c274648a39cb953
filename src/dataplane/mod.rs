//! The data plane: pinned UDP workers ([`worker`]) answering batches with the
//! pure [`handler`], and one TCP thread ([`tcp`]) for RFC 7766 clients.

pub mod handler;
pub mod rrl;
pub mod tcp;
pub mod worker;
