//! Sending staged datagrams on a connected socket with one `sendmmsg(2)`, runs of
//! equal-sized datagrams merged into one UDP GSO message (`UDP_SEGMENT`): the
//! generator's send path.
//!
//! A [`SendBatch`] owns every buffer the kernel reads (payload bytes, `iovec`s,
//! `mmsghdr`s, the segment-size control messages), allocated once in
//! [`SendBatch::new`] and never resized, so sending allocates nothing and the heap
//! buffers never move. The pointers stored in `iovec`s and `mmsghdr`s are
//! re-derived from the owning `Vec`s right before each syscall, so no Rust
//! reference to the same memory is live while the kernel uses it; between calls
//! they are stale and never dereferenced.

use std::fmt;
use std::io;
use std::mem;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::ptr;

/// What [`SendBatch::send`] did: how far it got, and what stopped it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendProgress {
    /// Datagrams the kernel accepted; they were the first `sent` of the batch.
    pub sent: usize,
    /// The error that stopped the batch early, other than "would block" (which
    /// just stops it: the socket buffer is full).
    pub error: Option<io::ErrorKind>,
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
    /// When `capacity` is zero or `capacity * slot_size` overflows `usize`.
    pub fn new(capacity: usize, slot_size: usize) -> SendBatch {
        assert!(capacity > 0, "a SendBatch needs at least one slot");
        let total = capacity
            .checked_mul(slot_size)
            .expect("capacity * slot_size overflows usize");
        // SAFETY: these are plain C structs of integers, byte arrays and raw
        // pointers, for which all-zero bytes are a valid value (null pointers, zero
        // lengths).
        let (header, iovec, control) = unsafe {
            (
                mem::zeroed::<libc::mmsghdr>(),
                mem::zeroed::<libc::iovec>(),
                mem::zeroed::<SegmentControl>(),
            )
        };
        SendBatch {
            slot_size,
            buffers: vec![0; total],
            lengths: vec![0; capacity],
            iovecs: vec![iovec; capacity],
            headers: vec![header; capacity],
            controls: vec![control; capacity],
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
    pub fn send(&mut self, socket: &UdpSocket, count: usize) -> SendProgress {
        assert!(count <= self.capacity(), "more datagrams than slots");
        if count == 0 {
            return SendProgress::default();
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
    fn send_messages(&mut self, socket: &UdpSocket, count: usize, segment: bool) -> SendProgress {
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
            Ok(sent_messages) => SendProgress {
                sent: self.carried[..sent_messages.min(messages)].iter().sum(),
                error: None,
            },
            Err(_) => {
                let error = io::Error::last_os_error();
                SendProgress {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ReceiveBatch, UdpBatch, Wait};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    /// A server socket and a client socket connected to it, both with read timeouts.
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

    /// The generator's round trip: a send batch out, a reflector's `UdpBatch`
    /// answering each datagram with a marked copy, a receive batch back.
    #[test]
    fn send_batch_reflect_and_receive_batch() {
        let (server, client) = pair();
        let mut send = SendBatch::new(4, 64);
        for index in 0..3 {
            let slot = send.slot_mut(index, index + 1);
            slot.fill(u8::try_from(index).unwrap() + 1);
        }
        assert_eq!(send.send(&client, 3).sent, 3);

        let mut reflect = UdpBatch::new(8, 64, 64);
        let mut got = 0;
        while got < 3 {
            got += reflect.recv(&server, Wait::Block).unwrap();
            assert!(got > 0);
        }
        assert_eq!(got, 3, "loopback delivers the batch at once");
        for index in 0..3 {
            let (query, reply) = reflect.slot_mut(index);
            assert_eq!(query.len(), index + 1);
            assert!(query.iter().all(|&byte| usize::from(byte) == index + 1));
            reply[..query.len()].copy_from_slice(query);
            reply[0] |= 0x80;
            reflect.queue_reply(index, index + 1);
        }
        assert_eq!(reflect.send(&server).sent, 3);

        let mut receive = ReceiveBatch::new(8, 64);
        let mut lengths = Vec::new();
        while lengths.len() < 3 {
            let count = receive.recv(&client, Wait::Block).unwrap();
            assert!(count > 0, "timed out");
            for index in 0..count {
                let payload = receive.payload(index);
                assert_eq!(payload[0] & 0x80, 0x80);
                assert_eq!(receive.datagram(index).peer, server.local_addr().unwrap());
                lengths.push(payload.len());
            }
        }
        assert_eq!(lengths, [1, 2, 3]);
        assert_eq!(receive.recv(&client, Wait::NoWait).unwrap(), 0);
    }

    /// Receives until `count` datagrams came; returns their payloads.
    fn receive_all(socket: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut receive = ReceiveBatch::new(64, 256);
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
            SendProgress {
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
        let mut receive = ReceiveBatch::new(1, 16);
        // The ICMP error is reported once, then the socket is quiet again.
        let first = receive.recv(&client, Wait::NoWait);
        assert!(first.is_err() || first.unwrap() == 0);
        assert_eq!(receive.recv(&client, Wait::NoWait).unwrap(), 0);
    }
}
