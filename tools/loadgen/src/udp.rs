//! The UDP transport: `--sockets` sockets, each connected to the server from its
//! own ephemeral port (so each is its own 4-tuple, and `SO_REUSEPORT` on the
//! server spreads them over its workers), sending with one `sendmmsg` and
//! receiving with one `recvmmsg` per call, never blocking. Runs of equal-sized
//! queries go out as one segmented send (UDP GSO) unless `--no-gso`.
//!
//! Invariants: every buffer is allocated in [`UdpTransport::connect`]; a connected
//! socket only accepts datagrams from the server's address.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::Context;
use dnslb_io::batch::{ReceiveBatch, Wait};
use dnslb_io::poll::Poller;
use dnslb_io::send::SendBatch;
use dnslb_io::socket::{UdpOptions, connect_udp};

use crate::engine::{Reply, Transport};
use crate::packet::MAX_QUERY_SIZE;

/// Socket buffer size asked for (the kernel caps it at `net.core.rmem_max`).
const SOCKET_BUFFER: usize = 8 << 20;

/// Largest reply read; longer ones are truncated to this (enough for the header
/// and question the generator checks).
const REPLY_SLOT: usize = 4096;

/// UDP sockets connected to one server.
#[derive(Debug)]
pub struct UdpTransport {
    sockets: Vec<UdpSocket>,
    send: SendBatch,
    receive: ReceiveBatch,
    poller: Poller,
    errors: u64,
}

/// A non-blocking UDP socket connected to `server`, with large buffers.
pub fn connected_socket(server: SocketAddr) -> anyhow::Result<UdpSocket> {
    // Best effort: a smaller buffer only makes bursts likelier to drop.
    let options = UdpOptions {
        recv_buffer: Some(SOCKET_BUFFER),
        send_buffer: Some(SOCKET_BUFFER),
        ..UdpOptions::default()
    };
    let socket = connect_udp(server, &options)
        .with_context(|| format!("cannot connect a UDP socket to {server}"))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl UdpTransport {
    /// Opens `sockets` sockets to `server`, batches of `batch` queries, runs of
    /// equal-sized queries sent segmented (UDP GSO) when `segment`.
    pub fn connect(
        server: SocketAddr,
        sockets: usize,
        batch: usize,
        segment: bool,
    ) -> anyhow::Result<Self> {
        let send = SendBatch::new(batch, MAX_QUERY_SIZE);
        let sockets = (0..sockets)
            .map(|_| connected_socket(server))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let descriptors: Vec<_> = sockets.iter().map(AsRawFd::as_raw_fd).collect();
        Ok(UdpTransport {
            poller: Poller::new(&descriptors),
            sockets,
            send: if segment {
                send
            } else {
                send.without_segmentation()
            },
            receive: ReceiveBatch::new(batch.max(32), REPLY_SLOT),
            errors: 0,
        })
    }
}

impl Transport for UdpTransport {
    fn sockets(&self) -> usize {
        self.sockets.len()
    }

    fn room(&mut self, _socket: usize) -> usize {
        self.send.capacity()
    }

    fn stage(&mut self, _socket: usize, index: usize, _packet: usize, bytes: &[u8], id: u16) {
        let slot = self.send.slot_mut(index, bytes.len());
        slot.copy_from_slice(bytes);
        slot[..2].copy_from_slice(&id.to_be_bytes());
    }

    fn send(&mut self, socket: usize, count: usize) -> usize {
        let outcome = self.send.send(&self.sockets[socket], count);
        if outcome.error.is_some() {
            self.errors += 1;
        }
        outcome.sent
    }

    fn receive<F: FnMut(Reply<'_>)>(&mut self, mut on_reply: F) -> usize {
        let mut total = 0;
        for socket in 0..self.sockets.len() {
            match self.receive.recv(&self.sockets[socket], Wait::NoWait) {
                Ok(count) => {
                    for index in 0..count {
                        on_reply(Reply {
                            socket,
                            message: self.receive.payload(index),
                            first: index == 0,
                        });
                    }
                    total += count;
                }
                Err(_) => {
                    // ECONNREFUSED and the like, from an ICMP error: the queries
                    // it concerns time out and are counted lost.
                    self.errors += 1;
                }
            }
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
