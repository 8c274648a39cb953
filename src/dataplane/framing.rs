//! DNS over TCP framing (RFC 1035 section 4.2.2, RFC 7766 section 8): each
//! message is preceded by its length as two bytes in network order.
//!
//! A pure state machine, no sockets and no clock: the TCP thread pushes
//! whatever bytes a read returned, in any chunking, and takes out complete
//! frames in order. The frames come out the same however the stream was cut
//! into chunks (the fuzz target `tcp_stream` checks exactly that).
//!
//! The one protocol error at this layer is a frame too short to hold a DNS
//! header: no query fits in it, so the connection is closed (RFC 7766 lets a
//! server close a connection that sends garbage). Everything else about the
//! message is the handler's business.
//!
//! Invariant: the buffer holds at most one incomplete frame (at most
//! 2 + 65535 bytes) beyond the complete frames not yet taken out plus the
//! last chunk pushed, so its size is bounded by how much the caller pushes
//! before taking frames out.

use crate::wire::HEADER_LEN;

/// Length of the frame's length prefix.
pub const LENGTH_PREFIX: usize = 2;

/// A frame the connection must be closed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announced fewer bytes than a DNS header.
    ShortFrame {
        /// The announced length.
        length: u16,
    },
}

/// Reassembles length-prefixed frames from a byte stream.
#[derive(Debug, Default)]
pub struct Framer {
    /// Received bytes; those before `start` were already taken out.
    buffer: Vec<u8>,
    start: usize,
    /// A protocol error was returned; nothing more comes out.
    failed: bool,
}

impl Framer {
    /// An empty framer with room for `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Framer {
        Framer {
            buffer: Vec::with_capacity(capacity),
            start: 0,
            failed: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame's message (without its length prefix), a
    /// protocol error (after which only `None` follows), or `None` when no
    /// complete frame is buffered.
    pub fn next_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        if self.failed {
            return None;
        }
        let pending = &self.buffer[self.start..];
        if pending.len() < LENGTH_PREFIX {
            return None;
        }
        let length = u16::from_be_bytes([pending[0], pending[1]]);
        let size = usize::from(length);
        if size < HEADER_LEN {
            self.failed = true;
            return Some(Err(FrameError::ShortFrame { length }));
        }
        if pending.len() < LENGTH_PREFIX + size {
            return None;
        }
        let begin = self.start + LENGTH_PREFIX;
        self.start = begin + size;
        Some(Ok(&self.buffer[begin..begin + size]))
    }

    /// Bytes received and not yet taken out as frames.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Whether a protocol error was returned.
    pub fn has_failed(&self) -> bool {
        self.failed
    }
}

/// Frames `message` for sending: its length, then the message. `message` is
/// at most 65535 bytes (any DNS message is).
pub fn frame_into(message: &[u8], out: &mut Vec<u8>) {
    let length = u16::try_from(message.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&message[..usize::from(length)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12-byte "message" whose first two bytes are `id`.
    fn message(id: u16) -> Vec<u8> {
        let mut message = id.to_be_bytes().to_vec();
        message.extend_from_slice(&[0; 10]);
        message
    }

    fn frames(framer: &mut Framer) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| framer.next_frame().map(|frame| frame.map(<[u8]>::to_vec))).collect()
    }

    #[test]
    fn one_frame_in_one_push() {
        let mut framer = Framer::default();
        framer.push(&[0, 12, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(frames(&mut framer), [Ok(message(0xabcd))]);
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn frame_split_byte_by_byte() {
        let mut framer = Framer::default();
        let mut stream = vec![0, 12];
        stream.extend_from_slice(&message(7));
        for (index, byte) in stream.iter().enumerate() {
            assert_eq!(frames(&mut framer), [], "nothing before byte {index}");
            framer.push(&[*byte]);
        }
        assert_eq!(frames(&mut framer), [Ok(message(7))]);
    }

    #[test]
    fn pipelined_frames_come_out_in_order() {
        let mut framer = Framer::default();
        let mut stream = Vec::new();
        for id in 1..=3 {
            frame_into(&message(id), &mut stream);
        }
        // The third frame's last byte arrives later.
        framer.push(&stream[..stream.len() - 1]);
        assert_eq!(frames(&mut framer), [Ok(message(1)), Ok(message(2))]);
        assert_eq!(framer.buffered(), 13);
        framer.push(&stream[stream.len() - 1..]);
        assert_eq!(frames(&mut framer), [Ok(message(3))]);
    }

    #[test]
    fn longest_frame_is_accepted() {
        let mut framer = Framer::default();
        let mut stream = vec![0xff, 0xff];
        stream.resize(2 + 65535, 0);
        framer.push(&stream[..40_000]);
        assert_eq!(frames(&mut framer), []);
        framer.push(&stream[40_000..]);
        let out = frames(&mut framer);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().map(Vec::len), Ok(65535));
    }

    #[test]
    fn frame_shorter_than_a_header_is_an_error_and_the_end() {
        let mut framer = Framer::default();
        let mut stream = Vec::new();
        frame_into(&message(1), &mut stream);
        stream.extend_from_slice(&[0, 4, 1, 2, 3, 4]);
        frame_into(&message(2), &mut stream);
        framer.push(&stream);
        assert_eq!(
            frames(&mut framer),
            [Ok(message(1)), Err(FrameError::ShortFrame { length: 4 })]
        );
        assert!(framer.has_failed());
        framer.push(&stream);
        assert_eq!(frames(&mut framer), []);
    }

    #[test]
    fn zero_length_frame_is_an_error_as_soon_as_its_prefix_is_in() {
        let mut framer = Framer::default();
        framer.push(&[0]);
        assert_eq!(frames(&mut framer), []);
        framer.push(&[0]);
        assert_eq!(
            frames(&mut framer),
            [Err(FrameError::ShortFrame { length: 0 })]
        );
    }

    #[test]
    fn frame_into_prefixes_the_length() {
        let mut out = vec![9];
        frame_into(&[1, 2, 3], &mut out);
        assert_eq!(out, [9, 0, 3, 1, 2, 3]);
    }
}
