//! The run's report: the threads' outcomes merged, then printed as one JSON object
//! (`--json`), as a readable summary whose last line ends in `qps N`, and as an
//! HdrHistogram percentile distribution (`--histogram FILE`, the `.hgrm` text of
//! `outputPercentileDistribution`, values in microseconds).
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
        let mut with_lost = histogram.clone();
        let timeout = setup
            .timeout_ms
            .saturating_mul(1_000_000)
            .min(with_lost.high());
        // Recording within the histogram's bounds cannot fail.
        let _ = with_lost.record_n(timeout, counters.lost);
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

/// The histogram's percentile distribution in HdrHistogram's `.hgrm` text format
/// (as `outputPercentileDistribution(out, 5, 1000.0)` prints it: nanoseconds
/// recorded, microseconds shown).
pub fn hgrm(histogram: &Histogram<u64>) -> String {
    const SCALE: f64 = 1000.0;
    let digits = usize::from(histogram.sigfig());
    let mut text = String::new();
    let _ = write!(
        text,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total: u64 = 0;
    if !histogram.is_empty() {
        for value in histogram.iter_quantiles(5) {
            total += value.count_since_last_iteration();
            let scaled = value.value_iterated_to() as f64 / SCALE;
            let quantile = value.quantile_iterated_to();
            if quantile < 1.0 {
                let _ = writeln!(
                    text,
                    "{scaled:>12.digits$} {quantile:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - quantile)
                );
            } else {
                let _ = writeln!(text, "{scaled:>12.digits$} {quantile:>2.12} {total:>10}");
            }
        }
    }
    let mean = if histogram.is_empty() {
        0.0
    } else {
        histogram.mean() / SCALE
    };
    let deviation = if histogram.is_empty() {
        0.0
    } else {
        histogram.stdev() / SCALE
    };
    let _ = writeln!(
        text,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {deviation:>12.digits$}]"
    );
    let _ = writeln!(
        text,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        histogram.max() as f64 / SCALE,
        histogram.len()
    );
    let _ = writeln!(
        text,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        histogram.buckets(),
        sub_bucket_count(histogram.sigfig())
    );
    text
}

/// HdrHistogram's sub-bucket count for `digits` significant digits: the power of
/// two at or above 2 * 10^digits.
fn sub_bucket_count(digits: u8) -> u64 {
    (2 * 10u64.pow(u32::from(digits))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Histogram<u64> {
        let mut histogram = new_histogram();
        for value in 1..=1000u64 {
            histogram.record(value * 1000).unwrap();
        }
        histogram
    }

    #[test]
    fn hgrm_has_the_standard_columns_and_footer() {
        let text = hgrm(&sample());
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        let first = lines.next().unwrap();
        assert_eq!(
            first,
            "       1.000 0.000000000000          1           1.00"
        );
        assert!(
            text.contains("     500.223 0.500000000000        500           2.00\n"),
            "{text}"
        );
        let last_value = text.lines().rfind(|line| !line.starts_with('#')).unwrap();
        let fields: Vec<&str> = last_value.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "the 100% line has no last column");
        assert_eq!(fields[1], "1.000000000000");
        assert_eq!(fields[2], "1000");
        assert!(
            text.contains("#[Mean    =      500.505, StdDeviation   =      288.676]"),
            "{text}"
        );
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{text}"
        );
        assert!(text.ends_with("SubBuckets     =         2048]\n"), "{text}");
    }

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
}
