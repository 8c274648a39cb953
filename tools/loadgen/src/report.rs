//! The run's report: the threads' outcomes merged, then printed as one JSON object
//! (`--json`) or as a readable summary whose last line ends in `qps N`; and the
//! latency histogram with lost queries counted at the timeout, which `--hgrm`
//! and `--plot` save (see [`crate::hgrm`] and [`crate::plot`]).
//!
//! Invariants: `qps` is answered queries per second of sending time; `sent ==
//! answered + lost + in_flight`, and `in_flight` is 0 once the drain finished;
//! latencies are reported in microseconds, recorded in nanoseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::{Counters, Outcome, new_histogram};
use crate::packet::rcode_name;

/// How the run was set up, echoed in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub server: String,
    pub transport: &'static str,
    /// "closed" or "open".
    pub mode: &'static str,
    pub window: usize,
    pub sockets: usize,
    pub threads: usize,
    pub batch: usize,
    pub timeout_ms: u64,
    pub rate_asked: Option<u64>,
    /// Distinct packets cycled through.
    pub packets: usize,
}

/// The merged outcome of every thread.
#[derive(Debug)]
pub struct Totals {
    pub counters: Counters,
    pub histogram: Histogram<u64>,
    pub sending: Duration,
    pub in_flight: u64,
}

impl Totals {
    /// The latency histogram (nanoseconds) with every lost query recorded at
    /// the timeout, `timeout_ms`: the same as the answered queries' histogram
    /// when nothing was lost.
    pub fn with_lost(&self, timeout_ms: u64) -> Histogram<u64> {
        let mut with_lost = self.histogram.clone();
        let timeout = timeout_ms.saturating_mul(1_000_000).min(with_lost.high());
        // Not even a count of 0 when nothing was lost: recording moves the max.
        if self.counters.lost > 0 {
            // Recording within the histogram's bounds cannot fail.
            let _ = with_lost.record_n(timeout, self.counters.lost);
        }
        with_lost
    }
}

/// Merges the threads' outcomes (the sending time is the longest thread's).
pub fn merge(outcomes: Vec<Outcome>) -> Totals {
    let mut totals = Totals {
        counters: Counters::default(),
        histogram: new_histogram(),
        sending: Duration::ZERO,
        in_flight: 0,
    };
    for outcome in outcomes {
        totals.counters.add(&outcome.counters);
        totals
            .histogram
            .add(&outcome.histogram)
            .expect("histograms share their bounds");
        totals.sending = totals.sending.max(outcome.sending);
        totals.in_flight += outcome.in_flight;
    }
    totals
}

/// Latency figures in microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// The figures of `histogram` (nanoseconds), all zero when it is empty.
    fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency {
                min: 0.0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        let quantile = |q: f64| micros(histogram.value_at_quantile(q));
        Latency {
            min: micros(histogram.min()),
            mean: (histogram.mean() / 100.0).round() / 10.0,
            p50: quantile(0.5),
            p90: quantile(0.9),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max: micros(histogram.max()),
        }
    }
}

/// Bad replies by kind.
#[derive(Clone, Debug, Serialize)]
pub struct MalformedDetail {
    /// Shorter than a DNS header.
    pub short: u64,
    /// QR bit clear.
    pub not_response: u64,
    /// ID of no outstanding query on that socket (also replies after their timeout).
    pub unknown_id: u64,
    /// ID matches, question differs.
    pub wrong_question: u64,
}

/// The `--json` object.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub setup: Setup,
    pub duration_s: f64,
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
    pub in_flight: u64,
    /// Answered per second.
    pub qps: f64,
    /// Sent per second (the achieved rate in open loop).
    pub send_qps: f64,
    pub rcodes: BTreeMap<&'static str, u64>,
    pub truncated: u64,
    pub malformed: u64,
    pub malformed_detail: MalformedDetail,
    pub socket_errors: u64,
    pub latency_us: Latency,
    /// The same percentiles with every lost query counted as answered at the
    /// timeout: a server that drops under a burst instead of queueing does
    /// not get a shorter tail for it.
    pub latency_with_lost_us: Latency,
}

fn micros(nanoseconds: u64) -> f64 {
    (nanoseconds as f64 / 100.0).round() / 10.0
}

impl Report {
    pub fn new(setup: Setup, totals: &Totals) -> Report {
        let counters = &totals.counters;
        let seconds = totals.sending.as_secs_f64().max(1e-9);
        let histogram = &totals.histogram;
        let with_lost = totals.with_lost(setup.timeout_ms);
        let rcodes = counters
            .rcodes
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(rcode, count)| (rcode_name(rcode as u8), *count))
            .collect();
        Report {
            setup,
            duration_s: (seconds * 1000.0).round() / 1000.0,
            sent: counters.sent,
            answered: counters.answered,
            lost: counters.lost,
            in_flight: totals.in_flight,
            qps: (counters.answered as f64 / seconds).round(),
            send_qps: (counters.sent as f64 / seconds).round(),
            rcodes,
            truncated: counters.truncated,
            malformed: counters.malformed(),
            malformed_detail: MalformedDetail {
                short: counters.short,
                not_response: counters.not_response,
                unknown_id: counters.unknown_id,
                wrong_question: counters.wrong_question,
            },
            socket_errors: counters.socket_errors,
            latency_us: Latency::of(histogram),
            latency_with_lost_us: Latency::of(&with_lost),
        }
    }

    /// The readable summary; its last line ends with `qps N`.
    pub fn text(&self) -> String {
        let setup = &self.setup;
        let mut text = String::new();
        let pacing = match setup.rate_asked {
            Some(rate) => format!("open loop at {rate} qps"),
            None => format!("closed loop, window {}", setup.window),
        };
        let _ = writeln!(
            text,
            "{} {pacing}, {} sockets, {} threads, batch {}, {:.2} s against {}",
            setup.transport,
            setup.sockets,
            setup.threads,
            setup.batch,
            self.duration_s,
            setup.server
        );
        let lost_share = if self.sent > 0 {
            100.0 * self.lost as f64 / self.sent as f64
        } else {
            0.0
        };
        let _ = writeln!(
            text,
            "lost {} ({lost_share:.3}%, no reply within {} ms), malformed {} (short {}, not a response {}, unknown id {}, wrong question {}), truncated {}, socket errors {}",
            self.lost,
            setup.timeout_ms,
            self.malformed,
            self.malformed_detail.short,
            self.malformed_detail.not_response,
            self.malformed_detail.unknown_id,
            self.malformed_detail.wrong_question,
            self.truncated,
            self.socket_errors
        );
        let rcodes: Vec<String> = self
            .rcodes
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        let _ = writeln!(
            text,
            "rcodes: {}",
            if rcodes.is_empty() {
                "none".to_string()
            } else {
                rcodes.join(", ")
            }
        );
        let latency = &self.latency_us;
        let _ = writeln!(
            text,
            "latency us: min {} p50 {} p90 {} p99 {} p99.9 {} max {} (mean {})",
            latency.min,
            latency.p50,
            latency.p90,
            latency.p99,
            latency.p999,
            latency.max,
            latency.mean
        );
        if self.lost > 0 {
            let latency = &self.latency_with_lost_us;
            let _ = writeln!(
                text,
                "latency us, lost counted at the timeout: p50 {} p90 {} p99 {} p99.9 {} max {}",
                latency.p50, latency.p90, latency.p99, latency.p999, latency.max
            );
        }
        let _ = write!(
            text,
            "sent {} answered {} sent/s {:.0} qps {:.0}",
            self.sent, self.answered, self.send_qps, self.qps
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keys_and_last_line() {
        let mut counters = Counters {
            sent: 10,
            answered: 9,
            lost: 1,
            ..Counters::default()
        };
        counters.rcodes[0] = 8;
        counters.rcodes[3] = 1;
        let mut histogram = new_histogram();
        histogram.record(35_000).unwrap();
        let totals = Totals {
            counters,
            histogram,
            sending: Duration::from_secs(3),
            in_flight: 0,
        };
        let setup = Setup {
            server: "127.0.0.1:53".into(),
            transport: "udp",
            mode: "closed",
            window: 128,
            sockets: 4,
            threads: 1,
            batch: 32,
            timeout_ms: 1000,
            rate_asked: None,
            packets: 1,
        };
        let report = Report::new(setup, &totals);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["qps"], 3.0);
        assert_eq!(json["duration_s"], 3.0);
        assert_eq!(json["rate_asked"], serde_json::Value::Null);
        assert_eq!(json["rcodes"]["NOERROR"], 8);
        assert_eq!(json["rcodes"]["NXDOMAIN"], 1);
        assert_eq!(json["latency_us"]["p50"], 35.0);
        assert_eq!(json["latency_us"]["max"], 35.0);
        assert_eq!(json["lost"], 1);
        // One answer at 35 us and one loss counted at the 1 s timeout.
        assert_eq!(json["latency_with_lost_us"]["p50"], 35.0);
        let with_lost_max = json["latency_with_lost_us"]["max"].as_f64().unwrap();
        assert!(
            (999_000.0..=1_001_000.0).contains(&with_lost_max),
            "{with_lost_max}"
        );
        let text = report.text();
        assert!(text.contains("lost counted at the timeout"), "{text}");
        assert!(text.lines().last().unwrap().ends_with(" qps 3"), "{text}");
    }

    #[test]
    fn nothing_lost_leaves_the_histogram_as_it_is() {
        let mut histogram = new_histogram();
        histogram.record(35_000).unwrap();
        let totals = Totals {
            counters: Counters::default(),
            histogram: histogram.clone(),
            sending: Duration::from_secs(1),
            in_flight: 0,
        };
        let with_lost = totals.with_lost(1000);
        assert_eq!(with_lost.max(), histogram.max());
        assert_eq!(with_lost.len(), 1);
    }
}
