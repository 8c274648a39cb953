//! `dnslb-loadgen`: the load generator bundled with dnslb.
//!
//! * `run` sends DNS queries to a server over UDP (`sendmmsg`/`recvmmsg`
//!   batches over several source sockets) or TCP, closed loop (a window of
//!   outstanding queries) or open loop (a rate, latency from the scheduled send
//!   time), matches every reply to its query, and reports answers by rcode,
//!   losses, bad replies, qps and latency percentiles (text, `--json`, `.hgrm`,
//!   an SVG plot).
//!   With `--xdp IFACE` the queries go out as pre-built frames through AF_XDP
//!   and the replies come off its receive ring ([`xdp`]), matched and reported
//!   the same way.
//! * `reflect` is the ceiling: it echoes datagrams back with the QR bit set,
//!   through the kernel's UDP sockets or, with `--xdp IFACE`, as AF_XDP frames
//!   turned around in place.
//! * `plot` draws saved `.hgrm` latency distributions as one SVG, one line each.
//!
//! Invariants: no `unsafe` code: the batches, the socket set-up, `ppoll` and
//! CPU pinning come from the `dnslb-io` crate, shared with the server; the
//! send/receive/match loop ([`engine`]) allocates nothing; errors reach `main`,
//! which prints them on stderr and exits with status 1.

mod args;
mod engine;
mod hgrm;
mod inflight;
mod load;
mod packet;
mod plot;
mod query;
mod reflect;
mod report;
mod tcp;
mod udp;
mod xdp;

use std::process::ExitCode;

use anyhow::bail;
use clap::Parser;
use dnslb_io::cpu;

use crate::args::{Cli, Command};

/// Pins the calling thread to `cpu`, or says which CPUs it may use instead.
pub fn pin(cpu: usize) -> anyhow::Result<()> {
    if !cpu::pin_current_thread(cpu) {
        bail!(
            "cannot pin to CPU {cpu} (allowed: {:?})",
            cpu::allowed_cpus()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => load::run(args),
        Command::Reflect(args) => {
            if (1..=1024).contains(&args.batch) {
                reflect::run(&reflect::ReflectOptions {
                    listen: args.listen,
                    xdp: args.xdp.clone(),
                    batch: args.batch,
                    cpu: args.cpu,
                    duration: args.duration,
                })
            } else {
                Err(anyhow::anyhow!("--batch must be 1 to 1024"))
            }
        }
        Command::Plot(args) => plot::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dnslb-loadgen: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
