//! AF_XDP end to end: `reflect --xdp` and `run --xdp` in two network
//! namespaces of the test's own joined by a veth pair, against each other and
//! against the socket paths, IPv4 and IPv6; then no XDP program may be left on
//! either interface.
//!
//! Needs root (namespaces, BPF, AF_XDP) and `ip` (iproute2): otherwise each
//! test prints why it is skipped and passes. Everything the tests create has a
//! name with this process's id in it and is removed when the test ends, also
//! when it fails: the namespaces (deleting them deletes the veth pair and
//! detaches anything attached to it) and the child processes.
//!
//! Invariants: every test holds [`BED_LOCK`], so one generator runs at a time;
//! every run is short (1 s, `--timeout 1s`), and a reflector child is bounded
//! by `--duration` even if the test forgets it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_dnslb-loadgen");

/// Held by every test: one test bed and one load at a time.
static BED_LOCK: Mutex<()> = Mutex::new(());

fn bed_lock() -> MutexGuard<'static, ()> {
    BED_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SERVER_V4: &str = "198.18.99.1";
const CLIENT_V4: &str = "198.18.99.2";
const SERVER_V6: &str = "fd00:198:18:99::1";
const CLIENT_V6: &str = "fd00:198:18:99::2";
const SERVER_IF: &str = "lgsrv";
const CLIENT_IF: &str = "lgcli";

/// Whether the tests can run here; says why not, loudly, when they cannot.
fn runnable(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    if !root {
        eprintln!("SKIPPED {test}: AF_XDP tests need root (network namespaces, BPF, AF_XDP)");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIPPED {test}: no `ip` command (iproute2)");
        return false;
    }
    true
}

fn ip(args: &[&str]) -> String {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Two namespaces joined by a veth pair (`lgsrv` 198.18.99.1,
/// fd00:198:18:99::1 and `lgcli` .2, ::2), with static neighbour entries both
/// ways and checksum offload off where `ethtool` is installed; deleted on drop.
struct Bed {
    server: String,
    client: String,
}

impl Bed {
    fn up(tag: &str) -> Bed {
        let id = std::process::id();
        let bed = Bed {
            server: format!("lg-xdp-{id}-{tag}-srv"),
            client: format!("lg-xdp-{id}-{tag}-cli"),
        };
        bed.remove();
        ip(&["netns", "add", &bed.server]);
        ip(&["netns", "add", &bed.client]);
        ip(&[
            "link",
            "add",
            SERVER_IF,
            "netns",
            &bed.server,
            "type",
            "veth",
            "peer",
            "name",
            CLIENT_IF,
            "netns",
            &bed.client,
        ]);
        let ethtool = Command::new("ethtool").arg("--version").output().is_ok();
        for (namespace, device, v4, v6) in [
            (&bed.server, SERVER_IF, SERVER_V4, SERVER_V6),
            (&bed.client, CLIENT_IF, CLIENT_V4, CLIENT_V6),
        ] {
            ip(&["-n", namespace, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                namespace,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                device,
            ]);
            ip(&[
                "-n",
                namespace,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                device,
                "nodad",
            ]);
            ip(&["-n", namespace, "link", "set", device, "mtu", "1500", "up"]);
            if ethtool {
                // Received UDP checksums are then real ones; the frames written
                // here carry full checksums either way.
                let _ = Command::new("ip")
                    .args(["netns", "exec", namespace, "ethtool", "-K", device])
                    .args(["tx", "off", "rx", "off"])
                    .output();
            }
        }
        let server_mac = bed.mac(&bed.server, SERVER_IF);
        let client_mac = bed.mac(&bed.client, CLIENT_IF);
        for (namespace, device, neighbour, mac) in [
            (&bed.server, SERVER_IF, CLIENT_V4, &client_mac),
            (&bed.server, SERVER_IF, CLIENT_V6, &client_mac),
            (&bed.client, CLIENT_IF, SERVER_V4, &server_mac),
            (&bed.client, CLIENT_IF, SERVER_V6, &server_mac),
        ] {
            ip(&[
                "-n",
                namespace,
                "neigh",
                "replace",
                neighbour,
                "lladdr",
                mac,
                "dev",
                device,
                "nud",
                "permanent",
            ]);
        }
        bed
    }

    fn mac(&self, namespace: &str, device: &str) -> String {
        let line = ip(&["-n", namespace, "-br", "link", "show", device]);
        line.split_whitespace()
            .nth(2)
            .expect("a MAC in `ip -br link`")
            .to_string()
    }

    fn remove(&self) {
        for namespace in [&self.server, &self.client] {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Asserts that no XDP program is attached to either interface.
    fn assert_no_xdp(&self) {
        for (namespace, device) in [(&self.server, SERVER_IF), (&self.client, CLIENT_IF)] {
            let details = ip(&["-n", namespace, "-d", "link", "show", device]);
            let attached = details.contains("prog/xdp")
                || details
                    .split_whitespace()
                    .any(|word| word.starts_with("xdp"));
            assert!(!attached, "an XDP program is left on {device}: {details}");
        }
    }

    fn command(&self, namespace: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace, BINARY]);
        command
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A `reflect` child in the server namespace, stopped with SIGTERM on
/// [`Reflector::stop`] and killed on drop.
struct Reflector {
    child: Child,
    first_line: String,
    stderr: tempfile::NamedTempFile,
}

impl Reflector {
    fn start(bed: &Bed, args: &[&str]) -> Reflector {
        let stderr = tempfile::NamedTempFile::new().expect("temporary file");
        let mut child = bed
            .command(&bed.server)
            .args(["reflect", "--duration", "30s"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("reopen"))
            .spawn()
            .expect("reflect starts");
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first_line)
            .expect("reflect prints a line");
        let mut reflector = Reflector {
            child,
            first_line,
            stderr,
        };
        if !reflector.first_line.starts_with("listening on ") {
            let stderr = reflector.stop();
            panic!(
                "reflect {args:?} did not start: {:?}\n{stderr}",
                reflector.first_line
            );
        }
        reflector
    }

    /// Stops the reflector with SIGTERM, waits for it (killing it after 5 s)
    /// and returns what it printed on stderr.
    fn stop(&mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `run --json --duration 1s ARGS` in the client namespace and returns
/// the report.
fn run_json(bed: &Bed, args: &[&str]) -> Value {
    let output = bed
        .command(&bed.client)
        .args(["run", "--json", "--duration", "1s", "--timeout", "1s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "run {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("bad JSON {stdout:?}: {error}"))
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {report}"))
}

/// Answers came, at most 1% was lost, nothing was malformed, and the
/// accounting adds up.
fn assert_answered(report: &Value, transport: &str) {
    assert_eq!(report["transport"], transport, "{report}");
    let sent = count(report, "sent");
    let answered = count(report, "answered");
    let lost = count(report, "lost");
    assert!(answered > 0, "{report}");
    assert_eq!(answered + lost, sent, "{report}");
    assert!(lost * 100 <= sent, "more than 1% lost: {report}");
    assert_eq!(count(report, "malformed"), 0, "{report}");
    assert_eq!(count(report, "in_flight"), 0, "{report}");
    assert_eq!(count(&report["rcodes"], "NOERROR"), answered, "{report}");
}

#[test]
fn xdp_generator_against_xdp_reflector() {
    if !runnable("xdp_generator_against_xdp_reflector") {
        return;
    }
    let _lock = bed_lock();
    let bed = Bed::up("a");
    let listen = format!("{SERVER_V4}:5300");
    let mut reflector = Reflector::start(&bed, &["--xdp", SERVER_IF, "--listen", &listen]);
    assert!(
        reflector.first_line.starts_with(&format!(
            "listening on {listen} (xdp {SERVER_IF}, 1 queue, copy"
        )),
        "{:?}",
        reflector.first_line
    );
    // --src and --dst-mac from the interface and the neighbour table.
    let report = run_json(&bed, &["--xdp", CLIENT_IF, "--server", &listen]);
    assert_answered(&report, "xdp");
    assert_eq!(count(&report, "sockets"), 4, "{report}");
    // Open loop, the flags spelled out.
    let server_mac = bed.mac(&bed.server, SERVER_IF);
    let report = run_json(
        &bed,
        &[
            "--xdp",
            CLIENT_IF,
            "--server",
            &listen,
            "--src",
            CLIENT_V4,
            "--dst-mac",
            &server_mac,
            "--rate",
            "20000",
            "--sockets",
            "16",
        ],
    );
    assert_answered(&report, "xdp");
    assert_eq!(report["mode"], "open", "{report}");
    let sent = count(&report, "sent");
    assert!((19_000..=20_001).contains(&sent), "the schedule: {report}");
    let stderr = reflector.stop();
    let reflected: u64 = stderr
        .split_whitespace()
        .skip_while(|word| *word != "reflected")
        .nth(1)
        .and_then(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    assert!(reflected >= sent, "{stderr}");
    bed.assert_no_xdp();
}

#[test]
fn socket_generator_against_xdp_reflector() {
    if !runnable("socket_generator_against_xdp_reflector") {
        return;
    }
    let _lock = bed_lock();
    let bed = Bed::up("b");
    for listen in [format!("{SERVER_V4}:5300"), format!("[{SERVER_V6}]:5300")] {
        let mut reflector = Reflector::start(&bed, &["--xdp", SERVER_IF, "--listen", &listen]);
        // The kernel's UDP sockets take the reflector's frames: the MACs,
        // addresses, ports, lengths and checksums are right.
        let report = run_json(&bed, &["--server", &listen]);
        assert_answered(&report, "udp");
        reflector.stop();
        bed.assert_no_xdp();
    }
    // Without a reflector the filter is gone and the kernel answers itself:
    // port unreachable, so nothing comes back.
    let report = run_json(&bed, &["--server", &format!("{SERVER_V4}:5300")]);
    assert_eq!(count(&report, "answered"), 0, "{report}");
}

#[test]
fn xdp_generator_against_socket_reflector() {
    if !runnable("xdp_generator_against_socket_reflector") {
        return;
    }
    let _lock = bed_lock();
    let bed = Bed::up("c");
    for (listen, source) in [
        (format!("{SERVER_V4}:5300"), CLIENT_V4),
        (format!("[{SERVER_V6}]:5300"), CLIENT_V6),
    ] {
        let mut reflector = Reflector::start(&bed, &["--listen", &listen]);
        // The kernel's UDP socket takes the generator's frames, and its
        // replies reach the generator's AF_XDP socket.
        let report = run_json(
            &bed,
            &["--xdp", CLIENT_IF, "--server", &listen, "--src", source],
        );
        assert_answered(&report, "xdp");
        reflector.stop();
    }
    bed.assert_no_xdp();
}

#[test]
fn xdp_errors_are_clear() {
    // No root needed: these fail before anything is attached.
    let output = Command::new(BINARY)
        .args([
            "run",
            "--server",
            "127.0.0.1:53",
            "--xdp",
            "lo",
            "--threads",
            "2",
        ])
        .args(["--sockets", "2"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--threads 1"),
        "{output:?}"
    );
    let output = Command::new(BINARY)
        .args(["run", "--server", "127.0.0.1:53", "--xdp", "nosuch0x9"])
        .args(["--dst-mac", "02:00:00:00:00:01", "--duration", "1s"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nosuch0x9"), "{stderr}");
    let output = Command::new(BINARY)
        .args(["reflect", "--listen", "127.0.0.1:0", "--xdp", "lo"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a port"), "{stderr}");
    // Loopback resolves no neighbours: the error says what to pass.
    let output = Command::new(BINARY)
        .args(["run", "--server", "192.0.2.1:53", "--xdp", "lo"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no neighbour entry for 192.0.2.1 on lo") && stderr.contains("--dst-mac"),
        "{stderr}"
    );
}
