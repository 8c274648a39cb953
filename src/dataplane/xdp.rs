//! An XDP worker: one thread pinned to one CPU, answering the UDP queries of
//! one NIC receive queue from its AF_XDP socket.
//!
//! The loop is: take a batch of frames from the receive ring, load the
//! snapshot once, and for each frame parse the Ethernet, IP and UDP headers,
//! copy the query out, call the same [`step::udp`] as the socket workers
//! with the reply going straight into the frame after its headers, turn the
//! headers around (addresses and ports swapped, lengths and checksums
//! written) and put the frame on the transmit ring. Then kick the kernel to
//! send, move sent frames back to the free list and refill the fill ring,
//! and publish the batch's counters. Nothing in it allocates, locks or logs;
//! the syscalls are the transmit kick (`sendto`) per batch and, with nothing
//! to receive for a while, a `poll` to sleep (and a non-blocking `recvfrom`
//! when a zero-copy driver asks to be woken to receive again).
//!
//! A reply never leaves bigger than the interface's MTU allows (the kernel
//! does not fragment what AF_XDP sends): the step's reply buffer ends there,
//! so a longer answer is truncated with TC set and the client retries over
//! TCP, which stays on the kernel path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dnslb_io::xdp::frame::{self, FrameError, IPV4_HLEN, IPV6_HLEN, UDP_HLEN};
use dnslb_io::xdp::socket::{Desc, XdpSocket};

use crate::balancer::WorkerState;
use crate::dataplane::step::{self, UdpState};
use crate::dataplane::udp::{BATCH_WIDTH, WAKE_INTERVAL, batch_second};
use crate::snapshot::SharedSnapshot;
use crate::stats::{Counters, FrameCounters, Stats, XdpDrop};
use crate::wire::DropReason;

/// Frames per batch: as for the socket workers, and as many as the kernel
/// sends per transmit kick in copy mode.
pub const XDP_BATCH_WIDTH: usize = BATCH_WIDTH;

/// Empty looks at the receive ring before the worker sleeps in `poll`.
const SPIN_ROUNDS: u32 = 2048;

/// One XDP worker's socket, buffers and counters.
pub struct XdpWorker {
    /// Index among the XDP workers (its counters in [`Stats::xdp_queues`]).
    index: usize,
    socket: XdpSocket,
    /// The listen addresses (ports resolved) this queue answers for.
    listen: Vec<SocketAddr>,
    /// The interface's MTU: the largest IP packet a reply may be.
    mtu: usize,
    snapshot: Arc<SharedSnapshot>,
    stats: Arc<Stats>,
    state: UdpState,
    descs: [Desc; XDP_BATCH_WIDTH],
    /// The query, copied out of its frame before the reply overwrites it.
    query: Box<[u8]>,
}

impl std::fmt::Debug for XdpWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpWorker")
            .field("index", &self.index)
            .field("socket", &self.socket)
            .finish()
    }
}

/// What became of one frame.
enum Fate {
    Send(u32),
    Drop,
}

impl XdpWorker {
    /// A worker answering from `socket` for the addresses in `listen`, with
    /// replies kept within `mtu`; `index` is its place among the XDP workers
    /// (its slot in per-service counters comes after the UDP workers');
    /// `seed` seeds its policies' generator.
    pub fn new(
        index: usize,
        socket: XdpSocket,
        listen: Vec<SocketAddr>,
        mtu: u32,
        snapshot: Arc<SharedSnapshot>,
        stats: Arc<Stats>,
        seed: u64,
    ) -> XdpWorker {
        let writer = stats.udp_workers() + index;
        let query = vec![0; socket.frame_size() as usize].into_boxed_slice();
        XdpWorker {
            index,
            socket,
            listen,
            mtu: mtu as usize,
            snapshot,
            stats,
            state: UdpState::new(WorkerState::new(seed).with_writer(writer)),
            descs: [Desc::default(); XDP_BATCH_WIDTH],
            query,
        }
    }

    /// Answers one batch of received frames; returns how many there were.
    #[inline]
    pub fn serve_batch(&mut self) -> usize {
        let received = self.socket.receive(&mut self.descs);
        if received == 0 {
            self.socket.flush();
            self.socket.complete();
            self.socket.fill(usize::MAX);
            return 0;
        }
        let mut counters = Counters::default();
        let mut frames = FrameCounters {
            rx: received as u64,
            ..FrameCounters::default()
        };
        let snapshot = self.snapshot.load();
        let now = batch_second(&snapshot);
        self.socket.touch(&self.descs[..received]);
        for slot in 0..received {
            let desc = self.descs[slot];
            let fate = {
                let data = self.socket.frame_mut(desc.addr);
                let len = (desc.len as usize).min(data.len());
                match frame::parse_udp(&data[..len]) {
                    Err(error) => {
                        frames.drop(match error {
                            FrameError::Runt | FrameError::BadLength | FrameError::IpVersion => {
                                XdpDrop::BadFrame
                            }
                            _ => XdpDrop::NotDns,
                        });
                        Fate::Drop
                    }
                    Ok(parsed) if !is_ours(&self.listen, parsed.destination) => {
                        frames.drop(XdpDrop::NotDns);
                        Fate::Drop
                    }
                    Ok(parsed) => {
                        counters.received += 1;
                        // The query buffer is a frame long: any payload fits.
                        let query_len = parsed.payload_len;
                        self.query[..query_len].copy_from_slice(
                            &data[parsed.payload_offset..parsed.payload_offset + query_len],
                        );
                        let header = parsed.header_len();
                        let ip_header = if parsed.source.is_ipv4() {
                            IPV4_HLEN
                        } else {
                            IPV6_HLEN
                        };
                        let room = (data.len() - header)
                            .min(self.mtu.saturating_sub(ip_header + UDP_HLEN));
                        let reply = &mut data[header..header + room];
                        let action = step::udp(
                            &snapshot,
                            &self.query[..query_len],
                            parsed.source,
                            parsed.destination,
                            reply,
                            &mut self.state,
                            now,
                        );
                        match action.count(&mut counters) {
                            Some(len) => Fate::Send(frame::turn_around(data, &parsed, len) as u32),
                            None => Fate::Drop,
                        }
                    }
                }
            };
            match fate {
                Fate::Send(len) => {
                    if self.socket.transmit(desc.addr, len) {
                        frames.tx += 1;
                    } else {
                        // Answered (and counted) but not sent, as a socket
                        // worker counts a refused send.
                        frames.drop(XdpDrop::TxRingFull);
                        counters.drop(DropReason::SendFailed);
                    }
                }
                Fate::Drop => self.socket.recycle(desc.addr),
            }
        }
        drop(snapshot);
        self.socket.flush();
        self.socket.complete();
        self.socket.fill(usize::MAX);
        if self.socket.fill_needs_wakeup() {
            self.socket.wake();
        }
        let queue = &self.stats.xdp_queues()[self.index];
        queue.counters.publish(&counters);
        queue.frames.publish(&frames);
        received
    }

    /// Serves until `shutdown` is set; finishes the batch in hand first.
    pub fn run(mut self, shutdown: &AtomicBool) {
        let mut idle = 0u32;
        while !shutdown.load(Ordering::Relaxed) {
            if self.serve_batch() > 0 {
                idle = 0;
                continue;
            }
            // A short spin before sleeping: waking from poll costs more than
            // the gap between two batches under load.
            idle += 1;
            if idle < SPIN_ROUNDS {
                std::hint::spin_loop();
                continue;
            }
            idle = 0;
            if self.socket.fill_needs_wakeup() {
                self.socket.wake();
            }
            if self.socket.wait(WAKE_INTERVAL).is_err() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// Whether `destination` is one of the `listen` addresses (a wildcard
/// matches any address of its family).
#[inline]
fn is_ours(listen: &[SocketAddr], destination: SocketAddr) -> bool {
    listen.iter().any(|listen| {
        listen.port() == destination.port()
            && (listen.ip() == destination.ip()
                || (listen.ip().is_unspecified() && listen.is_ipv4() == destination.is_ipv4()))
    })
}
