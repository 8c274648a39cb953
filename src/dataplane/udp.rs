//! A UDP worker: one thread pinned to one CPU, with its own `SO_REUSEPORT`
//! socket per listen address and its own buffers and counters.
//!
//! The loop is: `recvmmsg` a batch, load the snapshot once, answer each
//! datagram into its slot's reply buffer, `sendmmsg` the replies, publish
//! the batch's counters. Nothing in it allocates, locks or logs; the only
//! syscalls are the batch receive and send (and, with several sockets and
//! no traffic at all, an `epoll_wait` to sleep).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dnslb_io::batch::{UdpBatch, Wait};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::balancer::WorkerState;
use crate::dataplane::step::{self, UdpState};
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::stats::{Counters, Stats};
use crate::wire::DropReason;

/// Datagrams per `recvmmsg`/`sendmmsg`. Everything between the receive and
/// the send is serialized, so a wider batch adds its processing time to the
/// latency of every packet in it (gdnsd's `MMSG_WIDTH` comment says the
/// same and uses 16). Answering takes well under a microsecond, so 32
/// packets add a few microseconds of queueing while halving the syscalls per
/// packet compared with 16; past 32 the syscall share is already small.
pub const BATCH_WIDTH: usize = 32;

/// Largest query datagram we accept; longer ones are dropped as oversized.
/// Real queries, even padded (RFC 8467) or with cookies, are far smaller.
pub const RECV_SIZE: usize = 4096;

/// How long a blocked worker sleeps before looking at the shutdown flag.
pub const WAKE_INTERVAL: Duration = Duration::from_millis(200);

/// The `now` to pass [`step::udp`] for a batch: the current second on the
/// snapshot's rate limiter's clock. One clock read (vDSO, no syscall) per
/// batch, and only with RRL on; 0 without it.
#[inline]
pub fn batch_second(snapshot: &Snapshot) -> u32 {
    snapshot
        .rrl
        .as_ref()
        .map_or(0, |limiter| limiter.second(Instant::now()))
}

/// One worker's sockets, buffers and counters.
pub struct Worker {
    index: usize,
    sockets: Vec<UdpSocket>,
    /// Each socket's local address: queries from it are dropped.
    locals: Vec<SocketAddr>,
    batch: UdpBatch,
    snapshot: Arc<SharedSnapshot>,
    stats: Arc<Stats>,
    /// This worker's generator, round-robin counters and rate-limiting
    /// slip counter.
    state: UdpState,
    /// Used to sleep when there are several sockets and none has traffic.
    poll: Option<(Poll, Events)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Worker {
    /// A worker answering on `sockets` (blocking, with [`WAKE_INTERVAL`] as
    /// read timeout), with replies of at most `reply_size` bytes; `seed`
    /// seeds its policies' generator (from the OS: clients must not predict
    /// it).
    pub fn new(
        index: usize,
        sockets: Vec<UdpSocket>,
        reply_size: usize,
        snapshot: Arc<SharedSnapshot>,
        stats: Arc<Stats>,
        seed: u64,
    ) -> io::Result<Worker> {
        let poll = if sockets.len() > 1 {
            let poll = Poll::new()?;
            for (token, socket) in sockets.iter().enumerate() {
                poll.registry().register(
                    &mut SourceFd(&socket.as_raw_fd()),
                    Token(token),
                    Interest::READABLE,
                )?;
            }
            Some((poll, Events::with_capacity(sockets.len())))
        } else {
            None
        };
        let locals = sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<io::Result<_>>()?;
        Ok(Worker {
            index,
            locals,
            sockets,
            batch: UdpBatch::new(BATCH_WIDTH, RECV_SIZE, reply_size),
            snapshot,
            stats,
            state: UdpState::new(WorkerState::new(seed).with_writer(index)),
            poll,
        })
    }

    /// Receives one batch on socket `socket`, answers it and sends the
    /// replies. Returns the number of datagrams received.
    #[inline]
    pub fn serve_batch(&mut self, socket: usize, wait: Wait) -> io::Result<usize> {
        let local = self.locals[socket];
        let socket = &self.sockets[socket];
        let received = self.batch.recv(socket, wait)?;
        if received == 0 {
            return Ok(0);
        }
        let mut counters = Counters {
            received: received as u64,
            ..Counters::default()
        };
        let snapshot = self.snapshot.load();
        let now = batch_second(&snapshot);
        for slot in 0..received {
            let datagram = self.batch.datagram(slot);
            if datagram.truncated {
                counters.drop(DropReason::Oversized);
                continue;
            }
            let peer = datagram.peer;
            let (query, reply) = self.batch.slot_mut(slot);
            let action = step::udp(&snapshot, query, peer, local, reply, &mut self.state, now);
            if let Some(len) = action.count(&mut counters) {
                self.batch.queue_reply(slot, len);
            }
        }
        drop(snapshot);
        if self.batch.queued() > 0 {
            let sent = self.batch.send(socket);
            counters.drops[DropReason::SendFailed.index()] += sent.failed as u64;
        }
        self.stats.udp_worker(self.index).publish(&counters);
        Ok(received)
    }

    /// Serves until `shutdown` is set; finishes the batch in hand first.
    pub fn run(mut self, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::Relaxed) {
            let result = if self.poll.is_none() {
                self.serve_batch(0, Wait::Block).map(|_| ())
            } else {
                self.serve_sockets_round()
            };
            if result.is_err() {
                // A socket error that is not EAGAIN/EINTR (rare: out of
                // memory, a closed descriptor), on every socket at once.
                // Back off instead of spinning.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// One round over every socket without waiting; sleeps in `epoll_wait`
    /// only when all of them were empty. An error on one socket does not
    /// keep the others from being served; the round fails only when every
    /// socket failed.
    fn serve_sockets_round(&mut self) -> io::Result<()> {
        let mut any = false;
        let mut failure = None;
        let mut failed = 0;
        for socket in 0..self.sockets.len() {
            match self.serve_batch(socket, Wait::NoWait) {
                Ok(received) => any |= received > 0,
                Err(error) => {
                    failed += 1;
                    failure = Some(error);
                }
            }
        }
        if let Some(error) = failure {
            if failed == self.sockets.len() {
                return Err(error);
            }
        }
        if !any {
            if let Some((poll, events)) = &mut self.poll {
                match poll.poll(events, Some(WAKE_INTERVAL)) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(())
    }
}
