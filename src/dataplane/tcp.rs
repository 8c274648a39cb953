//! DNS over TCP (RFC 7766) on one thread with `mio`: 2-byte length framing,
//! pipelined queries answered in order, an idle timeout, and a cap on
//! connections.
//!
//! It shares nothing with the UDP workers but the snapshot pointer and runs
//! unpinned, so TCP clients cannot slow the UDP path. A connection that
//! sends something we would not answer (a response, a frame shorter than a
//! header) is closed; one that sends nothing complete within the idle
//! timeout (a slow or stalled client) is closed; nobody else notices.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::balancer::WorkerState;
use crate::dataplane::handler::{self, Outcome};
use crate::dataplane::worker::worker_seed;
use crate::snapshot::SharedSnapshot;
use crate::stats::{Counters, Stats};
use crate::wire::MAX_MESSAGE_LEN;
use crate::wire::answer::Transport;

/// Limits for TCP clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections at most; a connection past the cap is closed at once.
    pub max_connections: usize,
    /// A connection with no complete query for this long is closed.
    pub idle_timeout: Duration,
}

/// Replies buffered for one connection before we stop reading from it.
const MAX_PENDING_WRITE: usize = 256 * 1024;
/// How often the thread wakes to look for shutdown and idle connections.
const TICK: Duration = Duration::from_millis(200);

struct Connection {
    stream: TcpStream,
    peer: std::net::IpAddr,
    read: Vec<u8>,
    write: Vec<u8>,
    written: usize,
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
    /// Takes bound, non-blocking listeners.
    pub fn new(
        listeners: Vec<std::net::TcpListener>,
        limits: TcpLimits,
        snapshot: Arc<SharedSnapshot>,
        stats: Arc<Stats>,
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
            limits,
            snapshot,
            reply: vec![0; MAX_MESSAGE_LEN].into_boxed_slice(),
            counters: Counters::default(),
            // The TCP thread counts after the UDP workers.
            balancer: WorkerState::new(worker_seed(usize::MAX)).with_writer(stats.udp_workers()),
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
                    let keep = self.service(key);
                    if !keep {
                        self.close(key);
                    }
                }
            }
            let now = Instant::now();
            if now.duration_since(last_sweep) >= TICK {
                last_sweep = now;
                self.close_idle(now);
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
            if self.connections.len() >= self.limits.max_connections {
                drop(stream); // over the cap: closed at once
                continue;
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
            entry.insert(Connection {
                stream,
                peer: peer.ip(),
                read: Vec::with_capacity(512),
                write: Vec::new(),
                written: 0,
                last_query: Instant::now(),
                peer_closed: false,
                wants_write: false,
            });
        }
    }

    /// Answers what is buffered, writes, and reads more, until the socket
    /// would block or the client has too many replies pending. Returns false
    /// to close the connection.
    fn service(&mut self, key: usize) -> bool {
        loop {
            if !self.answer_frames(key) {
                return false;
            }
            let Some(connection) = self.connections.get_mut(key) else {
                return false;
            };
            if !flush(connection) {
                return false;
            }
            if connection.peer_closed || connection.write.len() >= MAX_PENDING_WRITE {
                break;
            }
            let mut chunk = [0u8; 4096];
            match connection.stream.read(&mut chunk) {
                Ok(0) => connection.peer_closed = true,
                Ok(read) => connection.read.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let Some(connection) = self.connections.get_mut(key) else {
            return false;
        };
        let pending = connection.written < connection.write.len();
        if connection.peer_closed && !pending {
            return false;
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
                .is_ok();
        }
        true
    }

    /// Answers every complete frame in the read buffer. Returns false when the
    /// client sent something that costs it the connection.
    fn answer_frames(&mut self, key: usize) -> bool {
        let snapshot = self.snapshot.load();
        let Some(connection) = self.connections.get_mut(key) else {
            return false;
        };
        let mut consumed = 0;
        loop {
            let pending = &connection.read[consumed..];
            if pending.len() < 2 {
                break;
            }
            let length = usize::from(u16::from_be_bytes([pending[0], pending[1]]));
            if pending.len() < 2 + length {
                break;
            }
            let packet = &pending[2..2 + length];
            consumed += 2 + length;
            self.counters.received += 1;
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
                } => {
                    self.counters.reply(rcode, truncated);
                    connection
                        .write
                        .extend_from_slice(&(len as u16).to_be_bytes());
                    connection.write.extend_from_slice(&self.reply[..len]);
                    connection.last_query = Instant::now();
                }
                Outcome::Drop(reason) => {
                    self.counters.drop(reason);
                    return false;
                }
            }
            if connection.write.len() >= MAX_PENDING_WRITE {
                break;
            }
        }
        connection.read.drain(..consumed);
        true
    }

    fn close(&mut self, key: usize) {
        if let Some(mut connection) = self.connections.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
        }
    }

    fn close_idle(&mut self, now: Instant) {
        let idle: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, connection)| {
                now.duration_since(connection.last_query) >= self.limits.idle_timeout
            })
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            self.close(key);
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
