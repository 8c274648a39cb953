//! The generator's operating-system boundary: batched UDP I/O (`sendmmsg` /
//! `recvmmsg`), `ppoll` over a fixed set of descriptors, and the thread's timer
//! slack. It is the only module of the tool where `unsafe` code is allowed.
//!
//! Invariants, kept by every type here:
//!
//! * every `unsafe {}` block has a `// SAFETY:` comment right above it;
//! * each batch owns every buffer the kernel reads or writes (payload bytes,
//!   peer addresses, `iovec`s, `mmsghdr`s), allocated once in `new` and never
//!   resized, so the hot path allocates nothing and the heap buffers never move;
//! * the pointers stored in `iovec`s and `mmsghdr`s are re-derived from the
//!   owning `Vec`s right before each syscall, so no Rust reference to the same
//!   memory is live while the kernel uses it; between calls they are stale and
//!   never dereferenced;
//! * no raw pointer leaves this module: callers see slices and counts.

use std::fmt;
use std::io;
use std::mem;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;
use std::time::Duration;

/// How a receive waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Block until at least one datagram arrives (`MSG_WAITFORONE`) or the socket's
    /// read timeout (`SO_RCVTIMEO`) expires.
    Block,
    /// Return at once (`MSG_DONTWAIT`).
    NoWait,
}

/// What a batched send did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Datagrams the kernel accepted; they were the first `sent` of the batch.
    pub sent: usize,
    /// The error that stopped the batch early, other than "would block" (which
    /// just stops it: the socket buffer is full).
    pub error: Option<io::ErrorKind>,
}

/// All-zero value of a plain C struct.
///
/// Only instantiated below for `libc::mmsghdr`, `libc::iovec` and
/// `libc::sockaddr_storage`: structs of integers, byte arrays and raw pointers.
fn zeroed<T: Copy>() -> T {
    // SAFETY: every caller passes a C struct made of integers, byte arrays and raw
    // pointers, for which all-zero bytes are a valid value (null pointers, zero
    // lengths, AF_UNSPEC).
    unsafe { mem::zeroed::<T>() }
}

/// Datagrams to send on a connected socket with one `sendmmsg`: `capacity` slots of
/// `slot_size` bytes, each filled with [`SendBatch::slot_mut`].
pub struct SendBatch {
    slot_size: usize,
    /// `capacity * slot_size` bytes; slot `i` owns `i * slot_size..(i + 1) * slot_size`.
    buffers: Vec<u8>,
    /// Bytes of each slot to send.
    lengths: Vec<usize>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// One `UDP_SEGMENT` control message per header, for segmented sends.
    controls: Vec<SegmentControl>,
    /// Datagrams carried by each header of the last send.
    carried: Vec<usize>,
    /// Whether runs of equal-sized datagrams go out as one segmented (UDP GSO)
    /// message; switched off for good when the kernel refuses one.
    segment: bool,
}

/// Most datagrams in one segmented message (the kernel's `UDP_MAX_SEGMENTS` is 64
/// on older kernels, 128 on newer ones).
const MAX_SEGMENTS: usize = 64;

/// Most payload bytes in one segmented message (it travels as one IP packet of at
/// most 64 KiB until the kernel splits it).
const MAX_SEGMENTED_BYTES: usize = 60_000;

/// A `cmsghdr` carrying the `UDP_SEGMENT` size, laid out as `CMSG_SPACE(2)`
/// bytes: the header, then the `u16` at `CMSG_DATA`, then padding.
#[repr(C)]
#[derive(Clone, Copy)]
struct SegmentControl {
    header: libc::cmsghdr,
    size: u16,
    padding: [u8; 6],
}

// SAFETY: the raw pointers inside the iovec and mmsghdr arrays only ever point into
// buffers this struct owns and are re-derived before each syscall, so moving the
// struct to another thread is as safe as moving its Vecs.
unsafe impl Send for SendBatch {}

impl fmt::Debug for SendBatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SendBatch")
            .field("capacity", &self.lengths.len())
            .field("slot_size", &self.slot_size)
            .finish_non_exhaustive()
    }
}

impl SendBatch {
    /// Allocates `capacity` slots of `slot_size` bytes: the only allocation it makes.
    ///
    /// # Panics
    ///
    /// When `capacity` is zero.
    pub fn new(capacity: usize, slot_size: usize) -> SendBatch {
        assert!(capacity > 0, "a SendBatch needs at least one slot");
        SendBatch {
            slot_size,
            buffers: vec![0; capacity * slot_size],
            lengths: vec![0; capacity],
            iovecs: vec![zeroed::<libc::iovec>(); capacity],
            headers: vec![zeroed::<libc::mmsghdr>(); capacity],
            controls: vec![zeroed::<SegmentControl>(); capacity],
            carried: vec![0; capacity],
            segment: true,
        }
    }

    /// Sends every datagram as its own message (plain `sendmmsg`), never as a
    /// segmented one.
    pub fn without_segmentation(mut self) -> SendBatch {
        self.segment = false;
        self
    }

    /// Whether runs of equal-sized datagrams are still sent segmented.
    #[cfg(test)]
    pub fn segmenting(&self) -> bool {
        self.segment
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.lengths.len()
    }

    /// Slot `index`, `length` bytes long, to write a datagram into.
    ///
    /// # Panics
    ///
    /// When `index >= capacity` or `length > slot_size`.
    pub fn slot_mut(&mut self, index: usize, length: usize) -> &mut [u8] {
        assert!(length <= self.slot_size, "datagram longer than its slot");
        self.lengths[index] = length;
        let start = index * self.slot_size;
        &mut self.buffers[start..start + length]
    }

    /// Sends slots `0..count` on the connected `socket` with `sendmmsg`, without
    /// blocking. A partial send is not retried: the caller learns how many left.
    ///
    /// Consecutive datagrams of the same size go out as one message with a
    /// `UDP_SEGMENT` control message (UDP GSO): the kernel walks its send path
    /// once for the run and splits it into the same datagrams at the receiving
    /// end, which sees nothing different. On loopback that send path is most of
    /// what a generator core spends per query. If the kernel refuses a segmented
    /// message, segmentation is switched off and the batch is sent plainly.
    ///
    /// # Panics
    ///
    /// When `count > capacity`.
    pub fn send(&mut self, socket: &UdpSocket, count: usize) -> SendOutcome {
        assert!(count <= self.capacity(), "more datagrams than slots");
        if count == 0 {
            return SendOutcome::default();
        }
        if self.segment {
            let outcome = self.send_messages(socket, count, true);
            match outcome.error {
                Some(io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported)
                    if outcome.sent == 0 =>
                {
                    self.segment = false;
                }
                _ => return outcome,
            }
        }
        self.send_messages(socket, count, false)
    }

    /// Lays out the headers for slots `0..count` (runs of equal sizes merged into
    /// one segmented message when `segment`) and sends them with one `sendmmsg`.
    fn send_messages(&mut self, socket: &UdpSocket, count: usize, segment: bool) -> SendOutcome {
        let slot_size = self.slot_size;
        let buffers = self.buffers.as_mut_ptr();
        for (index, (iovec, length)) in self.iovecs.iter_mut().zip(&self.lengths).enumerate() {
            iovec.iov_base = buffers.wrapping_add(index * slot_size).cast();
            iovec.iov_len = *length;
        }
        let iovecs = self.iovecs.as_mut_ptr();
        let controls = self.controls.as_mut_ptr();
        let mut messages = 0;
        let mut first = 0;
        while first < count {
            let length = self.lengths[first];
            let mut run = 1;
            if segment && length > 0 {
                let most = MAX_SEGMENTS.min(MAX_SEGMENTED_BYTES / length).max(1);
                while first + run < count && run < most && self.lengths[first + run] == length {
                    run += 1;
                }
            }
            let header = &mut self.headers[messages];
            let message = &mut header.msg_hdr;
            message.msg_name = ptr::null_mut();
            message.msg_namelen = 0;
            message.msg_iov = iovecs.wrapping_add(first);
            message.msg_iovlen = run as _;
            if run > 1 {
                let control = &mut self.controls[messages];
                control.header.cmsg_len = CONTROL_LENGTH as _;
                control.header.cmsg_level = libc::SOL_UDP;
                control.header.cmsg_type = libc::UDP_SEGMENT;
                control.size = u16::try_from(length).unwrap_or(u16::MAX);
                message.msg_control = controls.wrapping_add(messages).cast();
                message.msg_controllen = size_of::<SegmentControl>() as _;
            } else {
                message.msg_control = ptr::null_mut();
                message.msg_controllen = 0;
            }
            message.msg_flags = 0;
            header.msg_len = 0;
            self.carried[messages] = run;
            messages += 1;
            first += run;
        }
        let wanted = libc::c_uint::try_from(messages).unwrap_or(libc::c_uint::MAX);
        // SAFETY: the descriptor is open (borrowed from `socket`); the header array
        // has at least `messages` entries, each pointing (just above) at a run of
        // iovecs of this struct, within the first `count`, that point at slots of
        // `buffers` with lengths of at most `slot_size`, and at a control message of
        // `controls` (or none). Nothing else refers to these buffers during the
        // call; the kernel only reads the payloads and controls and writes the
        // headers' msg_len.
        let result = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                wanted,
                libc::MSG_DONTWAIT,
            )
        };
        match usize::try_from(result) {
            Ok(sent_messages) => SendOutcome {
                sent: self.carried[..sent_messages.min(messages)].iter().sum(),
                error: None,
            },
            Err(_) => {
                let error = io::Error::last_os_error();
                SendOutcome {
                    sent: 0,
                    error: match error.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => None,
                        _ if error.raw_os_error() == Some(libc::EIO) => {
                            Some(io::ErrorKind::Unsupported)
                        }
                        other => Some(other),
                    },
                }
            }
        }
    }
}

/// `CMSG_LEN(2)`: the header and the `u16` segment size.
const CONTROL_LENGTH: usize = mem::offset_of!(SegmentControl, size) + size_of::<u16>();

/// Datagrams received with one `recvmmsg`: `capacity` slots of `slot_size` bytes,
/// with the sender of each (for the reflector, which sends them back).
pub struct RecvBatch {
    slot_size: usize,
    /// `capacity * slot_size` bytes; slot `i` owns `i * slot_size..(i + 1) * slot_size`.
    buffers: Vec<u8>,
    peers: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// Slots filled by the last receive.
    received: usize,
}

// SAFETY: as for SendBatch: the stored pointers only point into buffers this struct
// owns and are re-derived before each syscall.
unsafe impl Send for RecvBatch {}

impl fmt::Debug for RecvBatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RecvBatch")
            .field("capacity", &self.headers.len())
            .field("slot_size", &self.slot_size)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// `msg_namelen` offered to the kernel for a peer address.
const PEER_NAME_SIZE: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl RecvBatch {
    /// Allocates `capacity` slots of `slot_size` bytes: the only allocation it makes.
    ///
    /// # Panics
    ///
    /// When `capacity` is zero.
    pub fn new(capacity: usize, slot_size: usize) -> RecvBatch {
        assert!(capacity > 0, "a RecvBatch needs at least one slot");
        RecvBatch {
            slot_size,
            buffers: vec![0; capacity * slot_size],
            peers: vec![zeroed::<libc::sockaddr_storage>(); capacity],
            iovecs: vec![zeroed::<libc::iovec>(); capacity],
            headers: vec![zeroed::<libc::mmsghdr>(); capacity],
            received: 0,
        }
    }

    /// Receives up to `capacity` datagrams into slots `0..n` with one `recvmmsg` and
    /// returns `n`. "Would block", an interrupted call and an expired read timeout
    /// return `Ok(0)`; other errors (such as `ECONNREFUSED` from an ICMP error on a
    /// connected socket) are returned, with no slot filled.
    pub fn recv(&mut self, socket: &UdpSocket, wait: Wait) -> io::Result<usize> {
        self.received = 0;
        let slot_size = self.slot_size;
        let buffers = self.buffers.as_mut_ptr();
        for (index, iovec) in self.iovecs.iter_mut().enumerate() {
            iovec.iov_base = buffers.wrapping_add(index * slot_size).cast();
            iovec.iov_len = slot_size;
        }
        let iovecs = self.iovecs.as_mut_ptr();
        let peers = self.peers.as_mut_ptr();
        for (index, header) in self.headers.iter_mut().enumerate() {
            let message = &mut header.msg_hdr;
            message.msg_name = peers.wrapping_add(index).cast();
            message.msg_namelen = PEER_NAME_SIZE;
            message.msg_iov = iovecs.wrapping_add(index);
            message.msg_iovlen = 1;
            message.msg_control = ptr::null_mut();
            message.msg_controllen = 0;
            message.msg_flags = 0;
            header.msg_len = 0;
        }
        let flags = match wait {
            Wait::Block => libc::MSG_WAITFORONE,
            Wait::NoWait => libc::MSG_DONTWAIT,
        };
        let count = libc::c_uint::try_from(self.headers.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: the descriptor is open (borrowed from `socket`). The header array
        // has `count` entries, each pointing (just above) at this struct's own peer
        // storage (with its size as msg_namelen) and at an iovec covering exactly one
        // slot of `buffers`, so the kernel writes only inside memory we own, and
        // nothing else refers to it during the call. A null timeout is allowed.
        let result = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                count,
                flags,
                ptr::null_mut(),
            )
        };
        match usize::try_from(result) {
            Ok(received) => {
                self.received = received.min(self.headers.len());
                Ok(self.received)
            }
            Err(_) => {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(error),
                }
            }
        }
    }

    /// Payload length of received slot `index`, capped at the slot size.
    fn length(&self, index: usize) -> usize {
        assert!(
            index < self.received,
            "slot {index} holds no datagram: the last receive filled {}",
            self.received
        );
        usize::try_from(self.headers[index].msg_len)
            .unwrap_or(usize::MAX)
            .min(self.slot_size)
    }

    /// The payload of received slot `index` (`index` below the last receive's count).
    pub fn payload(&self, index: usize) -> &[u8] {
        let start = index * self.slot_size;
        &self.buffers[start..start + self.length(index)]
    }

    /// The payload of received slot `index`, writable (the reflector flips a bit).
    pub fn payload_mut(&mut self, index: usize) -> &mut [u8] {
        let start = index * self.slot_size;
        let length = self.length(index);
        &mut self.buffers[start..start + length]
    }

    /// Sends every datagram of the last receive back to its sender, as it now is,
    /// with `sendmmsg` on the (unconnected) `socket`; retries after a partial send and
    /// skips a datagram the kernel refuses. Returns how many left.
    pub fn send_back(&mut self, socket: &UdpSocket) -> usize {
        let count = self.received;
        // The receive headers already name each sender (msg_name / msg_namelen as the
        // kernel wrote them); only the iovec lengths change, to the payload lengths.
        for index in 0..count {
            let length = self.length(index);
            self.iovecs[index].iov_len = length;
        }
        let slot_size = self.slot_size;
        let buffers = self.buffers.as_mut_ptr();
        for (index, iovec) in self.iovecs.iter_mut().enumerate().take(count) {
            iovec.iov_base = buffers.wrapping_add(index * slot_size).cast();
        }
        let iovecs = self.iovecs.as_mut_ptr();
        let peers = self.peers.as_mut_ptr();
        for (index, header) in self.headers.iter_mut().enumerate().take(count) {
            let message = &mut header.msg_hdr;
            message.msg_name = peers.wrapping_add(index).cast();
            message.msg_iov = iovecs.wrapping_add(index);
            message.msg_iovlen = 1;
            message.msg_control = ptr::null_mut();
            message.msg_controllen = 0;
            message.msg_flags = 0;
        }
        let headers = self.headers.as_mut_ptr();
        let mut next = 0;
        let mut sent = 0;
        let mut interrupted = 0;
        while next < count {
            let remaining = libc::c_uint::try_from(count - next).unwrap_or(libc::c_uint::MAX);
            // SAFETY: the descriptor is open; `next < count <= capacity`, so the
            // `remaining` headers from `next` lie inside `headers`. Each was pointed
            // (just above) at this struct's peer storage, as long as the kernel wrote
            // it on receive, and at an iovec covering the received bytes of its slot.
            // Nothing else refers to these buffers during the call.
            let result = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), headers.wrapping_add(next), remaining, 0)
            };
            match usize::try_from(result) {
                Ok(0) => next += 1,
                Ok(count_sent) => {
                    next += count_sent;
                    sent += count_sent;
                }
                Err(_) => match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted if interrupted < 8 => interrupted += 1,
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => break,
                    // sendmmsg fails only on its first datagram: skip that one.
                    _ => next += 1,
                },
            }
        }
        self.received = 0;
        sent
    }
}

/// Readiness of a fixed set of descriptors, waited for with `ppoll`.
pub struct Poller {
    fds: Vec<libc::pollfd>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Poller")
            .field("descriptors", &self.fds.len())
            .finish()
    }
}

impl Poller {
    /// Watches `descriptors` for input.
    pub fn new(descriptors: &[RawFd]) -> Poller {
        Poller {
            fds: descriptors
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        }
    }

    /// Replaces descriptor `index` (a reconnected TCP stream).
    pub fn set_descriptor(&mut self, index: usize, descriptor: RawFd) {
        self.fds[index].fd = descriptor;
    }

    /// Whether to wake when descriptor `index` can be written too.
    pub fn want_write(&mut self, index: usize, write: bool) {
        self.fds[index].events = if write {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
    }

    /// Waits until a descriptor is ready or `timeout` passes; returns how many are
    /// ready (0 on timeout or interruption).
    pub fn wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        let count = libc::nfds_t::try_from(self.fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` holds `count` initialized pollfd entries owned by self (the
        // kernel writes only their revents); `timeout` is a valid timespec on the
        // stack; a null signal mask leaves the mask unchanged.
        let result = unsafe {
            libc::ppoll(
                self.fds.as_mut_ptr(),
                count,
                &raw const timeout,
                ptr::null(),
            )
        };
        match usize::try_from(result) {
            Ok(ready) => Ok(ready),
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    Ok(0)
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// Sets the calling thread's timer slack to `nanoseconds`, so short sleeps
/// (`ppoll` timeouts) end when asked instead of up to 50 us late. Best effort.
pub fn set_timer_slack(nanoseconds: u64) {
    let value = libc::c_ulong::try_from(nanoseconds).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes its value as an integer argument and touches
    // no memory of ours; the unused arguments are zero as prctl(2) asks.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, value, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Instant;

    fn pair() -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (server, client)
    }

    #[test]
    fn send_batch_receive_batch_and_send_back() {
        let (server, client) = pair();
        let mut send = SendBatch::new(4, 64);
        for index in 0..3 {
            let slot = send.slot_mut(index, index + 1);
            slot.fill(u8::try_from(index).unwrap() + 1);
        }
        assert_eq!(send.send(&client, 3).sent, 3);

        let mut receive = RecvBatch::new(8, 64);
        let mut got = 0;
        while got < 3 {
            got += receive.recv(&server, Wait::Block).unwrap();
            assert!(got > 0);
        }
        assert_eq!(got, 3, "loopback delivers the batch at once");
        for index in 0..3 {
            let payload = receive.payload(index);
            assert_eq!(payload.len(), index + 1);
            assert!(payload.iter().all(|&byte| usize::from(byte) == index + 1));
            receive.payload_mut(index)[0] |= 0x80;
        }
        assert_eq!(receive.send_back(&server), 3);

        let mut client_batch = RecvBatch::new(8, 64);
        let mut got = 0;
        while got < 3 {
            let count = client_batch.recv(&client, Wait::Block).unwrap();
            for index in 0..count {
                let payload = client_batch.payload(index);
                assert_eq!(payload[0] & 0x80, 0x80);
            }
            got += count;
        }
    }

    /// Receives until `count` datagrams came; returns their payloads.
    fn receive_all(socket: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut receive = RecvBatch::new(64, 256);
        let mut payloads = Vec::new();
        while payloads.len() < count {
            let got = receive.recv(socket, Wait::Block).unwrap();
            assert!(got > 0, "timed out after {} datagrams", payloads.len());
            payloads.extend((0..got).map(|index| receive.payload(index).to_vec()));
        }
        payloads
    }

    #[test]
    fn segment_control_is_laid_out_as_cmsg_space_of_a_u16() {
        // SAFETY: CMSG_LEN and CMSG_SPACE only compute sizes.
        let (length, space) = unsafe { (libc::CMSG_LEN(2), libc::CMSG_SPACE(2)) };
        assert_eq!(CONTROL_LENGTH, length as usize);
        assert_eq!(size_of::<SegmentControl>(), space as usize);
    }

    #[test]
    fn segmented_runs_arrive_as_the_same_datagrams_in_order() {
        let (server, client) = pair();
        // Sizes: a run of five, a single, a run of three, and a run longer than
        // MAX_SEGMENTS, so messages are split and merged every way.
        let mut sizes = vec![40, 40, 40, 40, 40, 17, 60, 60, 60];
        sizes.extend(std::iter::repeat_n(33, MAX_SEGMENTS + 5));
        let mut send = SendBatch::new(sizes.len(), 64);
        for (index, &size) in sizes.iter().enumerate() {
            let slot = send.slot_mut(index, size);
            slot.fill(0);
            slot[..2].copy_from_slice(&u16::try_from(index).unwrap().to_be_bytes());
        }
        let outcome = send.send(&client, sizes.len());
        assert_eq!(
            outcome,
            SendOutcome {
                sent: sizes.len(),
                error: None
            }
        );
        let payloads = receive_all(&server, sizes.len());
        for (index, payload) in payloads.iter().enumerate() {
            assert_eq!(payload.len(), sizes[index], "datagram {index}");
            assert_eq!(
                usize::from(u16::from_be_bytes([payload[0], payload[1]])),
                index
            );
        }
        assert!(send.segmenting(), "loopback takes segmented sends");
    }

    #[test]
    fn plain_sends_carry_the_same_datagrams() {
        let (server, client) = pair();
        let mut send = SendBatch::new(6, 64).without_segmentation();
        for index in 0..6 {
            send.slot_mut(index, 20).fill(u8::try_from(index).unwrap());
        }
        assert_eq!(send.send(&client, 6).sent, 6);
        let payloads = receive_all(&server, 6);
        for (index, payload) in payloads.iter().enumerate() {
            assert_eq!(payload, &vec![u8::try_from(index).unwrap(); 20]);
        }
        assert!(!send.segmenting());
    }

    #[test]
    fn no_wait_receive_on_an_empty_socket_is_zero() {
        let (server, _client) = pair();
        let mut receive = RecvBatch::new(2, 64);
        assert_eq!(receive.recv(&server, Wait::NoWait).unwrap(), 0);
    }

    #[test]
    fn poller_times_out_then_sees_input() {
        let (server, client) = pair();
        let mut poller = Poller::new(&[server.as_raw_fd()]);
        set_timer_slack(1);
        let start = Instant::now();
        assert_eq!(poller.wait(Duration::from_millis(20)).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(19));
        client.send(b"x").unwrap();
        assert_eq!(poller.wait(Duration::from_secs(5)).unwrap(), 1);
    }

    #[test]
    fn refused_port_is_an_error_not_a_hang() {
        let closed = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let target: SocketAddr = closed.local_addr().unwrap();
        drop(closed);
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect(target).unwrap();
        let mut send = SendBatch::new(1, 16);
        send.slot_mut(0, 4);
        let _ = send.send(&client, 1);
        std::thread::sleep(Duration::from_millis(20));
        let mut receive = RecvBatch::new(1, 16);
        // The ICMP error is reported once, then the socket is quiet again.
        let first = receive.recv(&client, Wait::NoWait);
        assert!(first.is_err() || first.unwrap() == 0);
        assert_eq!(receive.recv(&client, Wait::NoWait).unwrap(), 0);
    }
}
