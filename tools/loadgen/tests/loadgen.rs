//! End-to-end tests of the `dnslb-loadgen` binary on loopback: against its own
//! `reflect` (spawned as a child process), against a real dnslb started in this
//! process, against a test server that drops every query with an odd ID, and with
//! bad input.
//!
//! Invariants: every test that sends load holds [`LOAD_LOCK`], so at most one
//! generator runs at a time on the (possibly two-core, noisy) machine; child
//! processes are killed when their guard drops, also when a test fails; every
//! run is short (about a second) and bounded by `--duration` and `--timeout`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_dnslb-loadgen");

/// The repository's example zone.
const EXAMPLE_ZONE: &str = include_str!("../../../zones/example.com.zone");

/// Held by every test that generates load.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

fn load_lock() -> MutexGuard<'static, ()> {
    LOAD_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A `dnslb-loadgen reflect` child on an ephemeral loopback port, killed on drop.
struct Reflector {
    child: Child,
    address: SocketAddr,
}

impl Reflector {
    fn start() -> Reflector {
        let mut child = Command::new(BINARY)
            .args(["reflect", "--listen", "127.0.0.1:0", "--duration", "60s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("reflect starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reflect prints its address");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a socket address");
        Reflector { child, address }
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dnslb server with one worker serving example.com, shut down on drop.
struct Dnslb {
    running: Option<dnslb::runtime::Running>,
    _dir: tempfile::TempDir,
}

impl Dnslb {
    fn start() -> Dnslb {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("example.com.zone"), EXAMPLE_ZONE).expect("write zone");
        let config = r#"[server]
listen = ["127.0.0.1:0"]
workers = 1

[[zone]]
name = "example.com"
file = "example.com.zone"
"#;
        let path = dir.path().join("dnslb.toml");
        std::fs::write(&path, config).expect("write config");
        let config = dnslb::config::load(&path).expect("valid config");
        let running = dnslb::runtime::start(&config).expect("dnslb starts");
        Dnslb {
            running: Some(running),
            _dir: dir,
        }
    }

    fn address(&self) -> SocketAddr {
        self.running.as_ref().expect("running").addresses[0]
    }
}

impl Drop for Dnslb {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown();
        }
    }
}

/// A UDP server that answers (echoes with QR set) only queries with an even ID.
struct OddDropper {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl OddDropper {
    fn start() -> OddDropper {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let address = socket.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let received = Arc::clone(&received);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    received.fetch_add(1, Ordering::Relaxed);
                    if length < 12 || buffer[1] % 2 == 1 {
                        continue;
                    }
                    buffer[2] |= 0x80;
                    let _ = socket.send_to(&buffer[..length], peer);
                }
            })
        };
        OddDropper {
            address,
            stop,
            received,
            thread: Some(thread),
        }
    }
}

impl Drop for OddDropper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the generator runs")
}

/// Runs `run --server ADDRESS --json ARGS` and returns the parsed report.
fn run_json(server: SocketAddr, args: &[&str]) -> Value {
    let server = server.to_string();
    let mut all = vec!["run", "--server", server.as_str(), "--json"];
    all.extend_from_slice(args);
    let output = loadgen(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{all:?} failed: {stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("bad JSON {stdout:?}: {error}"))
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {report}"))
}

fn number(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {report}"))
}

/// Checks the contract keys and their types, and the accounting identity.
fn assert_well_formed(report: &Value) {
    for key in ["sent", "answered", "lost", "malformed", "in_flight"] {
        count(report, key);
    }
    number(report, "qps");
    assert!(
        report["rate_asked"].is_null() || report["rate_asked"].is_number(),
        "rate_asked: {report}"
    );
    let rcodes = report["rcodes"].as_object().expect("rcodes is an object");
    assert!(rcodes.values().all(Value::is_u64), "rcodes: {report}");
    let latency = report["latency_us"]
        .as_object()
        .expect("latency_us is an object");
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(latency[key].is_number(), "latency_us.{key}: {report}");
    }
    assert_eq!(count(report, "in_flight"), 0, "drained: {report}");
    assert_eq!(
        count(report, "answered") + count(report, "lost"),
        count(report, "sent"),
        "{report}"
    );
    let answered_by_rcode: u64 = rcodes.values().filter_map(Value::as_u64).sum();
    assert_eq!(answered_by_rcode, count(report, "answered"), "{report}");
}

#[test]
fn closed_loop_against_reflect_answers_everything() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let histogram = tempfile::NamedTempFile::new().expect("temporary file");
    let histogram_path = histogram.path().to_str().expect("UTF-8 path");
    // --histogram: the old spelling of --hgrm, still accepted.
    let report = run_json(
        reflector.address,
        &["--duration", "1s", "--histogram", histogram_path],
    );
    assert_well_formed(&report);
    assert!(count(&report, "answered") > 0, "{report}");
    assert_eq!(count(&report, "lost"), 0, "{report}");
    assert_eq!(count(&report, "malformed"), 0, "{report}");
    assert!(report["rate_asked"].is_null());
    assert_eq!(report["rcodes"].as_object().unwrap().len(), 1);
    assert_eq!(
        count(&report["rcodes"], "NOERROR"),
        count(&report, "answered")
    );
    assert!(number(&report, "qps") > 0.0);
    let latency = &report["latency_us"];
    assert!(number(latency, "p50") <= number(latency, "p99"));
    assert!(number(latency, "p99") <= number(latency, "max"));

    let hgrm = std::fs::read_to_string(histogram.path()).expect("histogram written");
    assert!(
        hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{hgrm}"
    );
    assert!(hgrm.contains("#[Mean    = "), "{hgrm}");
    let total_line = format!("Total count    = {:>12}]", count(&report, "answered"));
    assert!(hgrm.contains(&total_line), "{hgrm}");
}

/// The texts an SVG draws, `&amp;` unescaped.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| element.split_once('>'))
        .filter_map(|(_, rest)| rest.split_once("</text>"))
        .map(|(content, _)| content.trim().replace("&amp;", "&"))
        .collect()
}

/// Polylines of more than `points` points: the data lines, not the legend's.
fn long_polylines(svg: &str, points: usize) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|element| element.matches(',').count() > points)
        .count()
}

#[test]
fn run_saves_hgrm_and_plot_and_plot_compares_runs() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let hgrm = dir.path().join("dnslb.hgrm");
    let svg = dir.path().join("run.svg");
    let report = run_json(
        reflector.address,
        &[
            "--rate",
            "3000",
            "--duration",
            "1s",
            "--hgrm",
            hgrm.to_str().expect("UTF-8 path"),
            "--plot",
            svg.to_str().expect("UTF-8 path"),
        ],
    );
    assert_well_formed(&report);
    let answered = count(&report, "answered");
    assert!(answered > 0, "{report}");

    let text = std::fs::read_to_string(&hgrm).expect("--hgrm written");
    assert!(
        text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{text}"
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .take_while(|line| !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(rows.len() > 10, "{text}");
    // Lost queries are counted at the timeout (against the reflector, normally none).
    let total = answered + count(&report, "lost");
    let last = rows.last().expect("rows");
    assert_eq!(last[1..], ["1.000000000000", &total.to_string()], "{text}");
    assert!(
        text.contains(&format!("Total count    = {total:>12}]")),
        "{text}"
    );
    let max: f64 = last[0].parse().expect("a value");
    let reported_max = number(&report["latency_with_lost_us"], "max");
    assert!(
        (max - reported_max).abs() <= reported_max * 2e-3 + 0.1,
        "hgrm max {max} against the report's {reported_max}"
    );

    let plot = std::fs::read_to_string(&svg).expect("--plot written");
    assert!(plot.starts_with("<svg"), "{plot}");
    assert_eq!(long_polylines(&plot, 10), 1, "one run, one line: {plot}");
    let texts = svg_texts(&plot);
    let server = reflector.address.to_string();
    for label in [server.as_str(), "0%", "90%", "99%", "99.9%", "99.99%"] {
        assert!(
            texts.iter().any(|text| text == label),
            "{label:?} in {texts:?}"
        );
    }

    // Two saved runs, compared: one line and one legend entry each.
    let second = dir.path().join("gdnsd.hgrm");
    std::fs::copy(&hgrm, &second).expect("copy");
    let both = dir.path().join("both.svg");
    let output = loadgen(&[
        "plot",
        hgrm.to_str().expect("UTF-8 path"),
        second.to_str().expect("UTF-8 path"),
        "-o",
        both.to_str().expect("UTF-8 path"),
        "--title",
        "dnslb & gdnsd",
    ]);
    assert!(output.status.success(), "{output:?}");
    let plot = std::fs::read_to_string(&both).expect("plot written");
    assert_eq!(long_polylines(&plot, 10), 2, "{plot}");
    let texts = svg_texts(&plot);
    for label in ["dnslb", "gdnsd", "dnslb & gdnsd", "99.999%"] {
        assert!(
            texts.iter().any(|text| text == label),
            "{label:?} in {texts:?}"
        );
    }

    let output = loadgen(&[
        "plot",
        hgrm.to_str().expect("UTF-8 path"),
        "--label",
        "build A",
        "-o",
        both.to_str().expect("UTF-8 path"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let texts = svg_texts(&std::fs::read_to_string(&both).expect("plot written"));
    assert!(texts.iter().any(|text| text == "build A"), "{texts:?}");
}

#[test]
fn plot_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("bad.hgrm");
    std::fs::write(
        &file,
        "       Value     Percentile TotalCount 1/(1-Percentile)\n\n\
         \x20     35.007 0.000000000000          1           1.00\n\
         \x20     40.127 half        500           2.00\n",
    )
    .expect("write histogram");
    let path = file.to_str().expect("UTF-8 path");
    let output = dir.path().join("out.svg");
    let output = output.to_str().expect("UTF-8 path");
    assert_fails(
        &["plot", path, "-o", output],
        &format!("{path}:4: bad percentile \"half\""),
    );
    assert!(!Path::new(output).exists(), "nothing written on error");
    assert_fails(&["plot", path], "missing -o FILE.svg");
    assert_fails(
        &["plot", "/nonexistent/run.hgrm", "-o", output],
        "cannot read histogram file /nonexistent/run.hgrm",
    );
    assert_fails(&["plot", "-o", output], "FILE.hgrm");
    assert_fails(
        &[
            "run",
            "--server",
            "127.0.0.1:53",
            "--plot",
            "/nonexistent/dir/run.svg",
        ],
        "--plot /nonexistent/dir/run.svg: no directory /nonexistent/dir",
    );
}

#[test]
fn text_summary_ends_with_qps() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let server = reflector.address.to_string();
    let output = loadgen(&[
        "run",
        "--server",
        &server,
        "--duration",
        "300ms",
        "--sockets",
        "2",
        "--threads",
        "2",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let last = stdout.trim_end().lines().last().expect("a summary");
    let qps: u64 = last
        .rsplit_once("qps ")
        .and_then(|(_, number)| number.trim().parse().ok())
        .unwrap_or_else(|| panic!("no qps N at the end of {last:?}"));
    assert!(qps > 0, "{stdout}");
}

#[test]
fn ecs_dnssec_and_query_files_round_trip_through_reflect() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("queries.txt");
    std::fs::write(
        &file,
        "# test\nwww.example.com A\n\n; more\nmail.example.com MX\nexample.com TYPE65\n",
    )
    .expect("write queries");
    let report = run_json(
        reflector.address,
        &[
            "--queries",
            file.to_str().expect("UTF-8 path"),
            "--ecs",
            "198.51.100.0/24-198.51.104.0/24",
            "--dnssec",
            "--duration",
            "500ms",
        ],
    );
    assert_well_formed(&report);
    assert_eq!(count(&report, "packets"), 15, "3 queries x 5 subnets");
    assert!(count(&report, "answered") > 0);
    assert_eq!(count(&report, "malformed"), 0, "{report}");
}

#[test]
fn dnslb_answers_noerror_for_a_name_it_has() {
    let _lock = load_lock();
    let server = Dnslb::start();
    let report = run_json(
        server.address(),
        &[
            "--qname",
            "www.example.com",
            "--qtype",
            "A",
            "--duration",
            "1s",
        ],
    );
    assert_well_formed(&report);
    let answered = count(&report, "answered");
    assert!(answered > 0, "{report}");
    let rcodes = report["rcodes"].as_object().unwrap();
    assert_eq!(rcodes.len(), 1, "NOERROR only: {report}");
    assert_eq!(count(&report["rcodes"], "NOERROR"), answered);
    assert_eq!(count(&report, "malformed"), 0, "{report}");
}

#[test]
fn dnslb_answers_nxdomain_for_a_name_it_lacks() {
    let _lock = load_lock();
    let server = Dnslb::start();
    let report = run_json(
        server.address(),
        &[
            "--qname",
            "nope.example.com",
            "--duration",
            "500ms",
            "--edns",
            "1232",
        ],
    );
    assert_well_formed(&report);
    let answered = count(&report, "answered");
    assert!(answered > 0, "{report}");
    assert_eq!(count(&report["rcodes"], "NXDOMAIN"), answered, "{report}");
}

#[test]
fn tcp_against_dnslb_answers() {
    let _lock = load_lock();
    let server = Dnslb::start();
    let report = run_json(
        server.address(),
        &[
            "--tcp",
            "--duration",
            "500ms",
            "--window",
            "32",
            "--sockets",
            "2",
        ],
    );
    assert_well_formed(&report);
    assert_eq!(report["transport"], "tcp");
    assert!(count(&report, "answered") > 0, "{report}");
    assert_eq!(count(&report, "lost"), 0, "{report}");
    assert_eq!(count(&report, "malformed"), 0, "{report}");
    assert_eq!(
        count(&report["rcodes"], "NOERROR"),
        count(&report, "answered")
    );
}

#[test]
fn dropped_queries_are_counted_lost() {
    let _lock = load_lock();
    let server = OddDropper::start();
    let report = run_json(
        server.address,
        &[
            "--timeout",
            "200ms",
            "--duration",
            "1s",
            "--window",
            "16",
            "--sockets",
            "2",
        ],
    );
    assert_well_formed(&report);
    let sent = count(&report, "sent");
    let answered = count(&report, "answered");
    let lost = count(&report, "lost");
    assert!(sent >= 20, "{report}");
    // IDs go up by one per socket, so exactly every other query is dropped (one
    // more answered than lost per socket at most).
    assert!(answered.abs_diff(lost) <= 2, "{report}");
    assert_eq!(count(&report, "malformed"), 0, "{report}");
    assert_eq!(server.received.load(Ordering::Relaxed), sent);
}

#[test]
fn open_loop_keeps_the_asked_rate() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let report = run_json(reflector.address, &["--rate", "2000", "--duration", "1s"]);
    assert_well_formed(&report);
    assert_eq!(report["rate_asked"], 2000);
    assert_eq!(report["mode"], "open");
    let achieved = number(&report, "send_qps");
    assert!((1900.0..=2100.0).contains(&achieved), "{report}");
    let qps = number(&report, "qps");
    assert!((1900.0..=2100.0).contains(&qps), "{report}");
    assert_eq!(count(&report, "lost"), 0, "{report}");
}

#[test]
fn start_at_waits_for_the_given_time_and_not_for_a_past_one() {
    let _lock = load_lock();
    let reflector = Reflector::start();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64
    };
    let start_at = (now_ms() + 800).to_string();
    let began = std::time::Instant::now();
    let report = run_json(
        reflector.address,
        &["--duration", "200ms", "--start-at", &start_at],
    );
    let waited = began.elapsed();
    assert_well_formed(&report);
    assert!(
        waited >= std::time::Duration::from_millis(1000),
        "ended after {waited:?}, before the start time plus the duration"
    );
    // The wait is not part of the measurement.
    let seconds = report["duration_s"].as_f64().expect("duration_s");
    assert!((0.15..0.5).contains(&seconds), "{report}");
    assert!(count(&report, "answered") > 0, "{report}");

    let began = std::time::Instant::now();
    let report = run_json(
        reflector.address,
        &["--duration", "200ms", "--start-at", "1"],
    );
    assert_well_formed(&report);
    assert!(
        began.elapsed() < std::time::Duration::from_millis(800),
        "a start time in the past must start at once"
    );
}

fn assert_fails(args: &[&str], expected: &str) {
    let output = loadgen(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(expected),
        "{args:?}: stderr {stderr:?} lacks {expected:?}"
    );
}

#[test]
fn bad_query_file_line_is_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("queries.txt");
    std::fs::write(
        &file,
        "www.example.com A\n# fine\nwww.example.com BOGUSTYPE\n",
    )
    .expect("write queries");
    let path = file.to_str().expect("UTF-8 path");
    assert_fails(
        &[
            "run",
            "--server",
            "127.0.0.1:53",
            "--queries",
            path,
            "--duration",
            "1s",
        ],
        &format!("{path}:3:"),
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    assert_fails(
        &[
            "run",
            "--server",
            "127.0.0.1:53",
            "--queries",
            "/nonexistent/queries.txt",
        ],
        "cannot read query file /nonexistent/queries.txt",
    );
    assert_fails(&["run", "--server", "127.0.0.1:99999"], "invalid server");
    assert_fails(&["run", "--server", "127.0.0.1"], "invalid server");
    assert_fails(
        &["run", "--server", "127.0.0.1:53", "--qtype", "BOGUS"],
        "unknown query type",
    );
    assert_fails(
        &[
            "run",
            "--server",
            "127.0.0.1:53",
            "--ecs",
            "198.51.100.0/99",
        ],
        "--ecs",
    );
    assert_fails(
        &["run", "--server", "127.0.0.1:53", "--window", "0"],
        "--window",
    );
    assert_fails(
        &["run", "--server", "127.0.0.1:53", "--duration", "5 parsecs"],
        "duration",
    );
}
