//! The TCP transport: `--sockets` connections to the server, queries pipelined on
//! each with RFC 7766 framing (a two-byte length before every message), all
//! non-blocking, with `ppoll` to sleep.
//!
//! Invariants: each connection's write and read buffers are allocated when the
//! transport is made and never grow; bytes `write_start..write_end` of the write
//! buffer are queued and unsent, bytes `0..read_end` of the read buffer are
//! received and not yet parsed (always less than one whole frame after parsing).
//! A connection the server closes, or that fails, is reconnected at most every
//! [`RECONNECT_INTERVAL`]; the queries it had outstanding time out.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Context;
use dnslb_io::poll::Poller;

use crate::engine::{Reply, Transport};
use crate::packet::MAX_QUERY_SIZE;

/// Longest a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Least time between two reconnection attempts of one connection.
const RECONNECT_INTERVAL: Duration = Duration::from_millis(100);

/// A framed query: length prefix and message.
const FRAME_SIZE: usize = MAX_QUERY_SIZE + 2;

/// Read buffer: room for the largest possible frame plus what follows it.
const READ_BUFFER: usize = 2 * (65_535 + 2);

/// Most reads from one connection per receive call, so one busy connection does
/// not starve the others.
const READS_PER_RECEIVE: usize = 4;

#[derive(Debug)]
struct Connection {
    stream: Option<TcpStream>,
    write_buffer: Vec<u8>,
    write_start: usize,
    write_end: usize,
    read_buffer: Vec<u8>,
    read_end: usize,
    /// When the connection broke (for the reconnection interval).
    broken_at: Option<Instant>,
}

/// TCP connections to one server.
#[derive(Debug)]
pub struct TcpTransport {
    server: SocketAddr,
    connections: Vec<Connection>,
    poller: Poller,
    errors: u64,
}

fn open(server: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

impl TcpTransport {
    /// Opens `connections` connections to `server`, each queueing up to `batch`
    /// queries per send.
    pub fn connect(server: SocketAddr, connections: usize, batch: usize) -> anyhow::Result<Self> {
        let mut opened = Vec::with_capacity(connections);
        for _ in 0..connections {
            let stream = open(server)
                .with_context(|| format!("cannot open a TCP connection to {server}"))?;
            opened.push(Connection {
                stream: Some(stream),
                write_buffer: vec![0; batch.max(1) * FRAME_SIZE * 2],
                write_start: 0,
                write_end: 0,
                read_buffer: vec![0; READ_BUFFER],
                read_end: 0,
                broken_at: None,
            });
        }
        let descriptors: Vec<_> = opened
            .iter()
            .filter_map(|connection| connection.stream.as_ref().map(AsRawFd::as_raw_fd))
            .collect();
        Ok(TcpTransport {
            server,
            poller: Poller::new(&descriptors),
            connections: opened,
            errors: 0,
        })
    }

    /// Drops connection `index` after an error or the server closing it.
    fn break_connection(&mut self, index: usize) {
        let connection = &mut self.connections[index];
        if let Some(stream) = connection.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        connection.write_start = 0;
        connection.write_end = 0;
        connection.read_end = 0;
        connection.broken_at = Some(Instant::now());
        self.poller.set_descriptor(index, -1);
        self.errors += 1;
    }

    /// Reopens connection `index` when it is broken and the interval has passed.
    fn reconnect(&mut self, index: usize) {
        let connection = &mut self.connections[index];
        if connection.stream.is_some()
            || connection
                .broken_at
                .is_some_and(|at| at.elapsed() < RECONNECT_INTERVAL)
        {
            return;
        }
        match open(self.server) {
            Ok(stream) => {
                self.poller.set_descriptor(index, stream.as_raw_fd());
                connection.stream = Some(stream);
                connection.broken_at = None;
            }
            Err(_) => {
                connection.broken_at = Some(Instant::now());
                self.errors += 1;
            }
        }
    }

    /// Writes what connection `index` has queued, as far as the socket takes it.
    fn flush(&mut self, index: usize) {
        let connection = &mut self.connections[index];
        let Some(stream) = connection.stream.as_mut() else {
            return;
        };
        let mut failed = false;
        while connection.write_start < connection.write_end {
            match stream
                .write(&connection.write_buffer[connection.write_start..connection.write_end])
            {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(written) => connection.write_start += written,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if connection.write_start == connection.write_end {
            connection.write_start = 0;
            connection.write_end = 0;
        }
        let pending = connection.write_end > connection.write_start;
        if failed {
            self.break_connection(index);
        } else {
            self.poller.want_write(index, pending);
        }
    }
}

impl Transport for TcpTransport {
    fn sockets(&self) -> usize {
        self.connections.len()
    }

    fn room(&mut self, socket: usize) -> usize {
        self.reconnect(socket);
        let connection = &mut self.connections[socket];
        if connection.stream.is_none() {
            return 0;
        }
        if connection.write_start > 0 {
            connection
                .write_buffer
                .copy_within(connection.write_start..connection.write_end, 0);
            connection.write_end -= connection.write_start;
            connection.write_start = 0;
        }
        (connection.write_buffer.len() - connection.write_end) / FRAME_SIZE
    }

    fn stage(&mut self, socket: usize, _index: usize, _packet: usize, packet: &[u8], id: u16) {
        let connection = &mut self.connections[socket];
        let start = connection.write_end;
        let length = u16::try_from(packet.len()).expect("a query fits a TCP frame");
        let frame = &mut connection.write_buffer[start..start + 2 + packet.len()];
        frame[..2].copy_from_slice(&length.to_be_bytes());
        frame[2..].copy_from_slice(packet);
        frame[2..4].copy_from_slice(&id.to_be_bytes());
        connection.write_end += 2 + packet.len();
    }

    fn send(&mut self, socket: usize, count: usize) -> usize {
        // Queued queries count as sent: if the connection breaks before they go,
        // they time out and are counted lost.
        self.flush(socket);
        count
    }

    fn receive<F: FnMut(Reply<'_>)>(&mut self, mut on_reply: F) -> usize {
        let mut total = 0;
        for socket in 0..self.connections.len() {
            let mut first = true;
            total += self.receive_on(socket, |message| {
                on_reply(Reply {
                    socket,
                    message,
                    first,
                });
                first = false;
            });
        }
        total
    }

    fn wait(&mut self, timeout: Duration) {
        if self.poller.wait(timeout).is_err() {
            self.errors += 1;
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

impl TcpTransport {
    /// Reads what connection `socket` has and hands each whole reply to
    /// `on_reply`; returns how many there were.
    fn receive_on<F: FnMut(&[u8])>(&mut self, socket: usize, mut on_reply: F) -> usize {
        self.reconnect(socket);
        self.flush(socket);
        let connection = &mut self.connections[socket];
        let Some(stream) = connection.stream.as_mut() else {
            return 0;
        };
        let mut closed = false;
        for _ in 0..READS_PER_RECEIVE {
            if connection.read_end == connection.read_buffer.len() {
                break;
            }
            match stream.read(&mut connection.read_buffer[connection.read_end..]) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(read) => connection.read_end += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let mut replies = 0;
        let mut position = 0;
        while connection.read_end - position >= 2 {
            let length = usize::from(u16::from_be_bytes([
                connection.read_buffer[position],
                connection.read_buffer[position + 1],
            ]));
            if connection.read_end - position - 2 < length {
                break;
            }
            on_reply(&connection.read_buffer[position + 2..position + 2 + length]);
            replies += 1;
            position += 2 + length;
        }
        if position > 0 {
            connection
                .read_buffer
                .copy_within(position..connection.read_end, 0);
            connection.read_end -= position;
        }
        if closed {
            self.break_connection(socket);
        }
        replies
    }
}
