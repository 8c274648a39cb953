//! `reflect`: the ceiling. Receive a batch with `recvmmsg`, set the QR bit of each
//! datagram in place, send them all back to their senders with `sendmmsg`
//! (`dnslb_io::batch::ReceiveBatch::send_back`): no parsing, no answer, no copy,
//! only what the kernel's UDP path costs one core.
//!
//! Invariants: nothing is allocated after start-up; the socket has a read timeout
//! so the loop sees SIGINT/SIGTERM (and the end of `--duration`) within
//! [`WAKE_INTERVAL`]; the bound address is printed on stdout (`listening on
//! ADDR:PORT`) before the first receive, so a caller that asked for port 0 learns
//! the port.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use dnslb_io::batch::{ReceiveBatch, Wait};
use dnslb_io::cpu::set_timer_slack;
use dnslb_io::socket::{UdpOptions, bind_udp};

/// How often a blocked receive wakes to check for the end.
const WAKE_INTERVAL: Duration = Duration::from_millis(100);

/// Socket buffer size asked for.
const SOCKET_BUFFER: usize = 8 << 20;

/// Largest datagram reflected whole.
const SLOT_SIZE: usize = 2048;

/// What `reflect` is told.
#[derive(Clone, Debug)]
pub struct ReflectOptions {
    pub listen: SocketAddr,
    pub batch: usize,
    pub cpu: Option<usize>,
    pub duration: Option<Duration>,
}

/// A socket on `address` with `SO_REUSEPORT` (several reflectors can share a
/// port), large buffers and a read timeout of [`WAKE_INTERVAL`].
fn bind(address: SocketAddr) -> anyhow::Result<UdpSocket> {
    let options = UdpOptions {
        reuse_port: true,
        recv_buffer: Some(SOCKET_BUFFER),
        send_buffer: Some(SOCKET_BUFFER),
        read_timeout: Some(WAKE_INTERVAL),
    };
    bind_udp(address, &options).with_context(|| format!("cannot bind {address}"))
}

/// Runs the reflector until SIGINT/SIGTERM or the end of the duration.
pub fn run(options: &ReflectOptions) -> anyhow::Result<()> {
    if let Some(cpu) = options.cpu {
        crate::pin(cpu)?;
    }
    set_timer_slack(1);
    let socket = bind(options.listen)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install a signal handler")?;
    }
    let mut batch = ReceiveBatch::new(options.batch, SLOT_SIZE);
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", socket.local_addr()?)?;
        stdout.flush()?;
    }

    let start = Instant::now();
    let mut received: u64 = 0;
    let mut reflected: u64 = 0;
    while !stop.load(Ordering::Relaxed)
        && options
            .duration
            .is_none_or(|duration| start.elapsed() < duration)
    {
        let count = match batch.recv(&socket, Wait::Block) {
            Ok(count) => count,
            Err(error) => {
                eprintln!("reflect: receive failed: {error}");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        if count == 0 {
            continue;
        }
        for slot in 0..count {
            if let Some(flags) = batch.payload_mut(slot).get_mut(2) {
                *flags |= 0x80;
            }
        }
        received += count as u64;
        reflected += batch.send_back(&socket).sent as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "reflect: received {received} reflected {reflected} in {seconds:.2} s, qps {:.0}",
        reflected as f64 / seconds.max(1e-9)
    );
    Ok(())
}
