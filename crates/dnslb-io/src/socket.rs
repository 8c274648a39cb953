//! Creating sockets with the options the batches rely on.
//!
//! * UDP, bound ([`bind_udp`]): optional `SO_REUSEPORT` (one socket per worker on
//!   the same address, the kernel spreads flows across them), buffer sizes, a read
//!   timeout, `IPV6_V6ONLY` on IPv6 so `[::]:53` and `0.0.0.0:53` can both be
//!   bound, and packet info (`IP_PKTINFO` / `IPV6_RECVPKTINFO`) on wildcard
//!   addresses so [`crate::batch::UdpBatch`] can answer from the address each query
//!   was sent to.
//! * UDP, connected ([`connect_udp`]): the generator's sockets, each its own
//!   4-tuple from an ephemeral port, with the same buffer and timeout options.
//! * TCP: a non-blocking listener with `SO_REUSEADDR`, `SO_REUSEPORT` and
//!   `IPV6_V6ONLY`.
//!
//! Every socket is created close-on-exec (socket2 does that on Linux). Options are
//! set before `bind`, so a socket is never reachable without them.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of the TCP listen queue.
const TCP_BACKLOG: i32 = 1024;

/// Options for the UDP socket of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpOptions {
    /// Set `SO_REUSEPORT`, so each worker can bind its own socket to the same address.
    pub reuse_port: bool,
    /// Wanted `SO_RCVBUF` in bytes; best effort (a refusal is ignored, the kernel
    /// may clamp it to `net.core.rmem_max`).
    pub recv_buffer: Option<usize>,
    /// Wanted `SO_SNDBUF` in bytes; best effort, like `recv_buffer`.
    pub send_buffer: Option<usize>,
    /// `SO_RCVTIMEO`, so a blocking receive wakes up now and then (to check for
    /// shutdown). `None` blocks without limit. Must not be zero.
    pub read_timeout: Option<Duration>,
}

/// Binds a UDP socket to `address` and returns it in blocking mode.
///
/// Sets `SO_REUSEPORT` when `options.reuse_port`, `IPV6_V6ONLY` on IPv6 addresses
/// (so `[::]:port` and `0.0.0.0:port` coexist), the buffer sizes (best effort) and
/// the read timeout, and, when the address is unspecified (`0.0.0.0` or `::`),
/// enables `IP_PKTINFO` / `IPV6_RECVPKTINFO` so replies can leave from the address
/// the query came to. `SO_REUSEADDR` is not set.
///
/// # Errors
///
/// Any error from creating, configuring or binding the socket; `InvalidInput` when
/// `options.read_timeout` is `Some(Duration::ZERO)`.
pub fn bind_udp(address: SocketAddr, options: &UdpOptions) -> io::Result<UdpSocket> {
    let socket = udp_socket(address, options)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if address.ip().is_unspecified() {
        match address {
            SocketAddr::V4(_) => enable_option(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO)?,
            SocketAddr::V6(_) => {
                enable_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
            }
        }
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Creates a UDP socket and connects it to `server` from an ephemeral port (the
/// kernel picks the local address and port), in blocking mode.
///
/// Applies `options` as [`bind_udp`] does: `SO_REUSEPORT` when asked, the buffer
/// sizes (best effort) and the read timeout. No packet info: a connected socket
/// only hears from `server`.
///
/// # Errors
///
/// Any error from creating, configuring or connecting the socket; `InvalidInput`
/// when `options.read_timeout` is `Some(Duration::ZERO)`.
pub fn connect_udp(server: SocketAddr, options: &UdpOptions) -> io::Result<UdpSocket> {
    let socket = udp_socket(server, options)?;
    socket.connect(&server.into())?;
    Ok(socket.into())
}

/// A UDP socket for `address`'s family with `options` applied: the part of
/// [`bind_udp`] and [`connect_udp`] that comes before binding or connecting.
fn udp_socket(address: SocketAddr, options: &UdpOptions) -> io::Result<Socket> {
    if options.read_timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero read timeout is not allowed",
        ));
    }
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let Some(size) = options.recv_buffer {
        // Best effort: the kernel clamps or refuses large sizes; running with its
        // default is better than not running.
        let _ = socket.set_recv_buffer_size(size);
    }
    if let Some(size) = options.send_buffer {
        let _ = socket.set_send_buffer_size(size);
    }
    socket.set_read_timeout(options.read_timeout)?;
    Ok(socket)
}

/// Whether `[::1]` can be bound here: false on hosts or network namespaces without
/// IPv6, where the IPv6 tests skip themselves.
pub fn ipv6_loopback_available() -> bool {
    UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// Binds a non-blocking TCP listener to `address` with `SO_REUSEADDR`,
/// `SO_REUSEPORT`, `IPV6_V6ONLY` on IPv6 addresses, and a backlog of 1024.
/// (`TCP_NODELAY` is per connection, so it is not set here.)
///
/// # Errors
///
/// Any error from creating, configuring, binding or listening on the socket.
pub fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.listen(TCP_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Sets the integer socket option `level`/`name` to 1.
fn enable_option(socket: &Socket, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let value: libc::c_int = 1;
    let length = libc::socklen_t::try_from(size_of::<libc::c_int>())
        .expect("size of c_int fits in socklen_t");
    // SAFETY: the descriptor is open (borrowed from `socket` for the whole call), and
    // the value pointer and length describe `value`, a live, initialized c_int the
    // kernel only reads.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            length,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::ptr;

    /// Reads an integer socket option, to check what `bind_udp` set.
    fn option(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut length = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap();
        // SAFETY: the descriptor is open, and value/length describe a live c_int that
        // the kernel writes at most `length` bytes into.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                name,
                ptr::from_mut(&mut value).cast(),
                ptr::from_mut(&mut length),
            )
        };
        assert_eq!(result, 0, "{}", io::Error::last_os_error());
        value
    }

    #[test]
    fn reuse_port_lets_two_sockets_share_an_address() {
        let options = UdpOptions {
            reuse_port: true,
            ..UdpOptions::default()
        };
        let first = bind_udp((Ipv4Addr::LOCALHOST, 0).into(), &options).unwrap();
        let address = first.local_addr().unwrap();
        let second = bind_udp(address, &options).unwrap();
        assert_eq!(second.local_addr().unwrap(), address);
        assert_eq!(option(&second, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
        assert_eq!(option(&second, libc::SOL_SOCKET, libc::SO_REUSEADDR), 0);
    }

    #[test]
    fn without_reuse_port_a_second_bind_fails() {
        let options = UdpOptions::default();
        let first = bind_udp((Ipv4Addr::LOCALHOST, 0).into(), &options).unwrap();
        let error = bind_udp(first.local_addr().unwrap(), &options).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn udp_options_are_applied() {
        let options = UdpOptions {
            reuse_port: false,
            recv_buffer: Some(1 << 20),
            send_buffer: Some(1 << 20),
            read_timeout: Some(Duration::from_millis(250)),
        };
        let socket = bind_udp((Ipv4Addr::UNSPECIFIED, 0).into(), &options).unwrap();
        // The kernel rounds the timeout to its clock tick.
        let timeout = socket.read_timeout().unwrap().unwrap();
        assert!(timeout.abs_diff(Duration::from_millis(250)) < Duration::from_millis(20));
        assert_eq!(option(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO), 1);
        assert!(option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUF) > 0);
        // The socket is in blocking mode.
        // SAFETY: fcntl F_GETFL on an open descriptor only reads its flags.
        let flags = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);

        let specific = bind_udp((Ipv4Addr::LOCALHOST, 0).into(), &options).unwrap();
        assert_eq!(option(&specific, libc::IPPROTO_IP, libc::IP_PKTINFO), 0);
    }

    #[test]
    fn connected_udp_socket_has_its_options_and_hears_only_its_server() {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let server_address = server.local_addr().unwrap();
        let options = UdpOptions {
            reuse_port: true,
            recv_buffer: Some(1 << 20),
            send_buffer: Some(1 << 20),
            read_timeout: Some(Duration::from_secs(5)),
        };
        let client = connect_udp(server_address, &options).unwrap();
        assert_eq!(client.peer_addr().unwrap(), server_address);
        assert_eq!(option(&client, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
        assert!(client.read_timeout().unwrap().is_some());
        assert_eq!(option(&client, libc::IPPROTO_IP, libc::IP_PKTINFO), 0);

        client.send(b"ping").unwrap();
        let mut buffer = [0u8; 8];
        let (length, from) = server.recv_from(&mut buffer).unwrap();
        assert_eq!(
            (&buffer[..length], from),
            (&b"ping"[..], client.local_addr().unwrap())
        );
        // A datagram from another socket is not for a connected socket.
        let stranger = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        stranger
            .send_to(b"stranger", client.local_addr().unwrap())
            .unwrap();
        server.send_to(b"pong", from).unwrap();
        let length = client.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], b"pong");

        let zero = UdpOptions {
            read_timeout: Some(Duration::ZERO),
            ..UdpOptions::default()
        };
        let error = connect_udp(server_address, &zero).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn zero_read_timeout_is_rejected() {
        let options = UdpOptions {
            read_timeout: Some(Duration::ZERO),
            ..UdpOptions::default()
        };
        let error = bind_udp((Ipv4Addr::LOCALHOST, 0).into(), &options).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn ipv6_sockets_are_v6_only_and_coexist_with_ipv4() {
        if !ipv6_loopback_available() {
            eprintln!("IPv6 unavailable, skipped");
            return;
        }
        let options = UdpOptions::default();
        let v6 = bind_udp((Ipv6Addr::UNSPECIFIED, 0).into(), &options).unwrap();
        let port = v6.local_addr().unwrap().port();
        assert_eq!(option(&v6, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
        assert_eq!(option(&v6, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO), 1);
        // The same port on IPv4 is free because the IPv6 socket is v6-only.
        let v4 = bind_udp((Ipv4Addr::UNSPECIFIED, port).into(), &options).unwrap();
        assert_eq!(v4.local_addr().unwrap().port(), port);

        let listener6 = bind_tcp((Ipv6Addr::UNSPECIFIED, 0).into()).unwrap();
        let port = listener6.local_addr().unwrap().port();
        assert_eq!(option(&listener6, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
        bind_tcp((Ipv4Addr::UNSPECIFIED, port).into()).unwrap();
    }

    #[test]
    fn tcp_listener_is_non_blocking_and_shares_its_port() {
        let listener = bind_tcp((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let address = listener.local_addr().unwrap();
        assert_eq!(option(&listener, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
        assert_eq!(option(&listener, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
        let error = listener.accept().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        let second = bind_tcp(address).unwrap();
        assert_eq!(second.local_addr().unwrap(), address);

        let client = std::net::TcpStream::connect(address).unwrap();
        let client_address = client.local_addr().unwrap();
        // One of the two listeners gets the connection.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let accepted = listener.accept().or_else(|_| second.accept());
            if let Ok((_, peer)) = accepted {
                assert_eq!(peer, client_address);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no connection accepted"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
