//! The whole AF_XDP set-up of one interface, as the server and the
//! generator both do it: load the filter, make one socket per receive queue,
//! put each in the filter's map, and attach the filter (in the driver, or in
//! the generic path when the driver has no XDP).
//!
//! On any error everything made so far is dropped: the program is attached
//! last, through a link, so a failure never leaves anything attached.

use std::fmt;
use std::io;

use super::bpf::{AttachMode, Link, Program, Rule};
use super::socket::{SocketConfig, SocketError, XdpSocket, ZeroCopy};

/// Which step of [`Attachment::new`] failed, and why.
#[derive(Debug)]
pub enum AttachError {
    /// Loading the filter program (or creating its map).
    Load(io::Error),
    /// Making the socket of a queue.
    Socket { queue: u32, error: SocketError },
    /// Putting a queue's socket in the map.
    Register { queue: u32, error: io::Error },
    /// Attaching the program to the interface.
    Attach(io::Error),
}

impl AttachError {
    /// The operating system's error underneath.
    pub fn io_error(&self) -> &io::Error {
        match self {
            AttachError::Load(error)
            | AttachError::Register { error, .. }
            | AttachError::Attach(error) => error,
            AttachError::Socket { error, .. } => &error.error,
        }
    }

    /// Whether it failed for lack of a privilege (`EPERM`, `EACCES`).
    pub fn is_privilege(&self) -> bool {
        matches!(
            self.io_error().raw_os_error(),
            Some(libc::EPERM | libc::EACCES)
        )
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Load(error) => {
                write!(formatter, "cannot load the filter program: {error}")
            }
            AttachError::Socket { queue, error } => write!(formatter, "queue {queue}: {error}"),
            AttachError::Register { queue, error } => {
                write!(formatter, "queue {queue}: registering the socket: {error}")
            }
            AttachError::Attach(error) => {
                write!(formatter, "cannot attach the filter program: {error}")
            }
        }
    }
}

impl std::error::Error for AttachError {}

/// The filter attached to an interface, with one socket per queue.
pub struct Attachment {
    /// Each queue's socket, in the order asked for; taken by the workers.
    pub sockets: Vec<(u32, XdpSocket)>,
    // Drop order: the link (detaching) before the program and its map.
    link: Link,
    program: Program,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Attachment")
            .field("sockets", &self.sockets.len())
            .field("link", &self.link)
            .field("program", &self.program)
            .finish()
    }
}

impl Attachment {
    /// Sets up AF_XDP on interface `ifindex` for `queues`, steering the UDP
    /// that `rules` match. Tries the driver's hook first; a driver without
    /// XDP (`EOPNOTSUPP`) gets the generic one, unless zero-copy was asked
    /// for.
    pub fn new(
        ifindex: u32,
        queues: &[u32],
        rules: &[Rule],
        config: SocketConfig,
    ) -> Result<Attachment, AttachError> {
        let map_size = queues.iter().max().map_or(1, |&queue| queue + 1);
        let program = Program::load(rules, map_size).map_err(AttachError::Load)?;
        let mut sockets = Vec::with_capacity(queues.len());
        for &queue in queues {
            let socket = XdpSocket::new(ifindex, queue, config)
                .map_err(|error| AttachError::Socket { queue, error })?;
            program
                .register(queue, &socket)
                .map_err(|error| AttachError::Register { queue, error })?;
            sockets.push((queue, socket));
        }
        let link = match program.attach(ifindex, AttachMode::Driver) {
            Ok(link) => link,
            Err(error)
                if error.raw_os_error() == Some(libc::EOPNOTSUPP)
                    && config.zero_copy != ZeroCopy::On =>
            {
                program
                    .attach(ifindex, AttachMode::Generic)
                    .map_err(AttachError::Attach)?
            }
            Err(error) => return Err(AttachError::Attach(error)),
        };
        Ok(Attachment {
            sockets,
            link,
            program,
        })
    }

    /// Where the program runs: in the driver or generic.
    pub fn mode(&self) -> AttachMode {
        self.link.mode()
    }

    /// Whether every socket runs in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.sockets.iter().all(|(_, socket)| socket.zero_copy())
    }

    /// How many instructions the filter has.
    pub fn instructions(&self) -> usize {
        self.program.instructions()
    }

    /// Hands the sockets to their workers, keeping the program attached
    /// until the returned [`Attached`] is dropped.
    pub fn split(self) -> (Vec<(u32, XdpSocket)>, Attached) {
        (
            self.sockets,
            Attached {
                _link: self.link,
                _program: self.program,
            },
        )
    }
}

/// The attached program without its sockets: dropping it detaches.
pub struct Attached {
    _link: Link,
    _program: Program,
}

impl fmt::Debug for Attached {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Attached").finish_non_exhaustive()
    }
}
