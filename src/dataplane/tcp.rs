//! DNS over TCP (RFC 7766) on one thread with `mio`: 2-byte length framing
//! (the pure state machine in [`super::framing`]), pipelined queries
//! answered in order, and limits that keep slow or greedy clients from
//! holding the server's connections.
//!
//! It shares nothing with the UDP workers but the snapshot pointer and runs
//! unpinned, so TCP clients cannot slow the UDP path. A connection is closed,
//! and the close counted by [`CloseReason`], when:
//!
//! - it sends something we would not answer (a response, a frame shorter
//!   than a header): protocol error;
//! - it completes no query within the idle timeout. Only a complete query
//!   counts as activity, so a client dripping one byte a second is as idle
//!   as a silent one: idle;
//! - it has been open for the total timeout, whatever it does: total;
//! - the table is full when a new connection arrives: the connection that
//!   has gone longest without a complete query is evicted to make room
//!   (NSD and Knot shed idle connections under pressure in the same spirit),
//!   so slow clients can delay a new client by at most one accept, never
//!   lock it out: evicted;
//! - its client address already holds `max_connections_per_client` when it
//!   opens another: that address's own connection that has gone longest
//!   without a complete query is evicted to make room, so one address
//!   cannot fill the table to evict everybody else, and its stalled
//!   connections cannot lock out its own new queries: per-client cap.
//!
//! Nobody else notices any of this. Timeouts are checked every [`TICK`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::balancer::WorkerState;
use crate::dataplane::framing::{self, FrameError, Framer};
use crate::dataplane::handler::{self, Outcome};
use crate::snapshot::SharedSnapshot;
use crate::stats::{CloseReason, Counters, Stats};
use crate::wire::answer::Transport;
use crate::wire::{DropReason, MAX_MESSAGE_LEN};

/// Limits for TCP clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections at most; a new connection past the cap evicts the
    /// one that has gone longest without a complete query.
    pub max_connections: usize,
    /// Open connections from one IP address at most; a new one past the cap
    /// evicts that address's connection that has gone longest without a
    /// complete query.
    pub max_connections_per_client: usize,
    /// A connection with no complete query for this long is closed.
    pub idle_timeout: Duration,
    /// A connection open this long is closed, however busy.
    pub total_timeout: Duration,
}

/// Replies buffered for one connection before we stop reading from it.
const MAX_PENDING_WRITE: usize = 256 * 1024;
/// How often the thread wakes to look for shutdown and idle connections.
const TICK: Duration = Duration::from_millis(200);

struct Connection {
    stream: TcpStream,
    /// The client's address, IPv4-mapped addresses made IPv4.
    peer: IpAddr,
    framer: Framer,
    write: Vec<u8>,
    written: usize,
    opened: Instant,
    /// When the last complete query arrived (at first, when it opened).
    last_query: Instant,
    /// The peer closed its side; close once replies are flushed.
    peer_closed: bool,
    /// Registered for writability (replies are pending).
    wants_write: bool,
}

/// The TCP server thread's state.
pub struct TcpServer {
    poll: Poll,
    listeners: Vec<TcpListener>,
    connections: Slab<Connection>,
    /// Open connections per client address (no entry for zero).
    clients: HashMap<IpAddr, usize>,
    limits: TcpLimits,
    snapshot: Arc<SharedSnapshot>,
    stats: Arc<Stats>,
    reply: Box<[u8]>,
    counters: Counters,
    balancer: WorkerState,
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("listeners", &self.listeners.len())
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl TcpServer {
    /// Takes bound, non-blocking listeners; `seed` seeds the policies'
    /// generator (from the OS: clients must not predict it).
    pub fn new(
        listeners: Vec<std::net::TcpListener>,
        limits: TcpLimits,
        snapshot: Arc<SharedSnapshot>,
        stats: Arc<Stats>,
        seed: u64,
    ) -> io::Result<TcpServer> {
        let poll = Poll::new()?;
        let mut mio_listeners = Vec::with_capacity(listeners.len());
        for (index, listener) in listeners.into_iter().enumerate() {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, Token(index), Interest::READABLE)?;
            mio_listeners.push(listener);
        }
        Ok(TcpServer {
            poll,
            listeners: mio_listeners,
            connections: Slab::new(),
            clients: HashMap::new(),
            limits,
            snapshot,
            reply: vec![0; MAX_MESSAGE_LEN].into_boxed_slice(),
            counters: Counters::default(),
            // The TCP thread counts after the UDP workers.
            balancer: WorkerState::new(seed).with_writer(stats.tcp_writer()),
            stats,
        })
    }

    /// Serves until `shutdown` is set.
    pub fn run(mut self, shutdown: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut last_sweep = Instant::now();
        while !shutdown.load(Ordering::Relaxed) {
            match self.poll.poll(&mut events, Some(TICK)) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            for event in &events {
                let token = event.token().0;
                if token < self.listeners.len() {
                    self.accept(token);
                } else {
                    let key = token - self.listeners.len();
                    if let Err(reason) = self.service(key) {
                        self.close(key, reason);
                    }
                }
            }
            let now = Instant::now();
            if now.duration_since(last_sweep) >= TICK {
                last_sweep = now;
                self.close_expired(now);
            }
            self.stats.tcp().publish(&self.counters);
            self.counters = Counters::default();
        }
        Ok(())
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let (mut stream, peer) = match self.listeners[listener].accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or an aborted handshake: try again on the next event.
                Err(_) => return,
            };
            let peer = peer.ip().to_canonical();
            let held = self.clients.get(&peer).copied().unwrap_or(0);
            if held >= self.limits.max_connections_per_client {
                // At its share: its own longest idle connection makes room
                // (which also leaves room in the table).
                if let Some(key) = self.longest_idle(Some(peer)) {
                    self.close(key, Some(CloseReason::PerClientCap));
                }
            }
            if self.connections.len() >= self.limits.max_connections {
                match self.longest_idle(None) {
                    Some(key) => self.close(key, Some(CloseReason::Evicted)),
                    None => continue, // no table at all: nothing to evict
                }
            }
            let _ = stream.set_nodelay(true);
            let entry = self.connections.vacant_entry();
            let token = Token(self.listeners.len() + entry.key());
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let now = Instant::now();
            entry.insert(Connection {
                stream,
                peer,
                framer: Framer::with_capacity(512),
                write: Vec::new(),
                written: 0,
                opened: now,
                last_query: now,
                peer_closed: false,
                wants_write: false,
            });
            *self.clients.entry(peer).or_insert(0) += 1;
        }
    }

    /// The connection that has gone longest without a complete query, of
    /// all or only of those from `peer`. A scan: it runs only when a new
    /// connection finds the table full, or its address at its share.
    fn longest_idle(&self, peer: Option<IpAddr>) -> Option<usize> {
        self.connections
            .iter()
            .filter(|(_, connection)| peer.is_none_or(|peer| connection.peer == peer))
            .min_by_key(|(_, connection)| connection.last_query)
            .map(|(key, _)| key)
    }

    /// Answers what is buffered, writes, and reads more, until the socket
    /// would block or the client has too many replies pending. An error
    /// closes the connection, counted under its reason if it has one.
    fn service(&mut self, key: usize) -> Result<(), Option<CloseReason>> {
        loop {
            self.answer_frames(key)?;
            let connection = self.connections.get_mut(key).ok_or(None)?;
            let answered = !connection.write.is_empty();
            if !flush(connection) {
                return Err(None);
            }
            if connection.peer_closed {
                // Nothing more to read: answer the queries still buffered
                // (answering stops at MAX_PENDING_WRITE) for as long as the
                // client takes the replies.
                if answered && connection.write.is_empty() {
                    continue;
                }
                break;
            }
            if connection.write.len() >= MAX_PENDING_WRITE {
                break;
            }
            let mut chunk = [0u8; 4096];
            match connection.stream.read(&mut chunk) {
                Ok(0) => connection.peer_closed = true,
                Ok(read) => connection.framer.push(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(None),
            }
        }
        let connection = self.connections.get_mut(key).ok_or(None)?;
        let pending = connection.written < connection.write.len();
        if connection.peer_closed && !pending {
            return Err(None);
        }
        if pending != connection.wants_write {
            connection.wants_write = pending;
            let interest = if pending {
                Interest::READABLE.add(Interest::WRITABLE)
            } else {
                Interest::READABLE
            };
            let token = Token(self.listeners.len() + key);
            return self
                .poll
                .registry()
                .reregister(&mut connection.stream, token, interest)
                .map_err(|_| None);
        }
        Ok(())
    }

    /// Answers every complete frame buffered. Fails when the client sent
    /// something that costs it the connection.
    fn answer_frames(&mut self, key: usize) -> Result<(), Option<CloseReason>> {
        let snapshot = self.snapshot.load();
        let connection = self.connections.get_mut(key).ok_or(None)?;
        while let Some(frame) = connection.framer.next_frame() {
            self.counters.received += 1;
            let packet = match frame {
                Ok(packet) => packet,
                Err(FrameError::ShortFrame { .. }) => {
                    self.counters.drop(DropReason::ShortPacket);
                    return Err(Some(CloseReason::ProtocolError));
                }
            };
            match handler::handle(
                &snapshot,
                packet,
                &mut self.reply,
                Transport::Tcp,
                connection.peer,
                &mut self.balancer,
            ) {
                Outcome::Reply {
                    len,
                    rcode,
                    truncated,
                    ..
                } => {
                    self.counters.reply(rcode, truncated);
                    framing::frame_into(&self.reply[..len], &mut connection.write);
                    connection.last_query = Instant::now();
                }
                Outcome::Drop(reason) => {
                    self.counters.drop(reason);
                    return Err(Some(CloseReason::ProtocolError));
                }
            }
            if connection.write.len() >= MAX_PENDING_WRITE {
                break;
            }
        }
        Ok(())
    }

    /// Closes connection `key`, counting `reason` when there is one.
    fn close(&mut self, key: usize, reason: Option<CloseReason>) {
        let Some(mut connection) = self.connections.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut connection.stream);
        if let Some(reason) = reason {
            self.counters.close(reason);
        }
        if let Some(held) = self.clients.get_mut(&connection.peer) {
            *held -= 1;
            if *held == 0 {
                self.clients.remove(&connection.peer);
            }
        }
    }

    /// Closes the connections past their total or idle timeout.
    fn close_expired(&mut self, now: Instant) {
        let expired: Vec<(usize, CloseReason)> = self
            .connections
            .iter()
            .filter_map(|(key, connection)| {
                if now.duration_since(connection.opened) >= self.limits.total_timeout {
                    Some((key, CloseReason::Total))
                } else if now.duration_since(connection.last_query) >= self.limits.idle_timeout {
                    Some((key, CloseReason::Idle))
                } else {
                    None
                }
            })
            .collect();
        for (key, reason) in expired {
            self.close(key, Some(reason));
        }
    }
}

/// Writes what is pending. Returns false on a write error.
fn flush(connection: &mut Connection) -> bool {
    while connection.written < connection.write.len() {
        match connection
            .stream
            .write(&connection.write[connection.written..])
        {
            Ok(0) => return false,
            Ok(written) => connection.written += written,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    connection.write.clear();
    connection.written = 0;
    true
}
