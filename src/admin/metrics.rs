//! `GET /metrics`: the Prometheus text exposition format (0.0.4).
//!
//! Data-plane counters are read from every worker's single-writer block and
//! summed (per worker too, for `received`); control-plane figures come from
//! [`Control`]: backend states, probes, snapshot generation, swaps and build
//! time. Label values are escaped as the format requires.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::control::{BackendStatus, Control};
use crate::stats::{CloseReason, FrameCounters, Stats, XdpDrop};
use crate::wire::answer::Transport;
use crate::wire::notify::NotifyResult;
use crate::wire::{DropReason, Rcode};
use crate::xfr::Transfers;

/// Secondary zones, transfers and NOTIFYs.
fn zones(out: &mut String, control: &Control, transfers: &Transfers) {
    let statuses = transfers.statuses();
    family(
        out,
        "dnslb_zone_serial",
        "gauge",
        "The serial of each secondary and catalog zone's copy (absent without one).",
    );
    for status in &statuses {
        if let Some(serial) = status.serial {
            let _ = writeln!(
                out,
                "dnslb_zone_serial{{zone=\"{}\"}} {serial}",
                escape(&status.name)
            );
        }
    }
    family(
        out,
        "dnslb_zone_expires_seconds",
        "gauge",
        "Seconds until each secondary zone's copy expires without a refresh (0: expired).",
    );
    for status in &statuses {
        if let Some(seconds) = status.expires_in_seconds {
            let _ = writeln!(
                out,
                "dnslb_zone_expires_seconds{{zone=\"{}\"}} {seconds:.0}",
                escape(&status.name)
            );
        }
    }
    family(
        out,
        "dnslb_transfers_total",
        "counter",
        "Zone transfers, by zone, kind (axfr, ixfr) and result (success, failure).",
    );
    for (zone, kind, success, count) in transfers.counts() {
        let _ = writeln!(
            out,
            "dnslb_transfers_total{{zone=\"{}\",kind=\"{}\",result=\"{}\"}} {count}",
            escape(&zone),
            kind.name(),
            if success { "success" } else { "failure" }
        );
    }
    family(
        out,
        "dnslb_notify_total",
        "counter",
        "NOTIFY messages received, by result (accepted, dropped: queue full, refused, notauth, formerr).",
    );
    let intake = control.notify_intake();
    for result in NotifyResult::ALL {
        let _ = writeln!(
            out,
            "dnslb_notify_total{{result=\"{}\"}} {}",
            result.name(),
            intake.results(result)
        );
    }
}

/// Writes `# HELP` and `# TYPE` for one family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A counter family with one label and a sample for each of its values.
fn counters(out: &mut String, name: &str, help: &str, label: &str, samples: &[(&str, u64)]) {
    family(out, name, "counter", help);
    for (value, count) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric.
pub fn render(control: &Control, stats: &Stats, transfers: &Transfers) -> String {
    let mut out = String::with_capacity(8192);
    zones(&mut out, control, transfers);
    let xdp_total = (!stats.xdp_queues().is_empty()).then(|| stats.xdp_total());
    let mut totals = vec![("udp", stats.total(Transport::Udp))];
    // The XDP workers' queries, beside the socket workers', with `[xdp]`.
    if let Some(xdp) = xdp_total {
        totals.push(("xdp", xdp));
    }
    totals.push(("tcp", stats.total(Transport::Tcp)));

    family(
        &mut out,
        "dnslb_queries_received_total",
        "counter",
        "DNS messages received, summed over workers.",
    );
    for (label, total) in &totals {
        let _ = writeln!(
            out,
            "dnslb_queries_received_total{{transport=\"{label}\"}} {}",
            total.received
        );
    }
    family(
        &mut out,
        "dnslb_responses_total",
        "counter",
        "Responses sent, by response code.",
    );
    for (label, total) in &totals {
        for rcode in Rcode::ALL {
            let _ = writeln!(
                out,
                "dnslb_responses_total{{transport=\"{label}\",rcode=\"{}\"}} {}",
                rcode.name(),
                total.replies_with(rcode)
            );
        }
    }
    family(
        &mut out,
        "dnslb_responses_truncated_total",
        "counter",
        "UDP responses sent with TC set.",
    );
    for (label, total) in &totals {
        let _ = writeln!(
            out,
            "dnslb_responses_truncated_total{{transport=\"{label}\"}} {}",
            total.truncated
        );
    }
    family(
        &mut out,
        "dnslb_drops_total",
        "counter",
        "Messages that got no response, by reason.",
    );
    for (label, total) in &totals {
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "dnslb_drops_total{{transport=\"{label}\",reason=\"{}\"}} {}",
                reason.name(),
                total.drops_for(reason)
            );
        }
    }
    // Rate limiting covers UDP on both paths.
    let mut udp = totals[0].1;
    if let Some(xdp) = &xdp_total {
        udp.add(xdp);
    }
    family(
        &mut out,
        "dnslb_rrl_limited_total",
        "counter",
        "UDP responses over the [rrl] rate, by what was done instead.",
    );
    let _ = writeln!(
        out,
        "dnslb_rrl_limited_total{{action=\"dropped\"}} {}",
        udp.drops_for(DropReason::RateLimited)
    );
    let _ = writeln!(
        out,
        "dnslb_rrl_limited_total{{action=\"slipped\"}} {}",
        udp.rate_limit_slipped
    );
    family(
        &mut out,
        "dnslb_rrl_enabled",
        "gauge",
        "1 when response rate limiting is on, with its rate per bucket.",
    );
    let rrl = control
        .snapshot()
        .load()
        .rrl
        .as_ref()
        .map(|limiter| *limiter.settings());
    let _ = writeln!(out, "dnslb_rrl_enabled {}", u8::from(rrl.is_some()));
    if let Some(settings) = rrl {
        family(
            &mut out,
            "dnslb_rrl_responses_per_second",
            "gauge",
            "The [rrl] rate per bucket.",
        );
        let _ = writeln!(
            out,
            "dnslb_rrl_responses_per_second {}",
            settings.responses_per_second
        );
    }
    family(
        &mut out,
        "dnslb_tcp_closes_total",
        "counter",
        "TCP connections the server closed, by reason.",
    );
    let tcp = stats.total(Transport::Tcp);
    for reason in CloseReason::ALL {
        let _ = writeln!(
            out,
            "dnslb_tcp_closes_total{{reason=\"{}\"}} {}",
            reason.name(),
            tcp.closes_for(reason)
        );
    }
    family(
        &mut out,
        "dnslb_worker_queries_received_total",
        "counter",
        "UDP messages received by each worker.",
    );
    for worker in 0..stats.udp_workers() {
        let _ = writeln!(
            out,
            "dnslb_worker_queries_received_total{{worker=\"{worker}\"}} {}",
            stats.udp_worker(worker).read().received
        );
    }

    if !stats.xdp_queues().is_empty() {
        xdp_queues(&mut out, stats);
    }

    let snapshot = control.snapshot().load_full();
    family(
        &mut out,
        "dnslb_service_queries_total",
        "counter",
        "Queries answered from a service's backends (UDP and TCP), summed over workers.",
    );
    for service in &snapshot.services.entries {
        let _ = writeln!(
            out,
            "dnslb_service_queries_total{{service=\"{}\"}} {}",
            escape(&crate::wire::name::display(&service.name)),
            service.counters.total()
        );
    }
    family(
        &mut out,
        "dnslb_service_backends_available",
        "gauge",
        "Backends of a service that may be answered (up and not drained).",
    );
    let status = control.status();
    for service in &status.services {
        let available = service
            .backends
            .iter()
            .filter(|backend| backend.available)
            .count();
        let _ = writeln!(
            out,
            "dnslb_service_backends_available{{service=\"{}\"}} {available}",
            escape(&service.name)
        );
    }
    /// A backend's value, or `None` to leave the backend out (no probe yet).
    type Gauge = fn(&BackendStatus) -> Option<f64>;
    let backend_gauges: [(&str, &str, Gauge); 4] = [
        (
            "dnslb_backend_up",
            "1 when the health checks say up.",
            |backend| Some(f64::from(u8::from(backend.state == "up"))),
        ),
        (
            "dnslb_backend_drained",
            "1 when an operator drained the backend.",
            |backend| Some(f64::from(u8::from(backend.drained))),
        ),
        (
            "dnslb_backend_load",
            "The load the backend reports, 0 to 1.",
            |backend| Some(f64::from(backend.load)),
        ),
        (
            "dnslb_backend_probe_latency_seconds",
            "The last probe's duration.",
            |backend| {
                backend
                    .last_probe
                    .as_ref()
                    .map(|probe| probe.latency_ms / 1e3)
            },
        ),
    ];
    for (name, help, value) in backend_gauges {
        family(&mut out, name, "gauge", help);
        for service in &status.services {
            for backend in &service.backends {
                let Some(value) = value(backend) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "{name}{{service=\"{}\",backend=\"{}\",check=\"{}\"}} {}",
                    escape(&service.name),
                    escape(&backend.backend),
                    backend.check,
                    value
                );
            }
        }
    }

    let metrics = &control.metrics;
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    };
    let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    };
    let probes = metrics.probes.load(Ordering::Relaxed);
    counter(
        &mut out,
        "dnslb_probes_total",
        "Health probes finished.",
        probes,
    );
    counter(
        &mut out,
        "dnslb_probe_failures_total",
        "Health probes that failed.",
        metrics.probe_failures.load(Ordering::Relaxed),
    );
    family(
        &mut out,
        "dnslb_probe_latency_seconds_sum",
        "counter",
        "Sum of the durations of all probes (divide by dnslb_probes_total for the mean).",
    );
    let _ = writeln!(
        out,
        "dnslb_probe_latency_seconds_sum {}",
        metrics.probe_latency_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    counter(
        &mut out,
        "dnslb_health_state_changes_total",
        "Backend health state changes.",
        metrics.state_changes.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "dnslb_snapshot_generation",
        "The generation of the snapshot workers answer from.",
        snapshot.generation as f64,
    );
    counter(
        &mut out,
        "dnslb_snapshot_swaps_total",
        "Snapshots published since start (health, drains, loads, reloads).",
        metrics.swaps.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "dnslb_snapshot_build_seconds",
        "How long the last snapshot took to build.",
        metrics.last_build_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    gauge(
        &mut out,
        "dnslb_health_publish_delay_seconds",
        "From the probe result that changed a state to its snapshot being published (last).",
        metrics.last_publish_delay_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    gauge(
        &mut out,
        "dnslb_health_publish_delay_max_seconds",
        "From the probe result that changed a state to its snapshot being published (largest).",
        metrics.max_publish_delay_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    counters(
        &mut out,
        "dnslb_name_table_builds_total",
        "Name tables built after the first: whole (a reload, a zone transfer), or patched for the names an IXFR changed.",
        "kind",
        &[
            ("whole", metrics.tables_built.load(Ordering::Relaxed)),
            ("patched", metrics.tables_patched.load(Ordering::Relaxed)),
        ],
    );
    gauge(
        &mut out,
        "dnslb_name_table_patched_names",
        "Names changed by IXFR since the name table was last built whole (0 after a whole build).",
        snapshot.table.patched_names() as f64,
    );
    counters(
        &mut out,
        "dnslb_reloads_total",
        "Config reloads (SIGHUP, POST /reload), by result.",
        "result",
        &[
            ("ok", metrics.reloads.load(Ordering::Relaxed)),
            ("failed", metrics.reloads_failed.load(Ordering::Relaxed)),
        ],
    );
    gauge(
        &mut out,
        "dnslb_zone_records",
        "Records loaded from the zone files.",
        snapshot.summary.records as f64,
    );
    out
}

/// The frame counters of each XDP queue.
fn xdp_queues(out: &mut String, stats: &Stats) {
    let frames: Vec<_> = stats
        .xdp_queues()
        .iter()
        .map(|queue| (queue.queue, queue.read_frames()))
        .collect();
    /// A queue's value of one frame counter.
    type Count = fn(&FrameCounters) -> u64;
    let totals: [(&str, &str, Count); 2] = [
        (
            "dnslb_xdp_rx_frames_total",
            "Frames an XDP worker took from its AF_XDP receive ring, by NIC queue.",
            |counters| counters.rx,
        ),
        (
            "dnslb_xdp_tx_frames_total",
            "Reply frames an XDP worker put on its AF_XDP transmit ring, by NIC queue.",
            |counters| counters.tx,
        ),
    ];
    for (name, help, value) in totals {
        family(out, name, "counter", help);
        for (queue, counters) in &frames {
            let _ = writeln!(out, "{name}{{queue=\"{queue}\"}} {}", value(counters));
        }
    }
    family(
        out,
        "dnslb_xdp_drops_total",
        "counter",
        "Frames lost or not answered on the XDP path, by NIC queue and reason \
         (DNS reasons are in dnslb_drops_total).",
    );
    for (queue, counters) in &frames {
        for reason in XdpDrop::ALL {
            let _ = writeln!(
                out,
                "dnslb_xdp_drops_total{{queue=\"{queue}\",reason=\"{}\"}} {}",
                reason.name(),
                counters.drops_for(reason)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
