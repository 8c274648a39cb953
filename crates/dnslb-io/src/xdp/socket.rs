//! An AF_XDP socket with its own UMEM: the frame memory shared with the
//! kernel and the four rings that pass frames back and forth.
//!
//! * fill: frames we give the kernel to receive into;
//! * receive: frames the kernel filled (address and length);
//! * transmit: frames we want sent;
//! * completion: frames the kernel has sent and gives back.
//!
//! A frame is always in exactly one place: a ring, the free list, or the hands
//! of the caller between [`XdpSocket::receive`] (or [`XdpSocket::allocate`])
//! and [`XdpSocket::transmit`] or [`XdpSocket::recycle`]. The socket keeps
//! each frame's owner in a byte per frame and checks it: reaching a frame
//! the kernel holds, or giving one back twice, panics instead of racing the
//! kernel, so the safe API cannot be misused into a data race. A responder hands a
//! received frame, with the reply written over it, straight to the transmit
//! ring; its completion puts it on the free list, and the next
//! [`XdpSocket::fill`] gives it to the kernel again.
//!
//! Everything is allocated in [`XdpSocket::new`]: receiving, transmitting,
//! completing and refilling only move indices and call `sendto` (the transmit
//! kick) or `recvfrom`/`poll` (waking the kernel, waiting).

use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Whether to ask the driver for zero-copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Zero-copy when the driver offers it, copy mode otherwise.
    Auto,
    /// Zero-copy or fail.
    On,
    /// Copy mode.
    Off,
}

/// Sizes of one socket's UMEM and rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketConfig {
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Entries per ring (a power of two); the UMEM holds twice as many
    /// frames: one ring's worth for receiving, one for sending.
    pub ring_size: u32,
    /// Zero-copy or copy mode.
    pub zero_copy: ZeroCopy,
}

/// Most `sendto` kicks per flush. Copy mode sends at most 32 frames per
/// kick; a second kick in a row mostly finds the device busy, and spinning
/// on it starves the softirq work that would free it.
const KICKS: u32 = 2;

/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, 6.17): frames one copy-mode
/// transmit kick may send.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// How long binding waits for a queue that a socket closed a moment ago
/// still holds.
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// A frame's owner: in a ring (fill, receive, transmit or completion).
const KERNEL: u8 = 0;
/// A frame's owner: on the free list.
const FREE: u8 = 1;
/// A frame's owner: the caller (received or allocated, not given back).
const CALLER: u8 = 2;

/// Where a received frame starts in its chunk: the kernel keeps
/// `XDP_PACKET_HEADROOM` (256) bytes in front of it.
pub const HEADROOM: u32 = 256;

/// A frame: its address in the UMEM and its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// Offset of the frame's first byte in the UMEM.
    pub addr: u64,
    /// Bytes of frame.
    pub len: u32,
}

/// The kernel's counters for one socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Frames dropped for other reasons (no room, ...).
    pub rx_dropped: u64,
    /// Received frames dropped because the receive ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    /// Invalid descriptors we put on the transmit ring.
    pub tx_invalid: u64,
}

/// A memory mapping, unmapped on drop.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn anonymous(len: usize) -> io::Result<Mapping> {
        Mapping::map(len, -1, 0, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
    }

    fn map(len: usize, fd: RawFd, offset: i64, flags: libc::c_int) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping at an address the kernel chooses; it aliases
        // nothing of ours. `fd`/`offset` name a ring of a socket we own (or -1
        // for anonymous memory).
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            base: NonNull::new(base.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; nothing borrows
        // the mapping past its owner's life.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// One of the four rings, mapped from the socket. `T` is `u64` (fill,
/// completion: frame addresses) or `libc::xdp_desc` (receive, transmit).
struct Ring<T> {
    _mapping: Mapping,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our copy of the index we own (producer for fill and transmit,
    /// consumer for receive and completion), ahead of the shared one until
    /// published.
    local: u32,
    /// The last value seen of the index the kernel owns.
    cached: u32,
}

impl<T: Copy> Ring<T> {
    fn map(fd: RawFd, size: u32, offsets: &libc::xdp_ring_offset, pgoff: i64) -> io::Result<Self> {
        let len = offsets.desc as usize + size as usize * size_of::<T>();
        let mapping = Mapping::map(len, fd, pgoff, libc::MAP_SHARED)?;
        let at = |offset: u64| {
            // SAFETY: the kernel's offsets are inside the `len` bytes it
            // mapped for this ring.
            NonNull::new(unsafe { mapping.base.as_ptr().add(offset as usize) })
                .expect("inside a mapping")
        };
        Ok(Ring {
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            flags: at(offsets.flags).cast(),
            descs: at(offsets.desc).cast(),
            _mapping: mapping,
            mask: size - 1,
            size,
            local: 0,
            cached: 0,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into our live mapping, aligned by the kernel; the
        // kernel and we access it only atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    fn write(&mut self, index: u32, value: T) {
        // SAFETY: `index & mask` < size, inside the descriptor array; the slot
        // is ours (between the consumer and our unpublished producer).
        unsafe {
            self.descs
                .as_ptr()
                .add((index & self.mask) as usize)
                .write(value)
        }
    }

    fn read(&self, index: u32) -> T {
        // SAFETY: `index & mask` < size; the slot was published by the kernel
        // (before its producer index, which we loaded with Acquire).
        unsafe { self.descs.as_ptr().add((index & self.mask) as usize).read() }
    }

    /// Producer side: free slots, refreshing the kernel's consumer index when
    /// fewer than `wanted` look free.
    fn free(&mut self, wanted: u32) -> u32 {
        let free = self.size - self.local.wrapping_sub(self.cached);
        if free >= wanted {
            return free;
        }
        self.cached = self.consumer().load(Ordering::Acquire);
        self.size - self.local.wrapping_sub(self.cached)
    }

    fn publish_producer(&self) {
        self.producer().store(self.local, Ordering::Release);
    }

    /// Consumer side: entries ready, refreshing the kernel's producer index
    /// when none are known.
    fn ready(&mut self) -> u32 {
        let ready = self.cached.wrapping_sub(self.local);
        if ready > 0 {
            return ready;
        }
        self.cached = self.producer().load(Ordering::Acquire);
        self.cached.wrapping_sub(self.local)
    }

    fn publish_consumer(&self) {
        self.consumer().store(self.local, Ordering::Release);
    }
}

/// An AF_XDP socket bound to one receive queue of one interface, with its
/// own UMEM.
pub struct XdpSocket {
    // Field order is drop order: the rings and the socket go before the
    // UMEM they refer to.
    fill: Ring<u64>,
    completion: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fd: OwnedFd,
    umem: Mapping,
    /// Chunk addresses not in any ring nor handed out; capacity for all.
    free: Vec<u64>,
    /// Who holds each frame (indexed by chunk): [`KERNEL`], [`FREE`] or
    /// [`CALLER`].
    owner: Vec<u8>,
    frame_size: u32,
    zero_copy: bool,
    /// Transmit descriptors written but not yet published and kicked.
    tx_unpublished: bool,
}

// SAFETY: the socket owns its mappings and descriptors outright; the raw
// pointers into them are used only through `&mut self` (or atomically), so
// moving the socket to another thread moves all access with it.
unsafe impl Send for XdpSocket {}

impl fmt::Debug for XdpSocket {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("XdpSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("frame_size", &self.frame_size)
            .field("frames", &(self.umem.len / self.frame_size as usize))
            .field("zero_copy", &self.zero_copy)
            .finish()
    }
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` of the size passed, the layout the kernel
    // expects for SOL_XDP option `name`.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt<T: Default>(fd: RawFd, name: libc::c_int) -> io::Result<T> {
    let mut value = T::default();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, a live `T`.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            name,
            ptr::from_mut(&mut value).cast(),
            &raw mut len,
        )
    };
    if result == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Which step of setting up a socket failed.
#[derive(Debug)]
pub struct SocketError {
    /// What was being done.
    pub step: &'static str,
    /// Why it failed.
    pub error: io::Error,
}

impl fmt::Display for SocketError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.step, self.error)
    }
}

impl std::error::Error for SocketError {}

fn step<T>(step: &'static str, result: io::Result<T>) -> Result<T, SocketError> {
    result.map_err(|error| SocketError { step, error })
}

impl XdpSocket {
    /// An AF_XDP socket bound to queue `queue` of interface `ifindex`, its
    /// UMEM registered and its rings mapped; the fill ring holds one ring's
    /// worth of frames and the free list the rest. With [`ZeroCopy::On`] a
    /// driver that refuses zero-copy is an error; with `Auto` it falls back to
    /// copy mode. A queue still held by a socket closed a moment ago
    /// (`EBUSY`) is tried again for up to [`BUSY_WAIT`]. Needs `CAP_NET_RAW`.
    pub fn new(ifindex: u32, queue: u32, config: SocketConfig) -> Result<XdpSocket, SocketError> {
        let frames = config.ring_size * 2;
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(SocketError {
                step: "creating the AF_XDP socket",
                error: io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        let umem_len = frames as usize * config.frame_size as usize;
        let umem = step("allocating the UMEM", Mapping::anonymous(umem_len))?;
        let register = libc::xdp_umem_reg {
            addr: umem.base.as_ptr() as u64,
            len: umem_len as u64,
            chunk_size: config.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        step(
            "registering the UMEM",
            setsockopt(raw, libc::XDP_UMEM_REG, &register),
        )?;
        let size = config.ring_size;
        for (name, option) in [
            ("sizing the fill ring", libc::XDP_UMEM_FILL_RING),
            ("sizing the completion ring", libc::XDP_UMEM_COMPLETION_RING),
            ("sizing the receive ring", libc::XDP_RX_RING),
            ("sizing the transmit ring", libc::XDP_TX_RING),
        ] {
            step(name, setsockopt(raw, option, &size))?;
        }
        let offsets: libc::xdp_mmap_offsets = step(
            "reading the ring offsets",
            getsockopt(raw, libc::XDP_MMAP_OFFSETS).map(|o: MmapOffsets| o.0),
        )?;
        let fill = step(
            "mapping the fill ring",
            Ring::map(
                raw,
                size,
                &offsets.fr,
                libc::XDP_UMEM_PGOFF_FILL_RING as i64,
            ),
        )?;
        let completion = step(
            "mapping the completion ring",
            Ring::map(
                raw,
                size,
                &offsets.cr,
                libc::XDP_UMEM_PGOFF_COMPLETION_RING as i64,
            ),
        )?;
        let rx = step(
            "mapping the receive ring",
            Ring::map(raw, size, &offsets.rx, libc::XDP_PGOFF_RX_RING),
        )?;
        let tx = step(
            "mapping the transmit ring",
            Ring::map(raw, size, &offsets.tx, libc::XDP_PGOFF_TX_RING),
        )?;
        let bind = |flags: u16| {
            let address = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: flags | libc::XDP_USE_NEED_WAKEUP,
                sxdp_ifindex: ifindex,
                sxdp_queue_id: queue,
                sxdp_shared_umem_fd: 0,
            };
            let started = std::time::Instant::now();
            loop {
                // SAFETY: `address` is a live sockaddr_xdp of the size passed.
                let result = unsafe {
                    libc::bind(
                        raw,
                        ptr::from_ref(&address).cast(),
                        size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                    )
                };
                if result == 0 {
                    return Ok(());
                }
                let error = io::Error::last_os_error();
                // The kernel lets go of a closed socket's queue a moment
                // after the close: a process started right after another
                // one on the same queue finds it busy for a while.
                if error.raw_os_error() != Some(libc::EBUSY) || started.elapsed() >= BUSY_WAIT {
                    return Err(error);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let zero_copy = match config.zero_copy {
            ZeroCopy::On => {
                step("binding with zero-copy", bind(libc::XDP_ZEROCOPY))?;
                true
            }
            ZeroCopy::Off => {
                step("binding in copy mode", bind(libc::XDP_COPY))?;
                false
            }
            // Neither flag: the kernel takes zero-copy when the driver
            // offers it and copy mode otherwise; XDP_OPTIONS says which.
            ZeroCopy::Auto => {
                step("binding", bind(0))?;
                let options: XdpOptions = step(
                    "reading the socket's options",
                    getsockopt(raw, libc::XDP_OPTIONS),
                )?;
                options.flags & libc::XDP_OPTIONS_ZEROCOPY != 0
            }
        };
        let mut socket = XdpSocket {
            fill,
            completion,
            rx,
            tx,
            fd,
            umem,
            free: Vec::with_capacity(frames as usize),
            owner: vec![FREE; frames as usize],
            frame_size: config.frame_size,
            zero_copy,
            tx_unpublished: false,
        };
        // Highest addresses first on the free list, so the fill ring gets the
        // low half in order.
        for frame in (0..u64::from(frames)).rev() {
            socket.free.push(frame * u64::from(config.frame_size));
        }
        socket.fill(size as usize);
        Ok(socket)
    }

    /// Lets one transmit kick in copy mode send up to `frames` frames
    /// (`XDP_MAX_TX_SKB_BUDGET`, Linux 6.17 and later) instead of the kernel's
    /// default 32, after which [`kick`](Self::kick) fails with `EAGAIN` and
    /// the rest waits for the next one. The kernel takes 32 up to the transmit
    /// ring's size (`EACCES` otherwise); an older kernel answers
    /// `ENOPROTOOPT`. Zero-copy drivers do not use it.
    pub fn set_tx_budget(&self, frames: u32) -> io::Result<()> {
        setsockopt(self.fd.as_raw_fd(), XDP_MAX_TX_SKB_BUDGET, &frames)
    }

    /// Whether the socket runs in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes up to `descs.len()` received frames; returns how many. Each must
    /// later go to [`transmit`](Self::transmit) or [`recycle`](Self::recycle).
    #[inline]
    pub fn receive(&mut self, descs: &mut [Desc]) -> usize {
        let ready = self.rx.ready() as usize;
        let count = ready.min(descs.len());
        for desc in descs.iter_mut().take(count) {
            let entry = self.rx.read(self.rx.local);
            self.rx.local = self.rx.local.wrapping_add(1);
            let chunk = self.chunk(entry.addr);
            self.owner[chunk] = CALLER;
            *desc = Desc {
                addr: entry.addr,
                len: entry.len,
            };
        }
        if count > 0 {
            self.rx.publish_consumer();
        }
        count
    }

    /// The chunk index of a frame address; panics outside the UMEM.
    #[inline]
    fn chunk(&self, addr: u64) -> usize {
        let chunk = (addr / u64::from(self.frame_size)) as usize;
        assert!(chunk < self.owner.len(), "frame address outside the UMEM");
        chunk
    }

    /// Takes a frame from the caller; panics unless the caller holds it.
    #[inline]
    fn take_back(&mut self, addr: u64, to: u8) -> usize {
        let chunk = self.chunk(addr);
        assert_eq!(
            self.owner[chunk], CALLER,
            "a frame the caller does not hold"
        );
        self.owner[chunk] = to;
        chunk
    }

    /// The frame at `addr` and the rest of its chunk after it, to read and
    /// write in place. Panics unless the frame is the caller's (received or
    /// allocated, not yet given back).
    #[inline]
    pub fn frame_mut(&mut self, addr: u64) -> &mut [u8] {
        let chunk = self.chunk(addr);
        assert_eq!(
            self.owner[chunk], CALLER,
            "a frame the caller does not hold"
        );
        let end = (chunk as u64 + 1) * u64::from(self.frame_size);
        // SAFETY: [addr, end) lies inside the UMEM mapping (the chunk index
        // was checked against the frame count, and the UMEM is frame count
        // chunks long). The frame is the caller's (checked above): the kernel
        // neither reads nor writes it until it is transmitted or recycled,
        // and `&mut self` keeps any other slice of the UMEM from being alive
        // at the same time.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.umem.base.as_ptr().add(addr as usize),
                (end - addr) as usize,
            )
        }
    }

    /// Reads one byte of each of `descs`' frames (received, the caller's):
    /// the kernel wrote them on another CPU, and loads issued together wait
    /// for those cache lines together rather than one frame at a time.
    #[inline]
    pub fn touch(&mut self, descs: &[Desc]) {
        let mut sum = 0u8;
        for desc in descs {
            sum ^= self.frame_mut(desc.addr)[0];
        }
        std::hint::black_box(sum);
    }

    /// Queues the first `len` bytes at `addr` for sending (published by
    /// [`flush`](Self::flush)). When the transmit ring is full the frame goes
    /// back to the free list and this returns `false`.
    #[inline]
    pub fn transmit(&mut self, addr: u64, len: u32) -> bool {
        if self.tx.free(1) == 0 {
            self.recycle(addr);
            return false;
        }
        self.take_back(addr, KERNEL);
        self.tx.write(
            self.tx.local,
            libc::xdp_desc {
                addr,
                len,
                options: 0,
            },
        );
        self.tx.local = self.tx.local.wrapping_add(1);
        self.tx_unpublished = true;
        true
    }

    /// Gives a frame back (not sent: dropped, or not ours).
    #[inline]
    pub fn recycle(&mut self, addr: u64) {
        let chunk = self.take_back(addr, FREE);
        self.free.push(chunk as u64 * u64::from(self.frame_size));
    }

    /// A free frame to build a datagram in, at its chunk's start plus
    /// [`HEADROOM`]; `None` when every frame is in use.
    #[inline]
    pub fn allocate(&mut self) -> Option<u64> {
        let chunk = self.free.pop()?;
        let index = self.chunk(chunk);
        self.owner[index] = CALLER;
        Some(chunk + u64::from(HEADROOM))
    }

    /// Publishes the queued transmit descriptors and kicks the kernel to send
    /// them (copy mode sends only inside `sendto`, at most 32 frames per
    /// call: flush batches of up to 32 frames). Kicks again, up to [`KICKS`]
    /// times, while the kernel says `EAGAIN` and frames are left. Returns
    /// `false` when the kernel could not take them all now: the rest stay
    /// queued for the next flush.
    #[inline]
    pub fn flush(&mut self) -> bool {
        if self.tx_unpublished {
            self.tx.publish_producer();
            self.tx_unpublished = false;
        } else {
            // Nothing new: kick only for frames an earlier flush left.
            self.tx.cached = self.tx.consumer().load(Ordering::Acquire);
            if self.tx.cached == self.tx.local {
                return true;
            }
        }
        if self.zero_copy && !self.tx.needs_wakeup() {
            return true;
        }
        for _ in 0..KICKS {
            match self.send_queued() {
                Ok(()) => return true,
                Err(libc::EAGAIN) => {
                    // More left than one call sends; the consumer index
                    // says whether anything is still queued.
                    self.tx.cached = self.tx.consumer().load(Ordering::Acquire);
                    if self.tx.cached == self.tx.local {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// `sendto` with no data: the kernel sends what the transmit ring holds
    /// (up to its budget). Returns `false` when it could not send everything
    /// (`EAGAIN`: more than the budget, or the device is busy; `ENOBUFS`):
    /// kick again later.
    pub fn kick(&self) -> bool {
        self.send_queued().is_ok()
    }

    /// The kick, with the `errno` it failed with.
    fn send_queued(&self) -> Result<(), i32> {
        // SAFETY: a zero-length send on our own socket; no buffer is read.
        let result = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        if result >= 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    /// Moves sent frames from the completion ring to the free list; returns
    /// how many.
    #[inline]
    pub fn complete(&mut self) -> usize {
        let ready = self.completion.ready();
        for _ in 0..ready {
            let addr = self.completion.read(self.completion.local);
            self.completion.local = self.completion.local.wrapping_add(1);
            let chunk = self.chunk(addr);
            debug_assert_eq!(self.owner[chunk], KERNEL);
            self.owner[chunk] = FREE;
            self.free.push(chunk as u64 * u64::from(self.frame_size));
        }
        if ready > 0 {
            self.completion.publish_consumer();
        }
        ready as usize
    }

    /// Gives up to `max` free frames to the kernel to receive into; returns
    /// how many.
    #[inline]
    pub fn fill(&mut self, max: usize) -> usize {
        let wanted = max.min(self.free.len());
        if wanted == 0 {
            return 0;
        }
        let free = self.fill.free(u32::try_from(wanted).unwrap_or(u32::MAX)) as usize;
        let count = free.min(wanted);
        for _ in 0..count {
            let chunk = self.free.pop().expect("counted above");
            let index = self.chunk(chunk);
            self.owner[index] = KERNEL;
            self.fill.write(self.fill.local, chunk);
            self.fill.local = self.fill.local.wrapping_add(1);
        }
        if count > 0 {
            self.fill.publish_producer();
        }
        count
    }

    /// Whether the kernel asks to be woken to go on receiving (a zero-copy
    /// driver that stopped for an empty fill ring).
    #[inline]
    pub fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// Wakes the kernel's receive side without waiting (`recvfrom`,
    /// non-blocking).
    pub fn wake(&self) {
        // SAFETY: a zero-length non-blocking receive on our own socket; no
        // buffer is written.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
                ptr::null_mut(),
            );
        }
    }

    /// Waits up to `timeout` for received frames; returns whether there are
    /// some. Fails when the socket reports an error (its interface is gone).
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.rx.ready() > 0 {
            return Ok(true);
        }
        let mut fds = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one initialized pollfd on the stack.
        let result = unsafe { libc::poll(fds.as_mut_ptr(), 1, millis) };
        if result < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(error);
        }
        // A socket whose interface went away reports an error at once, every
        // time: say so rather than let the caller spin.
        if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the AF_XDP socket reports an error (its interface or queue went away?)",
            ));
        }
        Ok(self.rx.ready() > 0)
    }

    /// The kernel's counters for this socket.
    pub fn statistics(&self) -> io::Result<Statistics> {
        statistics(self.fd.as_raw_fd())
    }

    /// A second descriptor for the same socket, for reading its statistics
    /// from another thread.
    pub fn statistics_reader(&self) -> io::Result<StatisticsReader> {
        Ok(StatisticsReader {
            fd: self.fd.try_clone()?,
        })
    }
}

impl AsRawFd for XdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Reads an AF_XDP socket's kernel counters from any thread.
#[derive(Debug)]
pub struct StatisticsReader {
    fd: OwnedFd,
}

impl StatisticsReader {
    /// The kernel's counters for the socket.
    pub fn read(&self) -> io::Result<Statistics> {
        statistics(self.fd.as_raw_fd())
    }
}

fn statistics(fd: RawFd) -> io::Result<Statistics> {
    let raw: RawStatistics = getsockopt(fd, libc::XDP_STATISTICS)?;
    let raw = raw.0;
    Ok(Statistics {
        rx_dropped: raw.rx_dropped,
        rx_ring_full: raw.rx_ring_full,
        rx_fill_ring_empty: raw.rx_fill_ring_empty_descs,
        tx_invalid: raw.tx_invalid_descs,
    })
}

/// `XDP_OPTIONS`: what the bound socket got (zero-copy or not).
#[repr(C)]
#[derive(Default)]
struct XdpOptions {
    flags: u32,
}

/// `libc::xdp_mmap_offsets` with a `Default`.
#[repr(transparent)]
struct MmapOffsets(libc::xdp_mmap_offsets);

impl Default for MmapOffsets {
    fn default() -> Self {
        // SAFETY: plain integers; all-zero is a valid value.
        MmapOffsets(unsafe { std::mem::zeroed() })
    }
}

/// `libc::xdp_statistics` with a `Default`.
#[repr(transparent)]
struct RawStatistics(libc::xdp_statistics);

impl Default for RawStatistics {
    fn default() -> Self {
        // SAFETY: plain integers; all-zero is a valid value.
        RawStatistics(unsafe { std::mem::zeroed() })
    }
}

/// Sockets on queue 0 of the loopback interface. Needs root: skipped, loudly,
/// otherwise.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::xdp::iface;

    #[test]
    fn the_transmit_budget_is_bounded_by_the_ring() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: the AF_XDP socket test needs root; not run");
            return;
        }
        let _queue = crate::xdp::LOOPBACK_QUEUE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = SocketConfig {
            frame_size: 2048,
            ring_size: 64,
            zero_copy: ZeroCopy::Off,
        };
        let socket = XdpSocket::new(iface::index("lo").unwrap(), 0, config).unwrap();
        assert!(!socket.zero_copy());
        assert_eq!(
            socket.free_frames(),
            64,
            "one ring's worth is in the fill ring"
        );
        match socket.set_tx_budget(64) {
            Err(error) if error.raw_os_error() == Some(libc::ENOPROTOOPT) => {
                eprintln!("SKIPPED: this kernel has no XDP_MAX_TX_SKB_BUDGET (before 6.17)");
                return;
            }
            result => result.unwrap(),
        }
        socket.set_tx_budget(32).unwrap();
        for out_of_bounds in [16, 65] {
            let error = socket.set_tx_budget(out_of_bounds).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::EACCES), "{out_of_bounds}");
        }
    }
}
