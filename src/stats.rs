//! Per-worker counters: each worker is the single writer of its own
//! cache-padded block; readers sum all blocks.
//!
//! A worker counts into a plain [`Counters`] while it handles a batch and
//! publishes it once per batch with relaxed loads and stores (no locked
//! instructions, no shared cache line between workers).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;
use dnslb_io::xdp::socket::StatisticsReader;

use crate::wire::answer::Transport;
use crate::wire::{DropReason, Rcode};

const RCODES: usize = Rcode::ALL.len();
const DROP_REASONS: usize = DropReason::ALL.len();
const CLOSE_REASONS: usize = CloseReason::ALL.len();

/// Why the server closed a TCP connection (closes by the client, and I/O
/// errors, are not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// No complete query within the idle timeout.
    Idle,
    /// Open for the total timeout.
    Total,
    /// Evicted to make room for a new connection from the same client
    /// address, which already held its share of connections.
    PerClientCap,
    /// Evicted to make room for a new connection while the table was full.
    Evicted,
    /// It sent a frame or message we do not answer.
    ProtocolError,
}

impl CloseReason {
    /// Every reason, in counter order.
    pub const ALL: [CloseReason; 5] = [
        CloseReason::Idle,
        CloseReason::Total,
        CloseReason::PerClientCap,
        CloseReason::Evicted,
        CloseReason::ProtocolError,
    ];

    /// Index into per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle",
            CloseReason::Total => "total",
            CloseReason::PerClientCap => "per_client_cap",
            CloseReason::Evicted => "evicted",
            CloseReason::ProtocolError => "protocol_error",
        }
    }
}

/// Plain counters, summed locally and then published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received.
    pub received: u64,
    /// Replies sent, by rcode.
    pub replies: [u64; RCODES],
    /// Replies with TC set.
    pub truncated: u64,
    /// Packets that got no reply, by reason.
    pub drops: [u64; DROP_REASONS],
    /// Replies over the `[rrl]` rate sent truncated (slipped) instead of
    /// dropped; also counted in `replies` and `truncated`.
    pub rate_limit_slipped: u64,
    /// TCP connections the server closed, by reason (TCP thread only).
    pub tcp_closes: [u64; CLOSE_REASONS],
}

impl Counters {
    /// Counts a reply.
    #[inline]
    pub fn reply(&mut self, rcode: Rcode, truncated: bool) {
        self.replies[rcode.index()] += 1;
        self.truncated += u64::from(truncated);
    }

    /// Counts a dropped packet.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    /// Counts a TCP connection the server closed.
    #[inline]
    pub fn close(&mut self, reason: CloseReason) {
        self.tcp_closes[reason.index()] += 1;
    }

    /// TCP connections closed for `reason`.
    pub fn closes_for(&self, reason: CloseReason) -> u64 {
        self.tcp_closes[reason.index()]
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.received += other.received;
        self.truncated += other.truncated;
        self.rate_limit_slipped += other.rate_limit_slipped;
        for (sum, value) in self.replies.iter_mut().zip(other.replies) {
            *sum += value;
        }
        for (sum, value) in self.drops.iter_mut().zip(other.drops) {
            *sum += value;
        }
        for (sum, value) in self.tcp_closes.iter_mut().zip(other.tcp_closes) {
            *sum += value;
        }
    }

    /// Replies of `rcode`.
    pub fn replies_with(&self, rcode: Rcode) -> u64 {
        self.replies[rcode.index()]
    }

    /// Drops for `reason`.
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// All replies.
    pub fn total_replies(&self) -> u64 {
        self.replies.iter().sum()
    }
}

/// One writer's published counters.
#[derive(Debug, Default)]
pub struct SharedCounters {
    received: AtomicU64,
    replies: [AtomicU64; RCODES],
    truncated: AtomicU64,
    drops: [AtomicU64; DROP_REASONS],
    rate_limit_slipped: AtomicU64,
    tcp_closes: [AtomicU64; CLOSE_REASONS],
}

#[inline]
fn bump(counter: &AtomicU64, delta: u64) {
    if delta != 0 {
        // Single writer: a plain load and store, no read-modify-write.
        counter.store(counter.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    }
}

impl SharedCounters {
    /// Publishes `delta` (only the owning worker calls this).
    #[inline]
    pub fn publish(&self, delta: &Counters) {
        bump(&self.received, delta.received);
        bump(&self.truncated, delta.truncated);
        bump(&self.rate_limit_slipped, delta.rate_limit_slipped);
        for (counter, value) in self.replies.iter().zip(delta.replies) {
            bump(counter, value);
        }
        for (counter, value) in self.drops.iter().zip(delta.drops) {
            bump(counter, value);
        }
        for (counter, value) in self.tcp_closes.iter().zip(delta.tcp_closes) {
            bump(counter, value);
        }
    }

    /// A copy of the current values.
    pub fn read(&self) -> Counters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counters {
            received: load(&self.received),
            truncated: load(&self.truncated),
            replies: std::array::from_fn(|index| load(&self.replies[index])),
            drops: std::array::from_fn(|index| load(&self.drops[index])),
            rate_limit_slipped: load(&self.rate_limit_slipped),
            tcp_closes: std::array::from_fn(|index| load(&self.tcp_closes[index])),
        }
    }
}

/// Answers given by one service: one single-writer, cache-padded slot per
/// data-plane thread (UDP workers, then the TCP thread), summed by readers.
/// Lives in the service inside the snapshot, and is carried over to the next
/// snapshot for as long as the service exists, so counts survive swaps.
#[derive(Debug)]
pub struct ServiceCounters {
    slots: Box<[CachePadded<AtomicU64>]>,
}

impl ServiceCounters {
    /// Zeroed counters for `writers` threads.
    pub fn new(writers: usize) -> ServiceCounters {
        ServiceCounters {
            slots: (0..writers.max(1))
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }

    /// Counts one answer by `writer` (only that thread writes its slot); a
    /// writer without a slot is not counted.
    #[inline]
    pub fn count(&self, writer: usize) {
        if let Some(slot) = self.slots.get(writer) {
            bump(slot, 1);
        }
    }

    /// The sum over all writers.
    pub fn total(&self) -> u64 {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .sum()
    }

    /// How many writers have a slot.
    pub fn writers(&self) -> usize {
        self.slots.len()
    }
}

/// Why an XDP worker let a frame go without answering it, beside the DNS
/// reasons of [`DropReason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpDrop {
    /// The kernel found no frame to receive into (from the socket's kernel
    /// counters): the worker fell behind.
    FillRingEmpty,
    /// The kernel dropped a received frame because the receive ring was full.
    RxRingFull,
    /// The kernel dropped a received frame for another reason (from its
    /// counters; a frame larger than a UMEM frame, for one).
    RxDropped,
    /// The kernel refused a transmit descriptor as invalid (from its
    /// counters; a sign of a bug: such a frame never completes).
    TxInvalid,
    /// A reply was ready but the transmit ring had no room.
    TxRingFull,
    /// A well-formed frame that is not UDP to a listen address (ARP, TCP,
    /// VLAN-tagged, a fragment, IP options, another port).
    NotDns,
    /// A frame too short for its headers, or whose lengths disagree.
    BadFrame,
}

impl XdpDrop {
    /// Every reason, in counter order.
    pub const ALL: [XdpDrop; 7] = [
        XdpDrop::FillRingEmpty,
        XdpDrop::RxRingFull,
        XdpDrop::RxDropped,
        XdpDrop::TxInvalid,
        XdpDrop::TxRingFull,
        XdpDrop::NotDns,
        XdpDrop::BadFrame,
    ];

    /// Index into per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            XdpDrop::FillRingEmpty => "fill_ring_empty",
            XdpDrop::RxRingFull => "rx_ring_full",
            XdpDrop::RxDropped => "rx_dropped",
            XdpDrop::TxInvalid => "tx_invalid",
            XdpDrop::TxRingFull => "tx_ring_full",
            XdpDrop::NotDns => "not_dns",
            XdpDrop::BadFrame => "bad_frame",
        }
    }
}

const XDP_DROPS: usize = XdpDrop::ALL.len();

/// Frame counters of one XDP queue, summed locally and then published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounters {
    /// Frames taken from the receive ring.
    pub rx: u64,
    /// Frames put on the transmit ring.
    pub tx: u64,
    /// Frames not answered, by reason.
    pub drops: [u64; XDP_DROPS],
}

impl FrameCounters {
    /// Counts a frame let go for `reason`.
    #[inline]
    pub fn drop(&mut self, reason: XdpDrop) {
        self.drops[reason.index()] += 1;
    }

    /// Frames let go for `reason`.
    pub fn drops_for(&self, reason: XdpDrop) -> u64 {
        self.drops[reason.index()]
    }
}

/// One XDP worker's published frame counters.
#[derive(Debug, Default)]
pub struct SharedFrameCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    drops: [AtomicU64; XDP_DROPS],
}

impl SharedFrameCounters {
    /// Publishes `delta` (only the owning worker calls this).
    #[inline]
    pub fn publish(&self, delta: &FrameCounters) {
        bump(&self.rx, delta.rx);
        bump(&self.tx, delta.tx);
        for (counter, value) in self.drops.iter().zip(delta.drops) {
            bump(counter, value);
        }
    }

    /// A copy of the current values.
    pub fn read(&self) -> FrameCounters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FrameCounters {
            rx: load(&self.rx),
            tx: load(&self.tx),
            drops: std::array::from_fn(|index| load(&self.drops[index])),
        }
    }
}

/// The counters of one XDP worker (one NIC receive queue).
#[derive(Debug)]
pub struct XdpQueueStats {
    /// The receive queue.
    pub queue: u32,
    /// DNS counters, as a UDP worker keeps them.
    pub counters: CachePadded<SharedCounters>,
    /// Frame counters.
    pub frames: CachePadded<SharedFrameCounters>,
    /// The socket's kernel counters (fill ring empty, receive ring full,
    /// other receive drops, invalid transmit descriptors).
    kernel: Option<StatisticsReader>,
}

impl XdpQueueStats {
    /// Zeroed counters for `queue`, reading the kernel's counters of its
    /// socket through `kernel`.
    pub fn new(queue: u32, kernel: Option<StatisticsReader>) -> XdpQueueStats {
        XdpQueueStats {
            queue,
            counters: CachePadded::new(SharedCounters::default()),
            frames: CachePadded::new(SharedFrameCounters::default()),
            kernel,
        }
    }

    /// The worker's frame counters with the kernel's added.
    pub fn read_frames(&self) -> FrameCounters {
        let mut frames = self.frames.read();
        if let Some(Ok(kernel)) = self.kernel.as_ref().map(StatisticsReader::read) {
            frames.drops[XdpDrop::FillRingEmpty.index()] += kernel.rx_fill_ring_empty;
            frames.drops[XdpDrop::RxRingFull.index()] += kernel.rx_ring_full;
            frames.drops[XdpDrop::RxDropped.index()] += kernel.rx_dropped;
            frames.drops[XdpDrop::TxInvalid.index()] += kernel.tx_invalid;
        }
        frames
    }
}

/// Counters of all UDP workers, XDP workers and the TCP thread.
#[derive(Debug)]
pub struct Stats {
    udp_workers: Vec<CachePadded<SharedCounters>>,
    xdp_queues: Vec<XdpQueueStats>,
    tcp: CachePadded<SharedCounters>,
}

impl Stats {
    /// Counters for `workers` UDP workers and one TCP thread.
    pub fn new(workers: usize) -> Stats {
        Stats::with_xdp(workers, Vec::new())
    }

    /// Counters for `workers` UDP workers, one XDP worker per entry of
    /// `xdp_queues`, and one TCP thread.
    pub fn with_xdp(workers: usize, xdp_queues: Vec<XdpQueueStats>) -> Stats {
        Stats {
            udp_workers: (0..workers)
                .map(|_| CachePadded::new(SharedCounters::default()))
                .collect(),
            xdp_queues,
            tcp: CachePadded::new(SharedCounters::default()),
        }
    }

    /// The block UDP worker `index` writes.
    pub fn udp_worker(&self, index: usize) -> &SharedCounters {
        &self.udp_workers[index]
    }

    /// How many UDP workers count here.
    pub fn udp_workers(&self) -> usize {
        self.udp_workers.len()
    }

    /// The counters of every XDP worker, in worker order.
    pub fn xdp_queues(&self) -> &[XdpQueueStats] {
        &self.xdp_queues
    }

    /// The writer slot (in per-service counters) of the TCP thread: after
    /// the UDP workers and the XDP workers.
    pub fn tcp_writer(&self) -> usize {
        self.udp_workers.len() + self.xdp_queues.len()
    }

    /// The block the TCP thread writes.
    pub fn tcp(&self) -> &SharedCounters {
        &self.tcp
    }

    /// Sum over the workers of one transport.
    pub fn total(&self, transport: Transport) -> Counters {
        let mut sum = Counters::default();
        match transport {
            Transport::Udp => {
                for worker in &self.udp_workers {
                    sum.add(&worker.read());
                }
            }
            Transport::Tcp => sum.add(&self.tcp.read()),
        }
        sum
    }

    /// Sum over the XDP workers.
    pub fn xdp_total(&self) -> Counters {
        let mut sum = Counters::default();
        for queue in &self.xdp_queues {
            sum.add(&queue.counters.read());
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_counters_sum_across_workers() {
        let stats = Stats::new(2);
        let mut local = Counters {
            received: 3,
            ..Counters::default()
        };
        local.reply(Rcode::NoError, false);
        local.reply(Rcode::NxDomain, true);
        local.drop(DropReason::Response);
        stats.udp_worker(0).publish(&local);
        stats.udp_worker(1).publish(&local);
        stats.udp_worker(1).publish(&local);
        let total = stats.total(Transport::Udp);
        assert_eq!(total.received, 9);
        assert_eq!(total.replies_with(Rcode::NxDomain), 3);
        assert_eq!(total.truncated, 3);
        assert_eq!(total.drops_for(DropReason::Response), 3);
        assert_eq!(stats.total(Transport::Tcp), Counters::default());
    }

    #[test]
    fn tcp_closes_are_published_by_reason() {
        let stats = Stats::new(1);
        let mut local = Counters::default();
        local.close(CloseReason::Evicted);
        local.close(CloseReason::Evicted);
        local.close(CloseReason::Idle);
        stats.tcp().publish(&local);
        stats.tcp().publish(&local);
        let total = stats.total(Transport::Tcp);
        assert_eq!(total.closes_for(CloseReason::Evicted), 4);
        assert_eq!(total.closes_for(CloseReason::Idle), 2);
        assert_eq!(total.closes_for(CloseReason::Total), 0);
    }
}
