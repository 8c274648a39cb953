//! `reflect`: the ceiling. Receive a batch with `recvmmsg`, set the QR bit of each
//! datagram in place, send them all back to their senders with `sendmmsg`
//! (`dnslb_io::batch::ReceiveBatch::send_back`): no parsing, no answer, no copy,
//! only what the kernel's UDP path costs one core.
//!
//! `reflect --xdp IFACE`: the same over AF_XDP, the ceiling of a server that
//! bypasses the kernel's UDP path. An XDP filter takes the UDP to the listen
//! address on every receive queue; per queue, one thread receives a batch of
//! frames, sets the QR bit in each payload, turns each frame around in place
//! (MACs, addresses and ports swapped, checksums recomputed) and queues it for
//! sending with one kick per batch. No DNS parsing, no copy, no allocation in
//! the loop. The first line printed is `listening on ADDR:PORT (xdp IFACE, N
//! queues, copy|zero-copy)`; the filter is detached on exit.
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

use anyhow::{Context, bail};
use dnslb_io::batch::{ReceiveBatch, Wait};
use dnslb_io::cpu::set_timer_slack;
use dnslb_io::socket::{UdpOptions, bind_udp};
use dnslb_io::xdp::bpf::{AttachMode, Rule};
use dnslb_io::xdp::frame::{parse_udp, turn_around};
use dnslb_io::xdp::socket::{Desc, XdpSocket};

use crate::xdp;

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
    /// Reflect frames through AF_XDP on this interface.
    pub xdp: Option<String>,
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

/// A flag that SIGINT and SIGTERM set.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install a signal handler")?;
    }
    Ok(stop)
}

/// Runs the reflector until SIGINT/SIGTERM or the end of the duration.
pub fn run(options: &ReflectOptions) -> anyhow::Result<()> {
    if let Some(iface) = &options.xdp {
        return run_xdp(options, iface);
    }
    if let Some(cpu) = options.cpu {
        crate::pin(cpu)?;
    }
    set_timer_slack(1);
    let socket = bind(options.listen)?;
    let stop = stop_flag()?;
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

/// What one queue's reflector did.
#[derive(Clone, Copy, Debug, Default)]
struct QueueCounts {
    received: u64,
    reflected: u64,
    /// Frames the filter passed that are no plain UDP datagram (lengths that
    /// disagree), and replies the transmit ring had no room for.
    dropped: u64,
}

/// `reflect --xdp`: the filter takes UDP to the listen address on every
/// receive queue of `iface`; one thread per queue reflects its frames.
fn run_xdp(options: &ReflectOptions, iface: &str) -> anyhow::Result<()> {
    if options.listen.port() == 0 {
        bail!("--listen needs a port with --xdp");
    }
    let stop = stop_flag()?;
    let mut attachment = xdp::attach(iface, &[Rule::listen(options.listen)])?;
    let queues = attachment.sockets.len();
    if let Some(cpu) = options.cpu {
        let allowed = dnslb_io::cpu::allowed_cpus();
        if let Some(missing) = (cpu..cpu + queues).find(|cpu| !allowed.contains(cpu)) {
            bail!(
                "--cpu {cpu}: the thread of {iface}'s receive queue q goes on CPU {cpu} + q, \
                 and CPU {missing} is not one this process may use (allowed: {allowed:?})"
            );
        }
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "listening on {} (xdp {iface}, {queues} queue{}, {}{})",
            options.listen,
            if queues == 1 { "" } else { "s" },
            if attachment.zero_copy() {
                "zero-copy"
            } else {
                "copy"
            },
            match attachment.mode() {
                AttachMode::Driver => "",
                AttachMode::Generic => ", generic XDP",
            }
        )?;
        stdout.flush()?;
    }
    let start = Instant::now();
    let deadline = options.duration.map(|duration| start + duration);
    let counts: Vec<QueueCounts> = std::thread::scope(|scope| {
        let handles: Vec<_> = attachment
            .sockets
            .iter_mut()
            .enumerate()
            .map(|(queue, socket)| {
                let stop = &stop;
                std::thread::Builder::new()
                    .name(format!("reflect-q{queue}"))
                    .spawn_scoped(scope, move || {
                        if let Some(cpu) = options.cpu
                            && let Err(error) = crate::pin(cpu + queue)
                        {
                            eprintln!("warning: queue {queue}'s thread not pinned: {error:#}");
                        }
                        set_timer_slack(1);
                        reflect_queue(socket, options.batch, stop, deadline)
                    })
            })
            .collect::<Result<_, _>>()
            .context("cannot start a reflector thread")?;
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a reflector thread panicked"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let statistics: Vec<_> = attachment
        .sockets
        .iter()
        .filter_map(|socket| socket.statistics().ok())
        .collect();
    // Detach before reporting.
    drop(attachment);
    let seconds = start.elapsed().as_secs_f64();
    let received: u64 = counts.iter().map(|count| count.received).sum();
    let reflected: u64 = counts.iter().map(|count| count.reflected).sum();
    let dropped: u64 = counts.iter().map(|count| count.dropped).sum();
    let ring_full: u64 = statistics.iter().map(|s| s.rx_ring_full).sum();
    let kernel_dropped: u64 = statistics.iter().map(|s| s.rx_dropped).sum();
    eprintln!(
        "reflect: received {received} reflected {reflected} in {seconds:.2} s, qps {:.0} \
         (dropped {dropped}; kernel: receive ring full {ring_full}, dropped {kernel_dropped})",
        reflected as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Busy-polls one queue's socket while frames come (and [`SPIN_IDLE`] after
/// the last), then sleeps in `poll` up to [`WAKE_INTERVAL`] at a time.
const SPIN_IDLE: Duration = Duration::from_millis(1);

/// How many busy rounds between looks at the clock.
const CLOCK_ROUNDS: u32 = 64;

/// Kicks tried in a row while the kernel answers busy.
const KICK_TRIES: usize = 8;

/// Reflects one queue's frames until `stop` or `deadline`: receive a batch,
/// set the QR bit of each payload, turn each frame around in place, queue it
/// for sending, kick once; give completed frames back to the fill ring.
fn reflect_queue(
    socket: &mut XdpSocket,
    batch: usize,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> QueueCounts {
    let mut counts = QueueCounts::default();
    let mut descs = vec![Desc::default(); batch];
    let mut kick_pending = false;
    let mut idle_since: Option<Instant> = None;
    let mut rounds = 0u32;
    loop {
        socket.complete();
        // Sent frames (and dropped ones) go back to the kernel to receive into.
        let free = socket.free_frames();
        if free > 0 {
            socket.fill(free);
        }
        if socket.fill_needs_wakeup() {
            socket.wake();
        }
        let count = socket.receive(&mut descs);
        if count == 0 {
            if kick_pending {
                kick_pending = !socket.kick();
            }
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) || deadline.is_some_and(|deadline| now >= deadline) {
                break;
            }
            let since = *idle_since.get_or_insert(now);
            if now - since >= SPIN_IDLE && !kick_pending {
                // Woken by a frame, the end of the interval, or a signal.
                let _ = socket.wait(WAKE_INTERVAL);
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        idle_since = None;
        counts.received += count as u64;
        socket.touch(&descs[..count]);
        for desc in &descs[..count] {
            let frame = socket.frame_mut(desc.addr);
            let length = (desc.len as usize).min(frame.len());
            let Ok(parsed) = parse_udp(&frame[..length]) else {
                socket.recycle(desc.addr);
                counts.dropped += 1;
                continue;
            };
            if let Some(flags) = frame.get_mut(parsed.payload_offset + 2)
                && parsed.payload_len > 2
            {
                *flags |= 0x80;
            }
            let reply = turn_around(frame, &parsed, parsed.payload_len);
            if socket.transmit(desc.addr, reply as u32) {
                counts.reflected += 1;
            } else {
                counts.dropped += 1;
            }
        }
        let mut sent = socket.flush();
        for _ in 1..KICK_TRIES {
            if sent {
                break;
            }
            sent = socket.kick();
        }
        kick_pending = !sent;
        rounds += 1;
        if rounds == CLOCK_ROUNDS {
            rounds = 0;
            if stop.load(Ordering::Relaxed)
                || deadline.is_some_and(|deadline| Instant::now() >= deadline)
            {
                break;
            }
        }
    }
    counts
}
