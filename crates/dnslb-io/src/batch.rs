//! Batched UDP receive and reply: one `recvmmsg(2)` fills up to `width` slots, one
//! `sendmmsg(2)` sends the replies queued for them.
//!
//! Two types share one receive path:
//!
//! * [`ReceiveBatch`] receives datagrams into slots and lends out each payload and
//!   sender. The generator reads its replies with it.
//! * [`UdpBatch`] is a [`ReceiveBatch`] with a reply buffer per slot: a handler
//!   writes the answer to slot `i` into that buffer, queues it, and one
//!   [`UdpBatch::send`] sends every queued reply back to its sender. The server's
//!   workers and the generator's reflector answer with it.
//!
//! A batch owns every buffer the kernel reads or writes: the datagram and reply
//! bytes (one contiguous `Vec<u8>` each), the peer addresses, the control buffers
//! for packet info, the `iovec`s and the `mmsghdr` arrays. They are all allocated
//! in `new` and never resized, so the hot path allocates nothing and makes one
//! syscall per call in the normal case.
//!
//! Invariants:
//!
//! * The `Vec`s are never resized after construction, so their heap buffers never
//!   move (moving a batch moves only the `Vec` headers).
//! * Every pointer stored in an `iovec` or `mmsghdr` points into one of those
//!   buffers. The pointers handed to a syscall are re-derived from the owning
//!   `Vec`s right before it (in [`ReceiveBatch::recv`] and [`UdpBatch::send`]), so
//!   no Rust reference to the same memory is live while the kernel uses them.
//!   Between calls the stored pointers are stale and never dereferenced.
//! * `received` slots (`0..received`) hold the datagrams of the last receive; the
//!   reply queue only names those slots and is cleared by every receive.
//!
//! Replies leave from the address the query was sent to: when the socket has packet
//! info enabled (see [`crate::socket::bind_udp`]), the received `IP_PKTINFO` /
//! `IPV6_PKTINFO` destination is echoed as the source of the reply.

use std::fmt;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::ptr;

/// How a receive waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Block until at least one datagram arrives (`MSG_WAITFORONE`), or until the
    /// socket's read timeout (`SO_RCVTIMEO`) expires, in which case recv returns `Ok(0)`.
    Block,
    /// Return at once (`MSG_DONTWAIT`); `Ok(0)` when nothing is queued.
    NoWait,
}

/// What [`UdpBatch::send`] did with the queued replies (or
/// [`ReceiveBatch::send_back`] with the received datagrams).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Replies the kernel accepted.
    pub sent: usize,
    /// Replies dropped: the kernel refused them, or the socket would block.
    pub failed: usize,
}

/// A received datagram, borrowed from its batch slot.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The payload bytes (at most `recv_size` of them).
    pub payload: &'a [u8],
    /// The sender. IPv4-mapped IPv6 peers stay IPv6; an unknown address family is
    /// reported as `0.0.0.0:0` (port 0, which callers drop).
    pub peer: SocketAddr,
    /// The kernel truncated the datagram (`MSG_TRUNC`): it was longer than `recv_size`.
    pub truncated: bool,
}

/// Most consecutive `EINTR`s one [`UdpBatch::send`] retries before it gives up on
/// the rest of the queue, so a signal storm cannot keep it looping.
const MAX_INTERRUPTED_RETRIES: usize = 8;

/// `CMSG_SPACE(length)`: bytes a control message with a `length`-byte payload takes.
const fn cmsg_space(length: usize) -> usize {
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument; it dereferences nothing.
    unsafe { libc::CMSG_SPACE(length as libc::c_uint) as usize }
}

/// `CMSG_LEN(length)`: the `cmsg_len` of a control message with a `length`-byte payload.
const fn cmsg_len(length: usize) -> usize {
    // SAFETY: CMSG_LEN is pure arithmetic on its argument; it dereferences nothing.
    unsafe { libc::CMSG_LEN(length as libc::c_uint) as usize }
}

/// Size of a slot's receive control buffer: room for one `IPV6_PKTINFO` and one
/// `IP_PKTINFO` message (a socket gets one or the other; the slack keeps packet info
/// if the kernel ever adds a second message).
const RECEIVE_CONTROL_SIZE: usize =
    cmsg_space(size_of::<libc::in6_pktinfo>()) + cmsg_space(size_of::<libc::in_pktinfo>());

/// `msg_namelen` offered to the kernel for a peer address.
const PEER_NAME_SIZE: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Receive control buffer of one slot, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct ReceiveControl([u8; RECEIVE_CONTROL_SIZE]);

const _: () = assert!(align_of::<ReceiveControl>() >= align_of::<libc::cmsghdr>());

/// One `IP_PKTINFO` control message, laid out as `CMSG_FIRSTHDR`/`CMSG_DATA` would
/// (checked below), so it is built with plain field writes.
#[derive(Clone, Copy)]
#[repr(C)]
struct Ipv4PacketInfoMessage {
    header: libc::cmsghdr,
    info: libc::in_pktinfo,
}

/// One `IPV6_PKTINFO` control message, laid out like [`Ipv4PacketInfoMessage`].
#[derive(Clone, Copy)]
#[repr(C)]
struct Ipv6PacketInfoMessage {
    header: libc::cmsghdr,
    info: libc::in6_pktinfo,
}

const _: () = {
    assert!(mem::offset_of!(Ipv4PacketInfoMessage, info) == cmsg_len(0));
    assert!(size_of::<Ipv4PacketInfoMessage>() == cmsg_space(size_of::<libc::in_pktinfo>()));
    assert!(mem::offset_of!(Ipv6PacketInfoMessage, info) == cmsg_len(0));
    assert!(size_of::<Ipv6PacketInfoMessage>() == cmsg_space(size_of::<libc::in6_pktinfo>()));
};

/// The local address a datagram was sent to, from its packet-info control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    /// No packet info came with the datagram.
    Unknown,
    /// From `IP_PKTINFO`: the header destination address and arrival interface.
    V4 {
        address: Ipv4Addr,
        interface: libc::c_int,
    },
    /// From `IPV6_PKTINFO`: the destination address and arrival interface.
    V6 {
        address: Ipv6Addr,
        interface: libc::c_uint,
    },
}

/// One queued reply: the first `length` bytes of `slot`'s reply buffer.
#[derive(Clone, Copy, Debug, Default)]
struct QueuedReply {
    slot: usize,
    length: usize,
}

/// Receive buffers for `width` datagrams: each slot has a receive buffer of
/// `recv_size` bytes, the peer address and the destination address the datagram
/// was sent to (`IP_PKTINFO` / `IPV6_PKTINFO` control message, when the socket has
/// it enabled).
///
/// All memory is allocated by [`ReceiveBatch::new`]; [`recv`](ReceiveBatch::recv)
/// allocates nothing.
pub struct ReceiveBatch {
    /// Number of slots.
    width: usize,
    /// Bytes of each slot's receive buffer.
    recv_size: usize,
    /// `width * recv_size` bytes; slot `i` owns `i * recv_size..(i + 1) * recv_size`.
    recv_buffers: Vec<u8>,
    /// Peer address of each slot, written by the kernel on receive.
    peers: Vec<libc::sockaddr_storage>,
    /// Control buffer of each slot, written by the kernel on receive.
    recv_controls: Vec<ReceiveControl>,
    /// Packet info parsed from each received slot's control buffer.
    destinations: Vec<Destination>,
    /// One iovec per slot, for receiving.
    recv_iovecs: Vec<libc::iovec>,
    /// Receive headers, one per slot.
    recv_headers: Vec<libc::mmsghdr>,
    /// Slots filled by the last receive.
    received: usize,
}

// SAFETY: the raw pointers inside the iovec and mmsghdr arrays only ever point into
// buffers this struct owns (never thread-local or borrowed memory), and they are
// re-derived before each syscall; moving the whole struct to another thread is
// therefore as safe as moving its Vecs.
unsafe impl Send for ReceiveBatch {}

impl fmt::Debug for ReceiveBatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ReceiveBatch")
            .field("width", &self.width)
            .field("recv_size", &self.recv_size)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl ReceiveBatch {
    /// Allocates a batch of `width` slots with `recv_size`-byte receive buffers. This
    /// is the only allocation the batch makes.
    ///
    /// # Panics
    ///
    /// When `width` is zero or `width * recv_size` overflows `usize`.
    pub fn new(width: usize, recv_size: usize) -> ReceiveBatch {
        assert!(width > 0, "a batch needs at least one slot");
        let recv_total = width
            .checked_mul(recv_size)
            .expect("width * recv_size overflows usize");
        // SAFETY: these are plain C structs of integers, byte arrays and raw
        // pointers, for which all-zero bytes are a valid value (null pointers, zero
        // lengths, AF_UNSPEC).
        let (header, iovec, address) = unsafe {
            (
                mem::zeroed::<libc::mmsghdr>(),
                mem::zeroed::<libc::iovec>(),
                mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        ReceiveBatch {
            width,
            recv_size,
            recv_buffers: vec![0; recv_total],
            peers: vec![address; width],
            recv_controls: vec![ReceiveControl([0; RECEIVE_CONTROL_SIZE]); width],
            destinations: vec![Destination::Unknown; width],
            recv_iovecs: vec![iovec; width],
            recv_headers: vec![header; width],
            received: 0,
        }
    }

    /// Number of slots: the most datagrams one [`recv`](ReceiveBatch::recv) returns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Receives up to `width` datagrams into slots `0..n` with one `recvmmsg` call
    /// and returns `n`.
    ///
    /// # Errors
    ///
    /// `EINTR` and `EAGAIN`/`EWOULDBLOCK` (including a `SO_RCVTIMEO` expiry) return
    /// `Ok(0)`; any other error of `recvmmsg` (such as `ECONNREFUSED` from an ICMP
    /// error on a connected socket) is returned, and no slot is filled.
    pub fn recv(&mut self, socket: &UdpSocket, wait: Wait) -> io::Result<usize> {
        self.received = 0;

        // The kernel overwrites lengths and flags, so every header is rebuilt; the
        // pointers are re-derived too (see the module invariants).
        let recv_size = self.recv_size;
        let buffers = self.recv_buffers.as_mut_ptr();
        for (slot, iovec) in self.recv_iovecs.iter_mut().enumerate() {
            iovec.iov_base = buffers.wrapping_add(slot * recv_size).cast();
            iovec.iov_len = recv_size;
        }
        let iovecs = self.recv_iovecs.as_mut_ptr();
        let peers = self.peers.as_mut_ptr();
        let controls = self.recv_controls.as_mut_ptr();
        for (slot, header) in self.recv_headers.iter_mut().enumerate() {
            let message = &mut header.msg_hdr;
            message.msg_name = peers.wrapping_add(slot).cast();
            message.msg_namelen = PEER_NAME_SIZE;
            message.msg_iov = iovecs.wrapping_add(slot);
            message.msg_iovlen = 1;
            message.msg_control = controls.wrapping_add(slot).cast();
            message.msg_controllen = RECEIVE_CONTROL_SIZE as _;
            message.msg_flags = 0;
            header.msg_len = 0;
        }

        let flags = match wait {
            Wait::Block => libc::MSG_WAITFORONE,
            Wait::NoWait => libc::MSG_DONTWAIT,
        };
        let count = libc::c_uint::try_from(self.width).unwrap_or(libc::c_uint::MAX);
        // SAFETY: the descriptor is open (borrowed from `socket`). The header array
        // has `width` >= `count` entries, and each header's name, iovec and control
        // pointers were just derived from this struct's own buffers with the matching
        // lengths, so the kernel writes only inside memory we own and nothing else
        // refers to it during the call. A null timeout is allowed.
        let result = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.recv_headers.as_mut_ptr(),
                count,
                flags,
                ptr::null_mut(),
            )
        };
        let Ok(received) = usize::try_from(result) else {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(error),
            };
        };
        let received = received.min(self.width);
        for slot in 0..received {
            self.destinations[slot] = self.parse_destination(slot);
        }
        self.received = received;
        Ok(received)
    }

    /// Reads the packet-info destination from slot `slot`'s received control messages.
    fn parse_destination(&self, slot: usize) -> Destination {
        let message = ptr::from_ref(&self.recv_headers[slot].msg_hdr);
        let control_start = self.recv_headers[slot].msg_hdr.msg_control as usize;
        // `as _`: msg_controllen is size_t with glibc, socklen_t with musl.
        let written: usize = self.recv_headers[slot].msg_hdr.msg_controllen as _;
        let control_length = written.min(RECEIVE_CONTROL_SIZE);
        // A payload of `size` bytes at `data` lies wholly inside the control buffer.
        let fits = |data: *const u8, size: usize| {
            (data as usize)
                .checked_add(size)
                .is_some_and(|end| end <= control_start + control_length)
        };
        let mut destination = Destination::Unknown;
        // SAFETY: `message` is a header the kernel just filled; its msg_control points
        // to this slot's control buffer (owned by self, not touched since recv derived
        // the pointer) and msg_controllen is at most that buffer's size.
        // CMSG_FIRSTHDR/CMSG_NXTHDR only return headers lying wholly inside
        // msg_control..msg_control+msg_controllen (and null once cmsg_len is too small
        // to advance), and each payload is read unaligned, only after checking with
        // `cmsg_len` and `fits` that it is inside the buffer.
        unsafe {
            let mut control = libc::CMSG_FIRSTHDR(message);
            while !control.is_null() {
                let header = ptr::read_unaligned(control);
                let data = libc::CMSG_DATA(control).cast_const();
                let length: usize = header.cmsg_len as _;
                match (header.cmsg_level, header.cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_PKTINFO)
                        if length >= cmsg_len(size_of::<libc::in_pktinfo>())
                            && fits(data, size_of::<libc::in_pktinfo>()) =>
                    {
                        let info = ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                        destination = Destination::V4 {
                            address: Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes()),
                            interface: info.ipi_ifindex,
                        };
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                        if length >= cmsg_len(size_of::<libc::in6_pktinfo>())
                            && fits(data, size_of::<libc::in6_pktinfo>()) =>
                    {
                        let info = ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                        destination = Destination::V6 {
                            address: Ipv6Addr::from(info.ipi6_addr.s6_addr),
                            interface: info.ipi6_ifindex,
                        };
                    }
                    _ => {}
                }
                control = libc::CMSG_NXTHDR(message, control);
            }
        }
        destination
    }

    /// Checks that slot `slot` holds a datagram of the last receive and returns the
    /// length of its payload.
    #[inline]
    fn payload_length(&self, slot: usize) -> usize {
        assert!(
            slot < self.received,
            "slot {slot} holds no datagram: the last recv filled {}",
            self.received
        );
        usize::try_from(self.recv_headers[slot].msg_len)
            .unwrap_or(usize::MAX)
            .min(self.recv_size)
    }

    /// The datagram in slot `i` (`0 <= i < n` from the last recv): its payload, its
    /// sender, and whether the kernel truncated it (`MSG_TRUNC`: it was longer than
    /// `recv_size`).
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](ReceiveBatch::recv) returned.
    #[inline]
    pub fn datagram(&self, i: usize) -> Datagram<'_> {
        let length = self.payload_length(i);
        let start = i * self.recv_size;
        let message = &self.recv_headers[i].msg_hdr;
        Datagram {
            payload: &self.recv_buffers[start..start + length],
            peer: socket_address(&self.peers[i], message.msg_namelen),
            truncated: message.msg_flags & libc::MSG_TRUNC != 0,
        }
    }

    /// The payload of slot `i` (`0 <= i < n` from the last recv), at most
    /// `recv_size` bytes: [`datagram`](ReceiveBatch::datagram) without the sender.
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](ReceiveBatch::recv) returned.
    #[inline]
    pub fn payload(&self, i: usize) -> &[u8] {
        let length = self.payload_length(i);
        let start = i * self.recv_size;
        &self.recv_buffers[start..start + length]
    }
}

impl ReceiveBatch {
    /// The payload of slot `i` to change in place, for [`send_back`](ReceiveBatch::send_back).
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](ReceiveBatch::recv) returned.
    #[inline]
    pub fn payload_mut(&mut self, i: usize) -> &mut [u8] {
        let length = self.payload_length(i);
        let start = i * self.recv_size;
        &mut self.recv_buffers[start..start + length]
    }

    /// Sends every datagram of the last receive back to its sender, as its slot now
    /// holds it, with `sendmmsg` on the (unconnected) `socket`, reusing the receive
    /// headers: the cheapest answer the kernel's UDP path allows, for a reflector
    /// that measures that path. Retries after a partial send and skips a datagram
    /// the kernel refuses, as [`UdpBatch::send`] does.
    pub fn send_back(&mut self, socket: &UdpSocket) -> SendOutcome {
        let count = mem::replace(&mut self.received, 0);
        let recv_size = self.recv_size;
        let buffers = self.recv_buffers.as_mut_ptr();
        for slot in 0..count {
            let length = usize::try_from(self.recv_headers[slot].msg_len)
                .unwrap_or(usize::MAX)
                .min(recv_size);
            let iovec = &mut self.recv_iovecs[slot];
            iovec.iov_base = buffers.wrapping_add(slot * recv_size).cast();
            iovec.iov_len = length;
        }
        let iovecs = self.recv_iovecs.as_mut_ptr();
        let peers = self.peers.as_mut_ptr();
        // The kernel wrote each sender's address and its length (msg_namelen) on
        // receive; the rest of each header is pointed at the payload, without control
        // messages.
        for (slot, header) in self.recv_headers.iter_mut().enumerate().take(count) {
            let message = &mut header.msg_hdr;
            message.msg_name = peers.wrapping_add(slot).cast();
            message.msg_iov = iovecs.wrapping_add(slot);
            message.msg_iovlen = 1;
            message.msg_control = std::ptr::null_mut();
            message.msg_controllen = 0;
            message.msg_flags = 0;
        }
        // SAFETY: each of the `count` headers was pointed just above at this
        // struct's peer storage (as the kernel wrote it on receive) and at an iovec
        // covering the received bytes of its slot; nothing else refers to these
        // buffers during the call.
        unsafe { send_headers(socket, &mut self.recv_headers[..count]) }
    }
}

/// Sends every message of `headers` with `sendmmsg` on `socket`.
///
/// After a partial send the remainder is retried; a message whose send fails with
/// an error other than `EINTR`/`EAGAIN` is skipped and counted as failed. On
/// `EAGAIN`/`EWOULDBLOCK` (send timeout or full buffer) the rest is counted as
/// failed. Every `sendmmsg` call either makes progress or ends the loop (at most a
/// few `EINTR` retries in a row), so this never loops forever.
///
/// # Safety
///
/// Every header's name, iovecs and control must point at live memory of the
/// lengths the header gives, which nothing else accesses during the call; the
/// kernel reads them and writes only each header's `msg_len`.
unsafe fn send_headers(socket: &UdpSocket, headers: &mut [libc::mmsghdr]) -> SendOutcome {
    let count = headers.len();
    let headers = headers.as_mut_ptr();
    let mut outcome = SendOutcome::default();
    let mut next = 0;
    let mut interrupted = 0;
    while next < count {
        let remaining = libc::c_uint::try_from(count - next).unwrap_or(libc::c_uint::MAX);
        // SAFETY: the descriptor is open (borrowed from `socket`); `next < count`, so
        // the `remaining` headers from `next` lie inside the caller's slice, whose
        // pointers the caller vouches for.
        let result =
            unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.wrapping_add(next), remaining, 0) };
        match usize::try_from(result) {
            Ok(0) => {
                // Not expected from Linux; skip one so the loop makes progress.
                outcome.failed += 1;
                next += 1;
            }
            Ok(sent) => {
                let sent = sent.min(count - next);
                outcome.sent += sent;
                next += sent;
                interrupted = 0;
            }
            Err(_) => match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted if interrupted < MAX_INTERRUPTED_RETRIES => {
                    interrupted += 1;
                }
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
                    outcome.failed += count - next;
                    break;
                }
                _ => {
                    // sendmmsg fails only on its first message: skip that one.
                    outcome.failed += 1;
                    next += 1;
                    interrupted = 0;
                }
            },
        }
    }
    outcome
}

/// Receive and reply buffers for one worker: a [`ReceiveBatch`] of `width` slots,
/// and for each slot a reply buffer of `send_size` bytes that goes back to the
/// slot's sender, from the address the datagram was sent to.
///
/// All memory is allocated by [`UdpBatch::new`]; [`recv`](UdpBatch::recv) and
/// [`send`](UdpBatch::send) allocate nothing.
pub struct UdpBatch {
    /// The received datagrams, their senders and destinations.
    receive: ReceiveBatch,
    /// Bytes of each slot's reply buffer.
    send_size: usize,
    /// `width * send_size` bytes; slot `i` owns `i * send_size..(i + 1) * send_size`.
    reply_buffers: Vec<u8>,
    /// Replies queued since the last receive; entries `0..queued` are meaningful.
    reply_queue: Vec<QueuedReply>,
    /// The following are indexed by queue position, not by slot.
    reply_iovecs: Vec<libc::iovec>,
    reply_controls_v4: Vec<Ipv4PacketInfoMessage>,
    reply_controls_v6: Vec<Ipv6PacketInfoMessage>,
    reply_headers: Vec<libc::mmsghdr>,
    /// Replies queued.
    queued: usize,
}

// SAFETY: as for ReceiveBatch: the raw pointers inside the iovec and mmsghdr arrays
// only ever point into buffers this struct owns (its own and its ReceiveBatch's),
// and they are re-derived before each syscall.
unsafe impl Send for UdpBatch {}

impl fmt::Debug for UdpBatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UdpBatch")
            .field("width", &self.receive.width)
            .field("recv_size", &self.receive.recv_size)
            .field("send_size", &self.send_size)
            .field("received", &self.receive.received)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl UdpBatch {
    /// Allocates a batch of `width` slots with `recv_size`-byte receive buffers and
    /// `send_size`-byte reply buffers. This is the only allocation the batch makes.
    ///
    /// # Panics
    ///
    /// When `width` is zero or the buffer sizes overflow `usize`.
    pub fn new(width: usize, recv_size: usize, send_size: usize) -> UdpBatch {
        let receive = ReceiveBatch::new(width, recv_size);
        let send_total = width
            .checked_mul(send_size)
            .expect("width * send_size overflows usize");
        // SAFETY: these are plain C structs of integers, byte arrays and raw
        // pointers, for which all-zero bytes are a valid value (null pointers, zero
        // lengths).
        let (header, iovec, v4_message, v6_message) = unsafe {
            (
                mem::zeroed::<libc::mmsghdr>(),
                mem::zeroed::<libc::iovec>(),
                mem::zeroed::<Ipv4PacketInfoMessage>(),
                mem::zeroed::<Ipv6PacketInfoMessage>(),
            )
        };
        UdpBatch {
            receive,
            send_size,
            reply_buffers: vec![0; send_total],
            reply_queue: vec![QueuedReply::default(); width],
            reply_iovecs: vec![iovec; width],
            reply_controls_v4: vec![v4_message; width],
            reply_controls_v6: vec![v6_message; width],
            reply_headers: vec![header; width],
            queued: 0,
        }
    }

    /// Number of slots: the most datagrams one [`recv`](UdpBatch::recv) returns.
    pub fn width(&self) -> usize {
        self.receive.width
    }

    /// Receives up to `width` datagrams into slots `0..n` with one `recvmmsg` call
    /// and returns `n`. Clears the reply queue.
    ///
    /// # Errors
    ///
    /// As [`ReceiveBatch::recv`]: `EINTR` and `EAGAIN`/`EWOULDBLOCK` (including a
    /// `SO_RCVTIMEO` expiry) return `Ok(0)`; any other error of `recvmmsg` is
    /// returned (and no slot is filled).
    #[inline]
    pub fn recv(&mut self, socket: &UdpSocket, wait: Wait) -> io::Result<usize> {
        self.queued = 0;
        self.receive.recv(socket, wait)
    }

    /// The datagram in slot `i` (`0 <= i < n` from the last recv): its payload, its
    /// sender, and whether the kernel truncated it (`MSG_TRUNC`: it was longer than
    /// `recv_size`).
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](UdpBatch::recv) returned.
    #[inline]
    pub fn datagram(&self, i: usize) -> Datagram<'_> {
        self.receive.datagram(i)
    }

    /// Split borrow of slot `i` for answering: the query payload (read-only) and the
    /// slot's reply buffer (`send_size` bytes, writable), so a handler can write a
    /// reply without copying.
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](UdpBatch::recv) returned.
    #[inline]
    pub fn slot_mut(&mut self, i: usize) -> (&[u8], &mut [u8]) {
        let length = self.receive.payload_length(i);
        let query_start = i * self.receive.recv_size;
        let reply_start = i * self.send_size;
        (
            &self.receive.recv_buffers[query_start..query_start + length],
            &mut self.reply_buffers[reply_start..reply_start + self.send_size],
        )
    }

    /// Queues the first `len` bytes of slot `i`'s reply buffer to go back to slot
    /// `i`'s peer, sent from the address the query arrived at (packet info echoed as a
    /// control message when it was received; otherwise no control message).
    ///
    /// # Panics
    ///
    /// When `i` is not below the count the last [`recv`](UdpBatch::recv) returned,
    /// when `len > send_size`, or when `width` replies are already queued.
    #[inline]
    pub fn queue_reply(&mut self, i: usize, len: usize) {
        self.receive.payload_length(i);
        assert!(
            len <= self.send_size,
            "reply of {len} bytes exceeds the {}-byte reply buffer",
            self.send_size
        );
        assert!(
            self.queued < self.receive.width,
            "reply queue is full ({} replies)",
            self.receive.width
        );
        self.reply_queue[self.queued] = QueuedReply {
            slot: i,
            length: len,
        };
        self.queued += 1;
    }

    /// Number of queued replies.
    #[inline]
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Sends all queued replies with `sendmmsg`, then clears the queue; partial
    /// sends and refused replies are handled as `send_headers` describes.
    pub fn send(&mut self, socket: &UdpSocket) -> SendOutcome {
        let count = mem::replace(&mut self.queued, 0);
        if count == 0 {
            return SendOutcome::default();
        }
        self.prepare_replies(count);
        // SAFETY: prepare_replies just pointed every one of the `count` headers'
        // name, iovec and control at this struct's own buffers with matching
        // lengths, and nothing else refers to them during the call.
        unsafe { send_headers(socket, &mut self.reply_headers[..count]) }
    }

    /// Fills reply headers `0..count` from the queue: peer, reply bytes and, when the
    /// query came with packet info, a control message choosing the source address.
    fn prepare_replies(&mut self, count: usize) {
        let send_size = self.send_size;
        let reply_buffers = self.reply_buffers.as_mut_ptr();
        let queue = &self.reply_queue[..count];
        let per_reply = self
            .reply_iovecs
            .iter_mut()
            .zip(self.reply_controls_v4.iter_mut())
            .zip(self.reply_controls_v6.iter_mut());
        for (entry, ((iovec, v4_message), v6_message)) in queue.iter().zip(per_reply) {
            iovec.iov_base = reply_buffers.wrapping_add(entry.slot * send_size).cast();
            iovec.iov_len = entry.length;
            match self.receive.destinations[entry.slot] {
                Destination::Unknown => {}
                Destination::V4 { address, .. } => {
                    v4_message.header.cmsg_len = cmsg_len(size_of::<libc::in_pktinfo>()) as _;
                    v4_message.header.cmsg_level = libc::IPPROTO_IP;
                    v4_message.header.cmsg_type = libc::IP_PKTINFO;
                    // Only the source address is pinned; interface 0 lets the
                    // routing table pick the way out (as Unbound does).
                    v4_message.info.ipi_ifindex = 0;
                    v4_message.info.ipi_spec_dst.s_addr = u32::from_ne_bytes(address.octets());
                    v4_message.info.ipi_addr.s_addr = 0;
                }
                Destination::V6 { address, interface } => {
                    v6_message.header.cmsg_len = cmsg_len(size_of::<libc::in6_pktinfo>()) as _;
                    v6_message.header.cmsg_level = libc::IPPROTO_IPV6;
                    v6_message.header.cmsg_type = libc::IPV6_PKTINFO;
                    v6_message.info.ipi6_addr.s6_addr = address.octets();
                    // A link-local source only means something on its interface;
                    // otherwise let the routing table pick the way out.
                    v6_message.info.ipi6_ifindex = if address.is_unicast_link_local() {
                        interface
                    } else {
                        0
                    };
                }
            }
        }

        let iovecs = self.reply_iovecs.as_mut_ptr();
        let v4_messages = self.reply_controls_v4.as_mut_ptr();
        let v6_messages = self.reply_controls_v6.as_mut_ptr();
        let peers = self.receive.peers.as_mut_ptr();
        let queue = &self.reply_queue[..count];
        for (position, (entry, header)) in
            queue.iter().zip(self.reply_headers.iter_mut()).enumerate()
        {
            let (control, control_length): (*mut libc::c_void, usize) =
                match self.receive.destinations[entry.slot] {
                    Destination::Unknown => (ptr::null_mut(), 0),
                    Destination::V4 { .. } => (
                        v4_messages.wrapping_add(position).cast(),
                        size_of::<Ipv4PacketInfoMessage>(),
                    ),
                    Destination::V6 { .. } => (
                        v6_messages.wrapping_add(position).cast(),
                        size_of::<Ipv6PacketInfoMessage>(),
                    ),
                };
            let message = &mut header.msg_hdr;
            message.msg_name = peers.wrapping_add(entry.slot).cast();
            message.msg_namelen = self.receive.recv_headers[entry.slot].msg_hdr.msg_namelen;
            message.msg_iov = iovecs.wrapping_add(position);
            message.msg_iovlen = 1;
            message.msg_control = control;
            message.msg_controllen = control_length as _;
            message.msg_flags = 0;
            header.msg_len = 0;
        }
    }
}

/// Converts a kernel-filled peer address of `length` bytes to a [`SocketAddr`];
/// `0.0.0.0:0` for an unknown family or a short address.
#[inline]
fn socket_address(storage: &libc::sockaddr_storage, length: libc::socklen_t) -> SocketAddr {
    let length = length as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if length >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is large and aligned enough for any socket
            // address, its bytes are initialized (zeroed at construction, then written
            // by the kernel), and the family says it holds a sockaddr_in.
            let address = unsafe { ptr::from_ref(storage).cast::<libc::sockaddr_in>().read() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(address.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(address.sin_port),
            ))
        }
        libc::AF_INET6 if length >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above; the family says it holds a sockaddr_in6.
            let address = unsafe { ptr::from_ref(storage).cast::<libc::sockaddr_in6>().read() };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(address.sin6_addr.s6_addr),
                u16::from_be(address.sin6_port),
                address.sin6_flowinfo,
                address.sin6_scope_id,
            ))
        }
        _ => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{UdpOptions, bind_udp, ipv6_loopback_available};
    use std::time::{Duration, Instant};

    /// A server socket with a read timeout, so a failing test cannot hang.
    fn server(address: SocketAddr) -> UdpSocket {
        let options = UdpOptions {
            read_timeout: Some(Duration::from_secs(5)),
            ..UdpOptions::default()
        };
        bind_udp(address, &options).unwrap()
    }

    #[test]
    fn send_back_returns_each_datagram_changed_in_place_to_its_sender() {
        let server = server("127.0.0.1:0".parse().unwrap());
        let address = server.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..3).map(|_| client_for(address)).collect();
        for (index, client) in clients.iter().enumerate() {
            client
                .send_to(&[index as u8, 0, 0x01, 0xaa], address)
                .unwrap();
        }
        let mut batch = ReceiveBatch::new(8, 512);
        // Loopback queues each datagram on the server socket as it is sent.
        let received = batch.recv(&server, Wait::Block).unwrap();
        assert_eq!(received, 3);
        for slot in 0..received {
            batch.payload_mut(slot)[2] |= 0x80;
        }
        let outcome = batch.send_back(&server);
        assert_eq!(outcome.failed, 0);
        for (index, client) in clients.iter().enumerate() {
            let mut buffer = [0u8; 16];
            let (length, from) = client.recv_from(&mut buffer).unwrap();
            assert_eq!(from, address);
            assert_eq!(&buffer[..length], &[index as u8, 0, 0x81, 0xaa]);
        }
        // Nothing received: nothing sent.
        assert_eq!(batch.send_back(&server), SendOutcome::default());
    }

    /// A client socket bound next to `target`, with a read timeout.
    fn client_for(target: SocketAddr) -> UdpSocket {
        let local: SocketAddr = match target {
            SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
        };
        let client = UdpSocket::bind(local).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
    }

    /// Receives until `expected` datagrams arrived in one call (loopback delivers
    /// synchronously, so the first call normally has them all).
    fn recv_exactly(batch: &mut UdpBatch, socket: &UdpSocket, expected: usize) {
        let received = batch.recv(socket, Wait::Block).unwrap();
        assert_eq!(received, expected);
    }

    /// Sends three queries, answers the first and last, checks what each client gets.
    fn echo_subset(server_address: SocketAddr) {
        let socket = server(server_address);
        let port = socket.local_addr().unwrap().port();
        let target: SocketAddr = match server_address {
            SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, port).into(),
            SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, port).into(),
        };
        let clients: Vec<UdpSocket> = (0..3).map(|_| client_for(target)).collect();
        for (index, client) in clients.iter().enumerate() {
            client
                .send_to(format!("query {index}").as_bytes(), target)
                .unwrap();
        }

        let mut batch = UdpBatch::new(8, 512, 512);
        recv_exactly(&mut batch, &socket, 3);
        for (index, client) in clients.iter().enumerate() {
            let datagram = batch.datagram(index);
            assert_eq!(datagram.payload, format!("query {index}").as_bytes());
            assert_eq!(datagram.peer, client.local_addr().unwrap());
            assert!(!datagram.truncated);
        }

        for slot in [0, 2] {
            let (query, reply) = batch.slot_mut(slot);
            let length = query.len() + 6;
            reply[..6].copy_from_slice(b"reply ");
            reply[6..length].copy_from_slice(query);
            batch.queue_reply(slot, length);
        }
        assert_eq!(batch.queued(), 2);
        assert_eq!(batch.send(&socket), SendOutcome { sent: 2, failed: 0 });
        assert_eq!(batch.queued(), 0);

        let mut buffer = [0u8; 512];
        for index in [0, 2] {
            let (length, from) = clients[index].recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..length], format!("reply query {index}").as_bytes());
            assert_eq!(from, target);
        }
        clients[1].set_nonblocking(true).unwrap();
        let error = clients[1].recv_from(&mut buffer).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn receives_a_batch_and_answers_a_subset_ipv4() {
        echo_subset((Ipv4Addr::LOCALHOST, 0).into());
    }

    #[test]
    fn receives_a_batch_and_answers_a_subset_ipv6() {
        if !ipv6_loopback_available() {
            eprintln!("IPv6 unavailable, skipped");
            return;
        }
        echo_subset((Ipv6Addr::LOCALHOST, 0).into());
    }

    #[test]
    fn receives_a_batch_and_answers_a_subset_with_packet_info() {
        echo_subset((Ipv4Addr::UNSPECIFIED, 0).into());
        if ipv6_loopback_available() {
            echo_subset((Ipv6Addr::UNSPECIFIED, 0).into());
        }
    }

    #[test]
    fn long_datagram_is_truncated() {
        let socket = server((Ipv4Addr::LOCALHOST, 0).into());
        let target = socket.local_addr().unwrap();
        let client = client_for(target);
        client.send_to(&[7u8; 100], target).unwrap();
        client.send_to(&[9u8; 16], target).unwrap();

        let mut batch = UdpBatch::new(4, 16, 16);
        recv_exactly(&mut batch, &socket, 2);
        let long = batch.datagram(0);
        assert!(long.truncated);
        assert_eq!(long.payload, &[7u8; 16]);
        let exact = batch.datagram(1);
        assert!(!exact.truncated);
        assert_eq!(exact.payload, &[9u8; 16]);
    }

    #[test]
    fn no_wait_on_an_empty_socket_returns_at_once() {
        let socket = server((Ipv4Addr::LOCALHOST, 0).into());
        let mut batch = UdpBatch::new(4, 512, 512);
        let start = Instant::now();
        assert_eq!(batch.recv(&socket, Wait::NoWait).unwrap(), 0);
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn block_returns_zero_when_the_read_timeout_expires() {
        let options = UdpOptions {
            read_timeout: Some(Duration::from_millis(50)),
            ..UdpOptions::default()
        };
        let socket = bind_udp((Ipv4Addr::LOCALHOST, 0).into(), &options).unwrap();
        let mut batch = UdpBatch::new(4, 512, 512);
        let start = Instant::now();
        assert_eq!(batch.recv(&socket, Wait::Block).unwrap(), 0);
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    /// Sends a query to `query_target` from a client connected to it (so it accepts
    /// replies only from that address) and answers it through `socket`.
    fn reply_comes_from(socket: &UdpSocket, query_target: SocketAddr) {
        let client = client_for(query_target);
        client.connect(query_target).unwrap();
        client.send(b"where").unwrap();

        let mut batch = UdpBatch::new(2, 512, 512);
        recv_exactly(&mut batch, socket, 1);
        assert_eq!(batch.datagram(0).peer, client.local_addr().unwrap());
        match (batch.receive.destinations[0], query_target.ip()) {
            (Destination::V4 { address, .. }, std::net::IpAddr::V4(expected)) => {
                assert_eq!(address, expected);
            }
            (Destination::V6 { address, .. }, std::net::IpAddr::V6(expected)) => {
                assert_eq!(address, expected);
            }
            (destination, _) => panic!("no packet info: {destination:?}"),
        }
        let (_, reply) = batch.slot_mut(0);
        reply[..4].copy_from_slice(b"here");
        batch.queue_reply(0, 4);
        assert_eq!(batch.send(socket), SendOutcome { sent: 1, failed: 0 });

        let mut buffer = [0u8; 16];
        let length = client.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], b"here");
    }

    #[test]
    fn packet_info_makes_replies_leave_from_the_query_address_ipv4() {
        let socket = server((Ipv4Addr::UNSPECIFIED, 0).into());
        let port = socket.local_addr().unwrap().port();
        reply_comes_from(&socket, (Ipv4Addr::LOCALHOST, port).into());
        // 127.0.0.2 is local too, but the routing table would answer a 127.0.0.1
        // client from 127.0.0.1: only packet info makes this reply acceptable.
        reply_comes_from(&socket, (Ipv4Addr::new(127, 0, 0, 2), port).into());
    }

    #[test]
    fn packet_info_makes_replies_leave_from_the_query_address_ipv6() {
        if !ipv6_loopback_available() {
            eprintln!("IPv6 unavailable, skipped");
            return;
        }
        let socket = server((Ipv6Addr::UNSPECIFIED, 0).into());
        let port = socket.local_addr().unwrap().port();
        reply_comes_from(&socket, (Ipv6Addr::LOCALHOST, port).into());
    }

    #[test]
    fn ipv4_mapped_peer_stays_ipv6() {
        if !ipv6_loopback_available() {
            eprintln!("IPv6 unavailable, skipped");
            return;
        }
        let socket = socket2::Socket::new(
            socket2::Domain::IPV6,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .unwrap();
        socket.set_only_v6(false).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
            .unwrap();
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let target: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
        let client = client_for(target);
        client.send_to(b"mapped", target).unwrap();

        let mut batch = UdpBatch::new(2, 64, 64);
        recv_exactly(&mut batch, &socket, 1);
        let client_address = client.local_addr().unwrap();
        let expected = SocketAddr::V6(SocketAddrV6::new(
            Ipv4Addr::LOCALHOST.to_ipv6_mapped(),
            client_address.port(),
            0,
            0,
        ));
        assert_eq!(batch.datagram(0).peer, expected);
        let (_, reply) = batch.slot_mut(0);
        reply[0] = 1;
        batch.queue_reply(0, 1);
        assert_eq!(batch.send(&socket).sent, 1);
        let mut buffer = [0u8; 4];
        assert_eq!(client.recv_from(&mut buffer).unwrap(), (1, target));
    }

    #[test]
    fn a_failing_reply_is_skipped_and_counted() {
        let socket = server((Ipv4Addr::LOCALHOST, 0).into());
        let target = socket.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..3).map(|_| client_for(target)).collect();
        for client in &clients {
            client.send_to(b"q", target).unwrap();
        }
        let mut batch = UdpBatch::new(4, 64, 64);
        recv_exactly(&mut batch, &socket, 3);
        // Port 0 is not a valid destination: sendmmsg fails on that message (EINVAL).
        // SAFETY: peers[1] holds a sockaddr_in (checked just below by datagram()).
        let peer =
            unsafe { &mut *ptr::from_mut(&mut batch.receive.peers[1]).cast::<libc::sockaddr_in>() };
        peer.sin_port = 0;
        assert_eq!(batch.datagram(1).peer.port(), 0);
        for slot in 0..3 {
            let (_, reply) = batch.slot_mut(slot);
            reply[0] = u8::try_from(slot).unwrap();
            batch.queue_reply(slot, 1);
        }
        assert_eq!(batch.send(&socket), SendOutcome { sent: 2, failed: 1 });
        let mut buffer = [0u8; 4];
        for slot in [0, 2] {
            assert_eq!(clients[slot].recv_from(&mut buffer).unwrap(), (1, target));
            assert_eq!(usize::from(buffer[0]), slot);
        }
    }

    #[test]
    fn recv_clears_the_reply_queue_and_empty_send_is_a_no_op() {
        let socket = server((Ipv4Addr::LOCALHOST, 0).into());
        let target = socket.local_addr().unwrap();
        let client = client_for(target);
        let mut batch = UdpBatch::new(2, 64, 64);
        assert_eq!(batch.send(&socket), SendOutcome::default());
        client.send_to(b"a", target).unwrap();
        recv_exactly(&mut batch, &socket, 1);
        batch.queue_reply(0, 0);
        assert_eq!(batch.queued(), 1);
        assert_eq!(batch.recv(&socket, Wait::NoWait).unwrap(), 0);
        assert_eq!(batch.queued(), 0);
    }

    #[test]
    #[should_panic(expected = "holds no datagram")]
    fn slot_beyond_the_last_receive_panics() {
        let batch = UdpBatch::new(2, 64, 64);
        let _ = batch.datagram(0);
    }

    #[test]
    fn unknown_family_is_port_zero() {
        // SAFETY: all-zero bytes are a valid sockaddr_storage (AF_UNSPEC).
        let storage = unsafe { mem::zeroed::<libc::sockaddr_storage>() };
        let address = socket_address(&storage, PEER_NAME_SIZE);
        assert_eq!(address, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    }

    #[test]
    fn batch_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<UdpBatch>();
    }

    /// Heap pointer and capacity of each buffer, to check nothing reallocates.
    fn buffer_identity(batch: &UdpBatch) -> Vec<(usize, usize)> {
        vec![
            (
                batch.receive.recv_buffers.as_ptr() as usize,
                batch.receive.recv_buffers.capacity(),
            ),
            (
                batch.reply_buffers.as_ptr() as usize,
                batch.reply_buffers.capacity(),
            ),
            (
                batch.receive.peers.as_ptr() as usize,
                batch.receive.peers.capacity(),
            ),
            (
                batch.receive.recv_controls.as_ptr() as usize,
                batch.receive.recv_controls.capacity(),
            ),
            (
                batch.receive.destinations.as_ptr() as usize,
                batch.receive.destinations.capacity(),
            ),
            (
                batch.receive.recv_iovecs.as_ptr() as usize,
                batch.receive.recv_iovecs.capacity(),
            ),
            (
                batch.receive.recv_headers.as_ptr() as usize,
                batch.receive.recv_headers.capacity(),
            ),
            (
                batch.reply_queue.as_ptr() as usize,
                batch.reply_queue.capacity(),
            ),
            (
                batch.reply_iovecs.as_ptr() as usize,
                batch.reply_iovecs.capacity(),
            ),
            (
                batch.reply_controls_v4.as_ptr() as usize,
                batch.reply_controls_v4.capacity(),
            ),
            (
                batch.reply_controls_v6.as_ptr() as usize,
                batch.reply_controls_v6.capacity(),
            ),
            (
                batch.reply_headers.as_ptr() as usize,
                batch.reply_headers.capacity(),
            ),
        ]
    }

    #[test]
    fn a_thousand_round_trips_grow_nothing() {
        let socket = server((Ipv4Addr::UNSPECIFIED, 0).into());
        let port = socket.local_addr().unwrap().port();
        let target: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
        let client = client_for(target);
        let batch = UdpBatch::new(4, 512, 512);
        let before = buffer_identity(&batch);
        // Moving the batch moves only the Vec headers, never the buffers.
        let moved = std::thread::spawn(move || batch).join().unwrap();
        let mut batch = moved;
        assert_eq!(buffer_identity(&batch), before);
        let mut buffer = [0u8; 512];
        for round in 0..1000u32 {
            let query = round.to_be_bytes();
            client.send_to(&query, target).unwrap();
            client.send_to(&query, target).unwrap();
            recv_exactly(&mut batch, &socket, 2);
            for slot in 0..2 {
                let (query, reply) = batch.slot_mut(slot);
                reply[..4].copy_from_slice(query);
                batch.queue_reply(slot, 4);
            }
            assert_eq!(batch.send(&socket), SendOutcome { sent: 2, failed: 0 });
            for _ in 0..2 {
                let (length, from) = client.recv_from(&mut buffer).unwrap();
                assert_eq!(&buffer[..length], &query);
                assert_eq!(from, target);
            }
        }
        assert_eq!(buffer_identity(&batch), before);
    }
}
