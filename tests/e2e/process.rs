//! The `dnslb` binary itself, run as a child process: `--version`, JSON
//! logs (the start-up summary, a refused reload naming file, line and key),
//! `check` naming each bad key, the systemd readiness protocol over a real
//! unix datagram socket, and the switch from root to `server.user` seen in
//! `/proc`.
//!
//! The child logs JSON lines (`--log-format json`) to a pipe read by a
//! thread; its listen addresses (port 0 in the config) are read from the
//! start-up summary's `listen` field.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use domain::base::Rtype;
use domain::base::iana::{Class, OptRcode};
use serde_json::Value;

use crate::client;
use crate::server::{write_config, write_config_with};

/// The binary Cargo built for these tests.
const DNSLB: &str = env!("CARGO_BIN_EXE_dnslb");
/// How long a child gets to start, log or answer.
const PATIENCE: Duration = Duration::from_secs(20);

/// A `dnslb serve` child logging JSON lines, killed when dropped.
pub(crate) struct Served {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Served {
    /// Starts `dnslb --log-format json serve -c config` with `environment`.
    fn start(config: &Path, environment: &[(&str, &str)]) -> Served {
        Served::start_wrapped(config, environment, &[])
    }

    /// As [`start`](Self::start), run by `wrapper` (a command and its
    /// arguments that runs the rest: `ip netns exec NS`, `setpriv ...`);
    /// `exec`s it, so the child's pid is dnslb's.
    pub(crate) fn start_wrapped(
        config: &Path,
        environment: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Served {
        let mut command = match wrapper.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(DNSLB);
                command
            }
            None => Command::new(DNSLB),
        };
        command
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in environment {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start dnslb");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Served {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next log line that parses as JSON and satisfies `wanted`; panics
    /// (with every line so far) when none comes in time.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let value: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
                    if wanted(&value) {
                        return value;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!(
                        "no log line {what}; lines so far:\n{}",
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// The start-up summary ("dnslb serving").
    pub(crate) fn summary(&mut self) -> Value {
        self.wait_for("with the start-up summary", |value| {
            value["message"] == "dnslb serving"
        })
    }

    /// Sends `signal` (a name `kill` knows, such as HUP) to the child.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGTERM, then waits for the exit (killing after [`PATIENCE`]).
    fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for dnslb") {
                return status;
            }
            assert!(Instant::now() < deadline, "dnslb did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Served {
    /// Waits for the process to exit on its own (panics after [`PATIENCE`]);
    /// returns its status and every line it logged.
    pub(crate) fn exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for dnslb") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return (status, self.seen.join("\n"));
            }
            assert!(Instant::now() < deadline, "dnslb did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The listen addresses in the start-up summary's `listen` field
/// (`[127.0.0.1:41234, [::1]:41234]`).
fn listen_addresses(summary: &Value) -> Vec<SocketAddr> {
    let listen = summary["listen"].as_str().expect("listen is a string");
    listen
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(", ")
        .map(|address| address.parse().expect("a socket address"))
        .collect()
}

/// Asserts `www.example.com A` is answered over UDP at `address`.
fn assert_answers(address: SocketAddr) {
    let query = client::message(0x5151, "www.example.com", Rtype::A, Class::IN, None);
    let reply = client::udp_raw(address, &query, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer from {address}"));
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    assert_eq!(reply.id(), 0x5151);
    assert_eq!(reply.answer().len(), 2, "{:?}", reply.answer());
}

#[test]
fn version_names_the_package_and_the_git_revision() {
    let output = Command::new(DNSLB)
        .arg("--version")
        .output()
        .expect("run dnslb");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let prefix = format!("dnslb {} (git ", env!("CARGO_PKG_VERSION"));
    let revision = text
        .trim_end()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version output {text:?}"));
    if revision == "unknown" {
        return;
    }
    let hash = revision.strip_suffix("-dirty").unwrap_or(revision);
    assert_eq!(hash.len(), 12, "{revision:?}");
    assert!(
        hash.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{revision:?}"
    );
    // Built from this checkout: the same commit git reports now.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(head) = head {
        if head.status.success() {
            assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), hash);
        }
    }
}

#[test]
fn json_logs_carry_the_start_up_summary_and_a_refused_reload_names_file_line_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = write_config(dir.path(), "");
    let mut served = Served::start(&path, &[]);
    let summary = served.summary();
    assert_eq!(summary["level"], "INFO");
    assert_eq!(summary["workers"], 1);
    assert_eq!(summary["zones"], 2);
    assert_eq!(summary["services"], 0);
    assert!(
        summary["records"]
            .as_u64()
            .is_some_and(|records| records > 0)
    );
    assert!(summary["cpus"].is_string());
    assert_eq!(summary["admin"], "none");
    assert!(summary["user"].is_string());
    let addresses = listen_addresses(&summary);
    assert_eq!(addresses.len(), 2);
    for address in &addresses {
        assert!(address.ip().is_loopback());
        assert_ne!(address.port(), 0);
        assert_answers(*address);
    }

    // Line 4 of the config (see `write_config`) becomes out of bounds.
    let text = std::fs::read_to_string(&path).expect("read config");
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[3], "");
    lines[3] = "udp_payload = 1";
    std::fs::write(&path, lines.join("\n")).expect("write config");
    served.signal("HUP");
    let refused = served.wait_for("refusing the reload", |value| value["level"] == "ERROR");
    assert_eq!(refused["key"], "server.udp_payload", "{refused}");
    assert_eq!(refused["line"], 4, "{refused}");
    assert_eq!(refused["file"], path.display().to_string(), "{refused}");
    let message = refused["message"].as_str().expect("a message");
    let located = format!("{}:4: server.udp_payload: ", path.display());
    assert!(
        message.starts_with("reload refused: ") && message.contains(&located),
        "{message}"
    );
    // The running config stays.
    assert_answers(addresses[0]);
    let status = served.stop();
    assert!(status.success(), "{status}");
}

/// Receives one notification (waiting up to [`PATIENCE`]).
fn notification(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 4096];
    let length = socket.recv(&mut buffer).expect("a notification in time");
    String::from_utf8(buffer[..length].to_vec()).expect("UTF-8")
}

#[test]
fn ready_is_notified_once_serving_and_reload_and_stop_follow() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = write_config(dir.path(), "");
    let socket_path = dir.path().join("notify.socket");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    let mut served = Served::start(
        &path,
        &[("NOTIFY_SOCKET", socket_path.to_str().expect("UTF-8 path"))],
    );
    let ready = notification(&socket);
    let lines: Vec<&str> = ready.lines().collect();
    assert_eq!(lines[0], "READY=1", "{ready}");
    assert!(
        lines.contains(&format!("MAINPID={}", served.pid()).as_str()),
        "{ready}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("STATUS=serving 2 zones")),
        "{ready}"
    );
    // By READY=1 the summary was logged and every address answers.
    let addresses = listen_addresses(&served.summary());
    for address in addresses {
        assert_answers(address);
    }

    served.signal("HUP");
    let reloading = notification(&socket);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let again = notification(&socket);
    assert!(again.starts_with("READY=1\n"), "{again}");
    assert!(again.contains("(generation 2)"), "{again}");

    let status = served.stop();
    assert!(status.success(), "{status}");
    assert!(notification(&socket).starts_with("STOPPING=1"));
}

/// The `Uid:`, `Gid:`, `Groups:` and `CapEff:` lines of one
/// `/proc/<pid>/task/<tid>/status`.
fn credentials(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|line| {
            ["Uid:", "Gid:", "Groups:", "CapEff:"]
                .iter()
                .any(|key| line.starts_with(key))
        })
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn started_as_root_it_serves_as_server_user_in_every_thread() {
    if !dnslb::sys::privilege::current().is_root() {
        eprintln!("skipped: switching to server.user needs the tests to run as root");
        return;
    }
    let Some(nobody) = dnslb::sys::privilege::user_by_name("nobody").expect("look up nobody")
    else {
        eprintln!("skipped: this system has no user nobody");
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = write_config_with(
        dir.path(),
        "user = \"nobody\"",
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n",
    );
    let mut served = Served::start(&path, &[]);
    let switched = served.wait_for("switching user", |value| {
        value["message"] == "switched from root to server.user"
    });
    assert_eq!(switched["uid"], nobody.uid);
    let summary = served.summary();
    assert_eq!(
        summary["user"],
        format!("nobody (uid {}, gid {})", nobody.uid, nobody.gid)
    );
    let addresses = listen_addresses(&summary);
    for &address in &addresses {
        assert_answers(address);
    }

    let (uid, gid) = (nobody.uid, nobody.gid);
    let expected = [
        format!("Uid: {uid} {uid} {uid} {uid}"),
        format!("Gid: {gid} {gid} {gid} {gid}"),
    ];
    let tasks = std::fs::read_dir(format!("/proc/{}/task", served.pid())).expect("task list");
    let mut threads = 0;
    for task in tasks {
        let task = task.expect("a task entry");
        let status =
            std::fs::read_to_string(task.path().join("status")).expect("a thread's status");
        let lines = credentials(&status);
        for line in &expected {
            assert!(lines.contains(line), "{:?}: {lines:?}", task.path());
        }
        assert!(
            lines.contains(&"CapEff: 0000000000000000".to_owned()),
            "capabilities kept in {:?}: {lines:?}",
            task.path()
        );
        assert!(
            !lines.iter().any(
                |line| line.starts_with("Groups:") && line.split(' ').any(|group| group == "0")
            ),
            "group root kept in {:?}: {lines:?}",
            task.path()
        );
        threads += 1;
    }
    // The main thread, one UDP worker, TCP, health and admin.
    assert!(threads >= 5, "{threads} threads");
    let status = served.stop();
    assert!(status.success(), "{status}");
}

/// `packaging/`, shipped next to the binary.
const PACKAGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging");

#[test]
fn the_packaged_config_loads_with_the_example_zone() {
    let text = std::fs::read_to_string(Path::new(PACKAGING).join("dnslb.toml"))
        .expect("packaging/dnslb.toml");
    assert!(text.contains("\nuser = \"dnslb\"\n"));
    // As installed by the README's recipe, with a user every system has.
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("zones")).expect("zones directory");
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        crate::server::EXAMPLE_ZONE,
    )
    .expect("write the zone");
    let path = dir.path().join("dnslb.toml");
    std::fs::write(&path, text.replace("user = \"dnslb\"", "user = \"root\""))
        .expect("write the config");
    let config = dnslb::config::load(&path).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.server.run_as.map(|run_as| run_as.uid), Some(0));
    let (passed, stderr) = check(&path);
    assert!(passed, "{stderr}");
    assert_eq!(config.xdp, None);
    // Its commented-out [xdp] table loads once enabled.
    let with_xdp = std::fs::read_to_string(&path)
        .expect("read the config back")
        .replace("\n# [xdp]\n# interface = ", "\n[xdp]\ninterface = ");
    std::fs::write(&path, with_xdp).expect("write the config");
    let config = dnslb::config::load(&path).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.xdp.map(|xdp| xdp.interface).as_deref(), Some("eth0"));
}

/// Runs `dnslb check` on `path`: whether it passed, and its standard error.
fn check(path: &Path) -> (bool, String) {
    let output = Command::new(DNSLB)
        .arg("check")
        .arg(path)
        .output()
        .expect("run dnslb check");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_validates_the_xdp_table_naming_each_bad_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Checking touches no interface: any valid name passes.
    let good = "\n[xdp]\ninterface = \"dnslb-none0\"\nqueues = [0]\nzero_copy = \"off\"\n";
    let path = write_config_with(dir.path(), "cpus = [0]", good);
    let (passed, stderr) = check(&path);
    assert!(passed, "{stderr}");
    let bad = "\n[xdp]\ninterface = \"eth/0\"\nqueues = [0, 1]\nring_size = 100\n";
    let path = write_config_with(dir.path(), "cpus = [0]", bad);
    let text = std::fs::read_to_string(&path).expect("read the config back");
    let line_of = |start: &str| {
        text.lines()
            .position(|line| line.starts_with(start))
            .map(|index| index + 1)
            .expect("the line is in the config")
    };
    let (passed, stderr) = check(&path);
    assert!(!passed, "{stderr}");
    let file = path.display();
    for (key, line) in [
        ("xdp.interface", line_of("interface =")),
        ("xdp.queues", line_of("queues =")),
        ("xdp.ring_size", line_of("ring_size =")),
    ] {
        let expected = format!("error: {file}:{line}: {key}: ");
        assert!(
            stderr.lines().any(|error| error.starts_with(&expected)),
            "no {expected:?} in {stderr}"
        );
    }
    assert!(stderr.contains("server.cpus lists only 1 CPU"), "{stderr}");
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn check_validates_secondaries_tsig_and_catalogs_naming_each_bad_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = "\n[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\n\
                secret = \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n\
                [[zone]]\nname = \"example.net\"\nprimaries = [\"192.0.2.53\"]\ntsig = \"xfr-key\"\n\
                [[catalog]]\nname = \"catalog.example\"\nprimaries = [\"192.0.2.53:53\"]\n";
    let path = write_config_with(dir.path(), "state_dir = \"state\"", good);
    let (passed, stderr) = check(&path);
    assert!(passed, "{stderr}");
    let bad = "\n[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-md5\"\n\
               secret = \"not base64!\"\n\
               [[zone]]\nname = \"example.net\"\nfile = \"x.zone\"\nprimaries = [\"192.0.2.53\"]\n\
               [[zone]]\nname = \"example.org\"\nprimaries = [\"192.0.2.53\"]\ntsig = \"other-key\"\n";
    let path = write_config_with(dir.path(), "", bad);
    let text = std::fs::read_to_string(&path).expect("read the config back");
    let line_of = |start: &str| {
        text.lines()
            .position(|line| line.starts_with(start))
            .map(|index| index + 1)
            .expect("the line is in the config")
    };
    let (passed, stderr) = check(&path);
    assert!(!passed, "{stderr}");
    let file = path.display();
    for (key, line) in [
        ("tsig[0].algorithm", line_of("algorithm = \"hmac-md5\"")),
        ("tsig[0].secret", line_of("secret = \"not base64!\"")),
        ("zone[3].tsig", line_of("tsig = \"other-key\"")),
    ] {
        let expected = format!("error: {file}:{line}: {key}: ");
        assert!(
            stderr.lines().any(|error| error.starts_with(&expected)),
            "no {expected:?} in {stderr}"
        );
    }
    assert!(
        stderr
            .lines()
            .any(|error| error.contains("zone[2]") && error.contains("primaries")),
        "a zone with both file and primaries is named: {stderr}"
    );
}

#[test]
fn the_systemd_unit_is_notify_and_verifies() {
    let unit = std::fs::read_to_string(Path::new(PACKAGING).join("dnslb.service"))
        .expect("packaging/dnslb.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/dnslb serve --config /etc/dnslb/dnslb.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "User=dnslb",
    ] {
        assert!(unit.lines().any(|unit_line| unit_line == line), "no {line}");
    }
    if let Some(complaints) = verify_unit(&unit, None) {
        assert!(complaints.is_empty(), "{complaints}");
    }
}

/// `systemd-analyze verify` on `unit` with `drop_in` (as
/// `dnslb.service.d/drop-in.conf`) when given: its complaints, or `None`
/// (skipped, and said so) where systemd-analyze is missing.
fn verify_unit(unit: &str, drop_in: Option<&str>) -> Option<String> {
    // systemd-analyze wants the binary where ExecStart= says: verify a copy
    // that names the one just built.
    let dir = tempfile::tempdir().expect("temporary directory");
    let copy = dir.path().join("dnslb.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/dnslb", DNSLB)).expect("write the copy");
    if let Some(drop_in) = drop_in {
        // Beside the unit: verify adds the unit's directory to the search
        // path, drop-in directories included.
        let directory = dir.path().join("dnslb.service.d");
        std::fs::create_dir(&directory).expect("drop-in directory");
        std::fs::write(directory.join("drop-in.conf"), drop_in).expect("write the drop-in");
    }
    match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
    {
        Err(error) => {
            eprintln!("skipped systemd-analyze verify: {error}");
            None
        }
        Ok(output) => {
            let complaints = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{complaints}");
            Some(complaints.trim().to_owned())
        }
    }
}

#[test]
fn the_xdp_drop_in_adds_what_xdp_needs_and_verifies() {
    let unit = std::fs::read_to_string(Path::new(PACKAGING).join("dnslb.service"))
        .expect("packaging/dnslb.service");
    let drop_in = std::fs::read_to_string(Path::new(PACKAGING).join("dnslb-xdp.conf"))
        .expect("packaging/dnslb-xdp.conf");
    for line in [
        "[Service]",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_BPF CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_BPF CAP_NET_RAW",
        "LimitMEMLOCK=infinity",
        "RestrictAddressFamilies=AF_XDP",
        "SystemCallFilter=bpf",
    ] {
        assert!(
            drop_in.lines().any(|drop_in_line| drop_in_line == line),
            "no {line}"
        );
    }
    // It adds to the unit's lists; an empty assignment would reset one.
    let settings = drop_in
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('[') && !line.is_empty());
    for setting in settings {
        assert!(!setting.ends_with('='), "{setting} resets the unit's list");
    }
    if let Some(complaints) = verify_unit(&unit, Some(&drop_in)) {
        assert!(complaints.is_empty(), "{complaints}");
        // The drop-in was read: a bad key in it is reported.
        let bad = format!("{drop_in}NoSuchSetting=1\n");
        let complaints = verify_unit(&unit, Some(&bad)).unwrap_or_default();
        assert!(complaints.contains("NoSuchSetting"), "{complaints}");
    }
}

#[test]
fn started_as_another_user_it_refuses_to_run_as_server_user() {
    if !dnslb::sys::privilege::current().is_root() {
        eprintln!("skipped: starting dnslb as nobody needs the tests to run as root");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let Some(nobody) = dnslb::sys::privilege::user_by_name("nobody").expect("look up nobody")
    else {
        eprintln!("skipped: this system has no user nobody");
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    // nobody must be able to read the config and the zones.
    let path = write_config(dir.path(), "user = \"root\"");
    for (entry, mode) in [
        (dir.path().to_path_buf(), 0o755),
        (path.clone(), 0o644),
        (dir.path().join("example.com.zone"), 0o644),
        (dir.path().join("second.test.zone"), 0o644),
    ] {
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let output = Command::new("setpriv")
        .arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .arg("--clear-groups")
        .arg(DNSLB)
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&path)
        .env_remove("RUST_LOG")
        .output()
        .expect("run setpriv");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error: Value = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|value| value["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR line in {stderr}"));
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.starts_with(&format!(
            "{}: server.user: the server runs as uid {}",
            path.display(),
            nobody.uid
        )),
        "{message}"
    );
}
