//! Telling systemd (or any service manager speaking its protocol) how the
//! server is doing: one datagram per message to the unix socket named by
//! `$NOTIFY_SOCKET`, as `sd_notify(3)` does, without linking libsystemd.
//!
//! `$NOTIFY_SOCKET` is a filesystem path (`/run/systemd/notify`) or, when it
//! starts with `@`, a name in the abstract namespace. Without it (not under
//! systemd, or a unit that is not `Type=notify`) [`Notifier::from_environment`]
//! gives `None` and nothing is sent. The messages are newline-separated
//! `KEY=VALUE` assignments: `READY=1` once every socket is bound and the
//! first snapshot is published, `RELOADING=1` (with `MONOTONIC_USEC=`) then
//! `READY=1` around a reload, `STOPPING=1` on shutdown, `STATUS=` text for
//! `systemctl status`.
//!
//! Sending never blocks the server for long and a failure is reported to the
//! caller, which logs it: the service manager being gone must not stop DNS.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable naming the service manager's socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// A connection-less socket aimed at the service manager.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for; `None` when it is unset or
    /// empty; an error when it names no valid socket address.
    pub fn from_environment() -> io::Result<Option<Notifier>> {
        match std::env::var_os(NOTIFY_SOCKET) {
            Some(value) if !value.is_empty() => {
                let value = value.into_string().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is not UTF-8")
                })?;
                Notifier::new(&value).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// A notifier for `target`: a socket path, or `@name` for an abstract
    /// socket.
    pub fn new(target: &str) -> io::Result<Notifier> {
        let address = match target.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None => SocketAddr::from_pathname(target)?,
        };
        let socket = UnixDatagram::unbound()?;
        // A full queue on the manager's side drops the message rather than
        // stall the thread that sends it.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, address })
    }

    /// Sends `message` (newline-separated `KEY=VALUE` lines) as one datagram.
    pub fn send(&self, message: &str) -> io::Result<()> {
        let sent = self
            .socket
            .send_to_addr(message.as_bytes(), &self.address)?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the notification was cut short",
            ));
        }
        Ok(())
    }

    /// Serving: `READY=1` with our pid and a status line.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&format!(
            "READY=1\nMAINPID={}\nSTATUS={}",
            std::process::id(),
            one_line(status)
        ))
    }

    /// A reload begins: `RELOADING=1` with the monotonic clock in
    /// microseconds, as systemd's reload protocol asks. [`Notifier::ready`]
    /// ends it.
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            crate::sys::clock::monotonic_micros()
        ))
    }

    /// Shutting down: `STOPPING=1`.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1\nSTATUS=shutting down")
    }
}

/// `text` with line breaks replaced: a status is one assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 1024];
        let length = socket.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier::new(path.to_str().unwrap()).unwrap();
        notifier.ready("serving 2 zones\nand more").unwrap();
        assert_eq!(
            receive(&listener),
            format!(
                "READY=1\nMAINPID={}\nSTATUS=serving 2 zones and more",
                std::process::id()
            )
        );
        notifier.reloading().unwrap();
        let reloading = receive(&listener);
        let lines: Vec<&str> = reloading.lines().collect();
        assert_eq!(lines[0], "RELOADING=1");
        let micros: u64 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(micros > 0);
        notifier.stopping().unwrap();
        assert_eq!(receive(&listener), "STOPPING=1\nSTATUS=shutting down");
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        let name = format!("dnslb-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier::new(&format!("@{name}")).unwrap();
        notifier.stopping().unwrap();
        assert_eq!(receive(&listener), "STOPPING=1\nSTATUS=shutting down");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::new(dir.path().join("absent").to_str().unwrap()).unwrap();
        assert!(notifier.ready("serving").is_err());
    }
}
