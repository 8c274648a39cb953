//! A real Knot DNS primary for end-to-end tests of zone transfers: `knotd`
//! run as a child process on a loopback port, everything it writes (config,
//! zone files, journal, timer and KASP databases, control socket, log) kept
//! in one temporary directory.
//!
//! [`Knot::start`] writes `knot.conf` from [`KnotOptions`] and starts
//! `knotd` in the foreground as the current user (root or not: no `user:`
//! is configured, so it never switches user). Knot is set up as a primary
//! that secondaries (dnslb) transfer from:
//! - every zone is loaded with `zonefile-load: difference` and
//!   `journal-content: changes`, and never written back
//!   (`zonefile-sync: -1`): a zone file rewritten with [`Knot::set_zone`]
//!   (with a higher serial) and reloaded with [`Knot::reload_zone`] becomes
//!   a journal changeset, served to IXFR queries in the incremental form;
//! - transfers (AXFR and IXFR) are allowed from 127.0.0.1, and only with
//!   the TSIG key when [`KnotOptions::tsig`] is set (others get NOTAUTH);
//! - on every change of a zone Knot sends NOTIFY to each of
//!   [`KnotOptions::notify`], signed with the key when set, the zone's
//!   first load included. Knot 3.2 sends NOTIFY over TCP, and waits for
//!   the answer (up to 5 s) before the zone's next event, a reload
//!   included; a failed NOTIFY is retried later. A secondary must take
//!   NOTIFY over TCP as well as UDP;
//! - with [`KnotOptions::catalog`], Knot generates that catalog zone
//!   (RFC 9432, `catalog-role: generate`) listing the zones marked
//!   [`KnotZone::member`]: one `<hash>.zones.<catalog> PTR <member>` each.
//!   Knot serves the catalog to transfers only (queries are REFUSED).
//!   [`Knot::add_member`] and [`Knot::remove_member`] change the membership
//!   by rewriting the config and `knotc reload`, and wait until the catalog's
//!   serial (Knot's, a Unix time) has changed;
//! - serials are the zone files' own (`serial-policy` is left alone).
//!
//! [`Knot::stop`] and [`Knot::start_again`] take Knot down and bring it back
//! on the same port with the same directory (zones, journal), for tests of
//! a primary that goes away and returns. The child is killed when the
//! [`Knot`] is dropped.
//!
//! Without `knotd`, `knotc` or `kdig` installed, [`Knot::start`] says so
//! loudly on standard error and returns `None`: the test skips. CI installs
//! them (`.ci/run`: the Debian packages `knot` and `knot-dnsutils`).
//!
//! [`transfer`] reads an AXFR or IXFR (unsigned) with the project's test
//! client; [`Knot::kdig`] runs `kdig` against Knot, signed with the key
//! when there is one.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use domain::base::iana::{Class, OptRcode, Rtype};
use domain::base::{MessageBuilder, Name, Serial, Ttl};
use domain::rdata::Soa;

use crate::client::{self, Reply};
use crate::server::wait_until;

/// How long Knot gets to start, reload or show a change.
const PATIENCE: Duration = Duration::from_secs(10);

/// A zone Knot serves from a zone file.
#[derive(Clone, Debug)]
pub struct KnotZone {
    /// The zone's name, with or without the final dot.
    pub name: String,
    /// The zone file's text (`$ORIGIN` or absolute names; a SOA at the
    /// apex), such as [`zone_text`] writes.
    pub text: String,
    /// Whether the zone is a member of [`KnotOptions::catalog`].
    pub member: bool,
}

impl KnotZone {
    /// A zone that is no catalog member.
    pub fn new(name: &str, text: &str) -> KnotZone {
        KnotZone {
            name: name.to_owned(),
            text: text.to_owned(),
            member: false,
        }
    }

    /// A member of the generated catalog zone.
    pub fn member(name: &str, text: &str) -> KnotZone {
        KnotZone {
            member: true,
            ..KnotZone::new(name, text)
        }
    }
}

/// A TSIG key (RFC 8945) Knot requires for transfers and signs NOTIFY with.
#[derive(Clone, Debug)]
pub struct KnotKey {
    /// The key's name, such as `xfr-key`.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The shared secret, base64.
    pub secret_base64: String,
}

impl KnotKey {
    /// An `hmac-sha256` key named `name` with a fixed 32-byte test secret.
    pub fn test(name: &str) -> KnotKey {
        KnotKey {
            name: name.to_owned(),
            algorithm: "hmac-sha256".to_owned(),
            // base64 of "dnslb-knot-test-secret-32-bytes!".
            secret_base64: "ZG5zbGIta25vdC10ZXN0LXNlY3JldC0zMi1ieXRlcyE=".to_owned(),
        }
    }

    /// The key as `kdig -y` takes it: `algorithm:name:secret`.
    pub fn kdig_argument(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret_base64)
    }
}

/// What a [`Knot`] serves and to whom.
#[derive(Clone, Debug, Default)]
pub struct KnotOptions {
    /// The zones, each from its own zone file.
    pub zones: Vec<KnotZone>,
    /// When set, transfers require this key and NOTIFYs are signed with it.
    pub tsig: Option<KnotKey>,
    /// The secondaries Knot sends NOTIFY to when a zone changes.
    pub notify: Vec<SocketAddr>,
    /// The name of a catalog zone Knot generates from the zones marked
    /// [`KnotZone::member`].
    pub catalog: Option<String>,
}

/// A running (or stopped) `knotd` serving on `127.0.0.1:port`, UDP and TCP.
#[derive(Debug)]
pub struct Knot {
    /// Holds everything Knot reads and writes; removed when dropped (after
    /// the child is killed, as fields drop in order after `Drop::drop`).
    dir: tempfile::TempDir,
    port: u16,
    programs: Programs,
    tsig: Option<KnotKey>,
    notify: Vec<SocketAddr>,
    catalog: Option<String>,
    state: Mutex<State>,
}

/// What changes while Knot runs.
#[derive(Debug)]
struct State {
    /// `knotd`, while it runs.
    child: Option<Child>,
    /// The zones in the config, in order: the options' zones and added
    /// members, less removed members.
    zones: Vec<KnotZone>,
}

/// Why `knotd` did not start.
#[derive(Debug)]
enum Launch {
    /// Another socket holds the port (knotd logged "cannot bind").
    PortTaken,
    /// Anything else, said.
    Failed(String),
}

/// Where the Knot programs are.
#[derive(Clone, Debug)]
struct Programs {
    knotd: PathBuf,
    knotc: PathBuf,
    kdig: PathBuf,
}

impl Programs {
    /// Finds all three, or names the first missing.
    fn find() -> Result<Programs, &'static str> {
        Ok(Programs {
            knotd: program("knotd").ok_or("knotd")?,
            knotc: program("knotc").ok_or("knotc")?,
            kdig: program("kdig").ok_or("kdig")?,
        })
    }
}

/// `name` in `PATH` or in the sbin directories (where Debian puts `knotd`,
/// and which a non-root `PATH` may lack).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

/// `name` with the final dot, as Knot's config spells zone names.
fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// `name` without the final dot, lowercased: a file name and a key for
/// comparisons.
fn relative(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A port free for both UDP and TCP on 127.0.0.1 when this returns (the
/// kernel's choice for UDP, checked for TCP). Another process may still
/// take it before Knot binds; [`Knot::start`] then fails loudly.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP in 100 tries")
}

impl Knot {
    /// Starts `knotd` on a free port with `options`, and waits until every
    /// zone (and the catalog) answers SOA. `None`, said loudly on standard
    /// error, when Knot is not installed; panics with Knot's log when it
    /// does not start. A port taken between [`free_port`] and Knot's bind
    /// is replaced by another (up to five tries).
    pub fn start(options: KnotOptions) -> Option<Knot> {
        for _ in 1..5 {
            let knot = Knot::prepare(free_port(), options.clone())?;
            match knot.launch() {
                Ok(()) => return Some(knot),
                Err(Launch::PortTaken) => continue,
                Err(Launch::Failed(why)) => panic!("{why}:\n{}", knot.log()),
            }
        }
        Knot::start_on(free_port(), options)
    }

    /// As [`start`](Self::start), on `port` (panics when it is taken).
    pub fn start_on(port: u16, options: KnotOptions) -> Option<Knot> {
        let knot = Knot::prepare(port, options)?;
        knot.start_again();
        Some(knot)
    }

    /// The directory, zone files and config for `options` on `port`;
    /// `None`, said loudly, when Knot is not installed.
    fn prepare(port: u16, options: KnotOptions) -> Option<Knot> {
        let programs = match Programs::find() {
            Ok(programs) => programs,
            Err(missing) => {
                eprintln!(
                    "SKIPPED: {missing} (Knot DNS) is not installed; the tests against a real \
                     Knot primary need knotd, knotc and kdig (apt-get install knot knot-dnsutils)"
                );
                return None;
            }
        };
        if let Some(catalog) = &options.catalog {
            assert!(
                !options
                    .zones
                    .iter()
                    .any(|zone| relative(&zone.name) == relative(catalog)),
                "the catalog {catalog} is generated: it is not one of the zones"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("knot")
            .tempdir()
            .expect("temporary directory");
        for directory in ["zones", "db"] {
            std::fs::create_dir(dir.path().join(directory)).expect("create a Knot directory");
        }
        let knot = Knot {
            dir,
            port,
            programs,
            tsig: options.tsig,
            notify: options.notify,
            catalog: options.catalog,
            state: Mutex::new(State {
                child: None,
                zones: Vec::new(),
            }),
        };
        for zone in &options.zones {
            knot.set_zone(&zone.name, &zone.text);
        }
        knot.state().zones = options.zones;
        knot.write_config();
        Some(knot)
    }

    /// The address Knot listens on, UDP and TCP: `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The temporary directory holding Knot's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TSIG key transfers need, when there is one.
    pub fn tsig(&self) -> Option<&KnotKey> {
        self.tsig.as_ref()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn zone_file(&self, name: &str) -> PathBuf {
        self.dir()
            .join("zones")
            .join(format!("{}.zone", relative(name)))
    }

    fn config_path(&self) -> PathBuf {
        self.dir().join("knot.conf")
    }

    fn socket_path(&self) -> PathBuf {
        self.dir().join("knot.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("knot.log")
    }

    /// Writes `knot.conf` for the current zones.
    fn write_config(&self) {
        let text = self.config_text(&self.state().zones);
        std::fs::write(self.config_path(), text).expect("write knot.conf");
    }

    /// Knot's config: see the module documentation.
    fn config_text(&self, zones: &[KnotZone]) -> String {
        let dir = self.dir().display();
        let mut text = format!(
            "server:\n\
             \x20   rundir: \"{dir}\"\n\
             \x20   pidfile: \"{dir}/knot.pid\"\n\
             \x20   listen: 127.0.0.1@{port}\n\
             \x20   udp-workers: 2\n\
             \x20   tcp-workers: 2\n\
             \x20   background-workers: 2\n\
             log:\n\
             \x20 - target: \"{dir}/knot.log\"\n\
             \x20   any: debug\n\
             database:\n\
             \x20   storage: \"{dir}/db\"\n\
             control:\n\
             \x20   listen: \"{dir}/knot.sock\"\n",
            port = self.port,
        );
        let key_line = match &self.tsig {
            Some(key) => {
                let _ = write!(
                    text,
                    "key:\n\
                     \x20 - id: {}\n\
                     \x20   algorithm: {}\n\
                     \x20   secret: {}\n",
                    key.name, key.algorithm, key.secret_base64
                );
                format!("    key: {}\n", key.name)
            }
            None => String::new(),
        };
        if !self.notify.is_empty() {
            text.push_str("remote:\n");
            for (index, address) in self.notify.iter().enumerate() {
                let _ = write!(
                    text,
                    "  - id: secondary{index}\n    address: {}@{}\n{key_line}",
                    address.ip(),
                    address.port()
                );
            }
        }
        let _ = write!(
            text,
            "acl:\n\
             \x20 - id: transfer\n\
             \x20   address: [127.0.0.1, ::1]\n\
             \x20   action: transfer\n\
             {key_line}\
             template:\n\
             \x20 - id: default\n\
             \x20   storage: \"{dir}/zones\"\n\
             \x20   zonefile-sync: -1\n\
             \x20   zonefile-load: difference\n\
             \x20   journal-content: changes\n\
             \x20   acl: transfer\n"
        );
        if !self.notify.is_empty() {
            let remotes: Vec<String> = (0..self.notify.len())
                .map(|index| format!("secondary{index}"))
                .collect();
            let _ = writeln!(text, "    notify: [{}]", remotes.join(", "));
        }
        text.push_str("zone:\n");
        if let Some(catalog) = &self.catalog {
            let _ = write!(
                text,
                "  - domain: {}\n    catalog-role: generate\n",
                absolute(catalog)
            );
        }
        for zone in zones {
            let _ = write!(
                text,
                "  - domain: {}\n    file: \"{}\"\n",
                absolute(&zone.name),
                self.zone_file(&zone.name).display()
            );
            if zone.member {
                let catalog = self
                    .catalog
                    .as_deref()
                    .expect("a member zone needs KnotOptions::catalog");
                let _ = write!(
                    text,
                    "    catalog-role: member\n    catalog-zone: {}\n",
                    absolute(catalog)
                );
            }
        }
        text
    }

    /// Starts `knotd` on the same port and directory (the zones and the
    /// journal kept) and waits until every zone answers SOA; panics with
    /// the log when it does not. Does nothing while Knot runs.
    pub fn start_again(&self) {
        match self.launch() {
            Ok(()) => {}
            Err(Launch::PortTaken) => panic!(
                "port {} is taken: knotd cannot bind it:\n{}",
                self.port,
                self.log()
            ),
            Err(Launch::Failed(why)) => panic!("{why}:\n{}", self.log()),
        }
    }

    /// Starts `knotd` unless it runs, and waits until every zone answers
    /// SOA and the control socket is there.
    fn launch(&self) -> Result<(), Launch> {
        let mut state = self.state();
        if state.child.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.socket_path());
        // What this start logs: the log past its length now.
        let logged = self
            .log_path()
            .metadata()
            .map_or(0, |metadata| metadata.len());
        let since_start = || {
            let log = std::fs::read(self.log_path()).unwrap_or_default();
            let start = usize::try_from(logged)
                .expect("a log in memory")
                .min(log.len());
            String::from_utf8_lossy(&log[start..]).into_owned()
        };
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("knotd.out"))
            .expect("open knotd.out");
        let child = Command::new(&self.programs.knotd)
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone knotd.out"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", self.programs.knotd.display()));
        state.child = Some(child);
        let mut names: Vec<String> = state.zones.iter().map(|zone| zone.name.clone()).collect();
        names.extend(self.catalog.clone());
        let deadline = Instant::now() + PATIENCE;
        loop {
            let child = state.child.as_mut().expect("just started");
            if let Some(status) = child.try_wait().expect("wait for knotd") {
                state.child = None;
                if since_start().contains(&format!("cannot bind address 127.0.0.1@{}", self.port)) {
                    return Err(Launch::PortTaken);
                }
                return Err(Launch::Failed(format!("knotd exited ({status}) on start")));
            }
            // knotc needs the control socket, bound after the zones load
            // (and the catalog serial is read with knotc).
            if self.socket_path().exists() && names.iter().all(|name| self.serial(name).is_some()) {
                return Ok(());
            }
            // A zone that does not load keeps Knot running without it.
            if since_start().contains("zone event 'load' failed") {
                return Err(Launch::Failed("Knot failed to load a zone".to_owned()));
            }
            if Instant::now() >= deadline {
                return Err(Launch::Failed(format!(
                    "Knot did not serve {names:?} within {PATIENCE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops `knotd` (SIGTERM, then SIGKILL after [`PATIENCE`]) and waits
    /// for it to exit; the directory stays for [`start_again`](Self::start_again).
    pub fn stop(&self) {
        let Some(mut child) = self.state().child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().expect("wait for knotd").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether `knotd` runs (started and not exited).
    pub fn is_running(&self) -> bool {
        let mut state = self.state();
        match state.child.as_mut() {
            Some(child) => child.try_wait().expect("wait for knotd").is_none(),
            None => false,
        }
    }

    /// Rewrites the zone file of `name` with `text` (atomically: Knot never
    /// reads half a file). Knot reads it on [`reload_zone`](Self::reload_zone).
    pub fn set_zone(&self, name: &str, text: &str) {
        let path = self.zone_file(name);
        let temporary = path.with_extension("zone.new");
        std::fs::write(&temporary, text).expect("write the zone file");
        std::fs::rename(&temporary, &path).expect("replace the zone file");
    }

    /// `knotc zone-reload name`, then waits until Knot serves a serial other
    /// than the one before (the zone file's, which must be higher); returns
    /// it. Panics with the log when the serial does not change.
    pub fn reload_zone(&self, name: &str) -> u32 {
        let before = self.serial(name);
        self.knotc(&["zone-reload", &absolute(name)]);
        self.wait_for_new_serial(name, before)
    }

    /// Sets and reloads `name` in one step: [`set_zone`](Self::set_zone)
    /// then [`reload_zone`](Self::reload_zone).
    pub fn change_zone(&self, name: &str, text: &str) -> u32 {
        self.set_zone(name, text);
        self.reload_zone(name)
    }

    /// `knotc zone-notify name`: Knot sends NOTIFY for the zone's current
    /// serial to every [`KnotOptions::notify`] secondary again, as after a
    /// change. Returns once Knot has the command, not waiting for the
    /// secondaries (a failed NOTIFY is only logged).
    pub fn send_notify(&self, name: &str) {
        self.knotc_unblocked(&["zone-notify", &absolute(name)]);
    }

    /// Adds `zone` (marked member whatever its flag) to the catalog: writes
    /// its zone file and the config, `knotc reload`s, and waits until the
    /// zone answers and the catalog's serial changed.
    pub fn add_member(&self, zone: KnotZone) {
        let catalog = self.catalog.clone().expect("add_member needs a catalog");
        let before = self.serial(&catalog);
        self.set_zone(&zone.name, &zone.text);
        let name = zone.name.clone();
        {
            let mut state = self.state();
            state
                .zones
                .retain(|known| relative(&known.name) != relative(&zone.name));
            state.zones.push(KnotZone {
                member: true,
                ..zone
            });
        }
        self.write_config();
        self.knotc(&["reload"]);
        self.wait_for_new_serial(&catalog, before);
        assert!(
            wait_until(PATIENCE, || self.serial(&name).is_some()),
            "Knot does not serve the new member {name}:\n{}",
            self.log()
        );
    }

    /// Removes the member `name` from the config (Knot stops serving it),
    /// `knotc reload`s, and waits until the catalog's serial changed.
    pub fn remove_member(&self, name: &str) {
        let catalog = self.catalog.clone().expect("remove_member needs a catalog");
        let before = self.serial(&catalog);
        {
            let mut state = self.state();
            let count = state.zones.len();
            state
                .zones
                .retain(|zone| !(zone.member && relative(&zone.name) == relative(name)));
            assert_eq!(state.zones.len() + 1, count, "{name} is no member");
        }
        self.write_config();
        self.knotc(&["reload"]);
        self.wait_for_new_serial(&catalog, before);
    }

    /// Waits until `zone`'s serial is not `before`; returns the new one.
    fn wait_for_new_serial(&self, zone: &str, before: Option<u32>) -> u32 {
        let mut now = None;
        let changed = wait_until(PATIENCE, || {
            now = self.serial(zone);
            now.is_some() && now != before
        });
        assert!(
            changed,
            "{zone}: Knot still serves serial {before:?} (a zone file's serial must grow):\n{}",
            self.log()
        );
        now.expect("a serial")
    }

    /// The serial Knot serves for `zone`, or `None` when Knot does not run
    /// or does not serve the zone. A SOA query over UDP; for the catalog,
    /// which Knot answers only to transfers (REFUSED to queries), the SOA
    /// read with `knotc zone-read`.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        if self
            .catalog
            .as_deref()
            .is_some_and(|catalog| relative(catalog) == relative(zone))
        {
            return self.catalog_serial(zone);
        }
        let query = client::message(0x4b4e, zone, Rtype::SOA, Class::IN, None);
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("read timeout");
        socket.send_to(&query, self.addr()).ok()?;
        let mut buffer = [0u8; 65535];
        // Refused (Knot down) or timed out: no serial.
        let (length, _) = socket.recv_from(&mut buffer).ok()?;
        let reply = Reply::new(&buffer[..length]);
        if reply.id() != 0x4b4e || reply.rcode() != OptRcode::NOERROR || !reply.authoritative() {
            return None;
        }
        reply.answer().iter().find_map(|line| soa_serial(line))
    }

    /// The catalog's serial from `knotc zone-read CATALOG @ SOA`, which
    /// prints `[catalog.] catalog. 0 SOA mname rname serial ...`.
    fn catalog_serial(&self, catalog: &str) -> Option<u32> {
        let output = Command::new(&self.programs.knotc)
            .arg("--socket")
            .arg(self.socket_path())
            .args([
                "--timeout",
                "2",
                "zone-read",
                &absolute(catalog),
                "@",
                "SOA",
            ])
            .output()
            .expect("run knotc");
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        match fields.as_slice() {
            [_, _, _, "SOA", _, _, serial, ..] => serial.parse().ok(),
            _ => None,
        }
    }

    /// Runs `knotc` on the control socket with `arguments`, blocking until
    /// a zone event it triggers finished; panics with its output and the
    /// log when it fails.
    pub fn knotc(&self, arguments: &[&str]) -> String {
        self.run_knotc(&["--blocking"], arguments)
    }

    /// As [`knotc`](Self::knotc), returning once a zone event is triggered.
    pub fn knotc_unblocked(&self, arguments: &[&str]) -> String {
        self.run_knotc(&[], arguments)
    }

    fn run_knotc(&self, options: &[&str], arguments: &[&str]) -> String {
        let output = Command::new(&self.programs.knotc)
            .arg("--socket")
            .arg(self.socket_path())
            .args(["--timeout", "10"])
            .args(options)
            .args(arguments)
            .output()
            .expect("run knotc");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "knotc {arguments:?} failed: {text}\n{}",
            self.log()
        );
        text
    }

    /// Runs `kdig @127.0.0.1 -p port` with `arguments` (such as `["AXFR",
    /// "example.test"]` or `["IXFR=3", "example.test"]`), signed with the
    /// TSIG key when there is one and `signed` is true; returns its standard
    /// output (kdig's presentation format) whatever its status.
    pub fn kdig(&self, signed: bool, arguments: &[&str]) -> String {
        let mut command = Command::new(&self.programs.kdig);
        command
            .arg("@127.0.0.1")
            .args(["-p", &self.port.to_string(), "+time=2", "+retry=0"]);
        if let (true, Some(key)) = (signed, &self.tsig) {
            command.args(["-y", &key.kdig_argument()]);
        }
        let output = command.args(arguments).output().expect("run kdig");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Knot's log (debug level) and anything `knotd` wrote to standard
    /// output and error.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let output = std::fs::read_to_string(self.dir().join("knotd.out")).unwrap_or_default();
        format!("--- knot.log\n{log}--- knotd output\n{output}")
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        if let Some(mut child) = self.state().child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A zone file for `name` with `serial`, an NS and its address, and
/// `records` A records `www0` ... (addresses in 10.0.0.0/8, from the index),
/// for tests and benches.
pub fn zone_text(name: &str, serial: u32, records: usize) -> String {
    let mut text = format!(
        "$ORIGIN {}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n",
        absolute(name)
    );
    for index in 0..records {
        let [_, a, b, c] = u32::try_from(index)
            .expect("fewer than 2^32 records")
            .to_be_bytes();
        let _ = writeln!(text, "www{index} A 10.{a}.{b}.{c}");
    }
    text
}

/// The serial of a rendered SOA line (`owner ttl class SOA mname rname
/// serial ...`), `None` for other records.
pub fn soa_serial(line: &str) -> Option<u32> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [_, _, _, "SOA", _, _, serial, ..] => serial.parse().ok(),
        _ => None,
    }
}

/// An AXFR (`ixfr_from` `None`) or IXFR from serial `ixfr_from` of `zone`
/// at `server`, unsigned, over one TCP connection: every answer record of
/// every message, rendered as by [`Reply::answer`], until the transfer's
/// closing SOA. Panics on an error rcode or a connection closed early.
///
/// An incremental IXFR reads `SOA new, SOA old, deleted..., SOA next,
/// added..., ..., SOA new`; a full one `SOA new, records..., SOA new`; an
/// up-to-date one is the single SOA. [`is_incremental`] tells them apart.
pub fn transfer(server: SocketAddr, zone: &str, ixfr_from: Option<u32>) -> Vec<String> {
    let query = transfer_query(zone, ixfr_from);
    let mut stream = client::tcp_connect(server);
    let mut records: Vec<String> = Vec::new();
    // The first SOA's serial, which the closing SOA repeats, and (for an
    // incremental transfer) whether the records read are deletions.
    let mut end = 0;
    let mut incremental = false;
    let mut deleting = true;
    let mut reply: Reply = client::tcp_exchange(&mut stream, &query)
        .unwrap_or_else(|error| panic!("transfer of {zone} from {server}: {error}"));
    loop {
        assert_eq!(
            reply.rcode(),
            OptRcode::NOERROR,
            "transfer of {zone} from {server}"
        );
        for line in reply.answer() {
            let serial = soa_serial(&line);
            let position = records.len();
            records.push(line);
            let Some(serial) = serial else {
                assert!(position > 0, "transfer of {zone} opens with no SOA");
                continue;
            };
            match position {
                0 => end = serial,
                // The old serial: an incremental transfer, opening the
                // first deletions. The same serial again: a zone of just
                // its SOA.
                1 if serial != end => incremental = true,
                _ if !incremental => {
                    assert_eq!(serial, end, "a full transfer ends with its first SOA");
                    return records;
                }
                // A SOA after deletions opens the additions; one after
                // additions closes the transfer or opens the next deletions.
                _ if deleting => deleting = false,
                _ if serial == end => return records,
                _ => deleting = true,
            }
        }
        if records.len() == 1 && ixfr_from.is_some() {
            // Up to date: the single SOA.
            return records;
        }
        reply = client::read_frame(&mut stream).unwrap_or_else(|error| {
            panic!("transfer of {zone} from {server} ended early ({error}): {records:?}")
        });
    }
}

/// Whether transferred `records` (from [`transfer`]) are an incremental
/// IXFR: a second SOA right after the first, with another serial.
pub fn is_incremental(records: &[String]) -> bool {
    match records {
        [first, second, ..] => {
            matches!((soa_serial(first), soa_serial(second)), (Some(new), Some(old)) if new != old)
        }
        _ => false,
    }
}

/// The wire bytes of an AXFR query, or an IXFR query carrying a SOA with
/// serial `ixfr_from` in its authority section (RFC 1995).
fn transfer_query(zone: &str, ixfr_from: Option<u32>) -> Vec<u8> {
    let name = Name::<Vec<u8>>::from_str(zone).expect("valid zone name");
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(0x7846);
    let mut question = builder.question();
    let rtype = if ixfr_from.is_some() {
        Rtype::IXFR
    } else {
        Rtype::AXFR
    };
    question
        .push((name.clone(), rtype, Class::IN))
        .expect("question fits");
    let mut authority = question.authority();
    if let Some(serial) = ixfr_from {
        let soa = Soa::new(
            name.clone(),
            name.clone(),
            Serial(serial),
            Ttl::ZERO,
            Ttl::ZERO,
            Ttl::ZERO,
            Ttl::ZERO,
        );
        authority
            .push((name, Class::IN, Ttl::ZERO, soa))
            .expect("SOA fits");
    }
    authority.finish()
}

/// The harness itself against the installed Knot: each test skips (loudly,
/// in [`Knot::start`]) without it.
mod tests {
    use std::io::Write;
    use std::sync::mpsc::{Receiver, channel};

    use domain::base::iana::{Opcode, Rcode};

    use super::*;

    fn single(zone: KnotZone) -> KnotOptions {
        KnotOptions {
            zones: vec![zone],
            ..KnotOptions::default()
        }
    }

    #[test]
    fn knot_serves_its_zone_over_udp_and_tcp() {
        let text = zone_text("example.test", 7, 3);
        let Some(knot) = Knot::start(single(KnotZone::new("example.test", &text))) else {
            return;
        };
        assert_eq!(knot.serial("example.test"), Some(7));
        assert_eq!(knot.serial("other.test"), None);
        let query = client::message(1, "www2.example.test", Rtype::A, Class::IN, None);
        let reply = client::udp_raw(knot.addr(), &query, client::TIMEOUT).expect("an answer");
        assert_eq!(reply.rcode(), OptRcode::NOERROR);
        assert_eq!(
            reply.answer(),
            client::lines(&["www2.example.test. 300 IN A 10.0.0.2"])
        );
        let records = transfer(knot.addr(), "example.test", None);
        assert!(!is_incremental(&records), "{records:?}");
        // SOA, NS, ns1, www0..www2, SOA.
        assert_eq!(records.len(), 7, "{records:?}");
        assert_eq!(records.first(), records.last());
        assert_eq!(soa_serial(&records[0]), Some(7));
    }

    #[test]
    fn a_changed_zone_reloads_and_transfers_incrementally() {
        let Some(knot) = Knot::start(single(KnotZone::new(
            "example.test",
            &zone_text("example.test", 1, 2),
        ))) else {
            return;
        };
        assert_eq!(
            knot.change_zone("example.test", &zone_text("example.test", 2, 3)),
            2
        );
        assert_eq!(knot.serial("example.test"), Some(2));
        // One more record and the SOA change: the incremental form.
        let records = transfer(knot.addr(), "example.test", Some(1));
        assert!(is_incremental(&records), "{records:?}");
        let serials: Vec<Option<u32>> = records.iter().map(|line| soa_serial(line)).collect();
        assert_eq!(
            serials,
            [Some(2), Some(1), Some(2), None, Some(2)],
            "{records:?}"
        );
        assert_eq!(records[3], "www2.example.test. 300 IN A 10.0.0.2");
        // A record removed, another changed, in a second step: both diffs.
        let mut text = zone_text("example.test", 5, 2);
        text = text.replace("www1 A 10.0.0.1", "www1 A 10.9.9.9");
        knot.set_zone("example.test", &text);
        assert_eq!(knot.reload_zone("example.test"), 5);
        let records = transfer(knot.addr(), "example.test", Some(1));
        let serials: Vec<Option<u32>> = records.iter().map(|line| soa_serial(line)).collect();
        assert_eq!(
            serials,
            [
                Some(5),
                Some(1),
                Some(2),
                None,
                Some(2),
                None,
                None,
                Some(5),
                None,
                Some(5)
            ],
            "{records:?}"
        );
        assert!(
            records[5..7].contains(&"www2.example.test. 300 IN A 10.0.0.2".to_owned()),
            "{records:?}"
        );
        assert_eq!(records[8], "www1.example.test. 300 IN A 10.9.9.9");
        // Up to date: the single SOA.
        let records = transfer(knot.addr(), "example.test", Some(5));
        assert_eq!(records.len(), 1, "{records:?}");
    }

    /// The members the catalog's AXFR lists (PTR targets under `zones.`).
    fn members(knot: &Knot, catalog: &str) -> Vec<String> {
        let zones = format!(".zones.{catalog}.");
        let mut members: Vec<String> = transfer(knot.addr(), catalog, None)
            .iter()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                match fields.as_slice() {
                    [owner, _, "IN", "PTR", target] if owner.ends_with(&zones) => {
                        Some((*target).to_owned())
                    }
                    _ => None,
                }
            })
            .collect();
        members.sort();
        members
    }

    #[test]
    fn the_generated_catalog_lists_members_until_removed() {
        let options = KnotOptions {
            zones: vec![
                KnotZone::member("one.test", &zone_text("one.test", 1, 1)),
                KnotZone::new("plain.test", &zone_text("plain.test", 1, 1)),
            ],
            catalog: Some("catalog.test".to_owned()),
            ..KnotOptions::default()
        };
        let Some(knot) = Knot::start(options) else {
            return;
        };
        assert_eq!(members(&knot, "catalog.test"), ["one.test."]);
        let first = knot.serial("catalog.test").expect("the catalog's serial");

        knot.add_member(KnotZone::new("two.test", &zone_text("two.test", 3, 1)));
        assert_eq!(knot.serial("two.test"), Some(3));
        assert_eq!(members(&knot, "catalog.test"), ["one.test.", "two.test."]);
        let second = knot.serial("catalog.test").expect("the catalog's serial");
        assert!(Serial(second) > Serial(first), "{first} -> {second}");

        knot.remove_member("one.test");
        assert_eq!(members(&knot, "catalog.test"), ["two.test."]);
        assert_eq!(knot.serial("one.test"), None);
        assert_eq!(knot.serial("plain.test"), Some(1));
        let third = knot.serial("catalog.test").expect("the catalog's serial");
        assert!(Serial(third) > Serial(second), "{second} -> {third}");
    }

    #[test]
    fn with_tsig_only_signed_transfers_are_served() {
        let options = KnotOptions {
            tsig: Some(KnotKey::test("xfr-key")),
            ..single(KnotZone::new(
                "example.test",
                &zone_text("example.test", 1, 1),
            ))
        };
        let Some(knot) = Knot::start(options) else {
            return;
        };
        // Queries need no key; transfers do.
        assert_eq!(knot.serial("example.test"), Some(1));
        for ixfr_from in [None, Some(1)] {
            let mut stream = client::tcp_connect(knot.addr());
            let reply =
                client::tcp_exchange(&mut stream, &transfer_query("example.test", ixfr_from))
                    .expect("a reply");
            assert_eq!(reply.rcode(), OptRcode::NOTAUTH, "{ixfr_from:?}");
            assert!(reply.answer().is_empty());
        }
        let unsigned = knot.kdig(false, &["+noall", "+answer", "AXFR", "example.test"]);
        assert!(!unsigned.contains("SOA"), "{unsigned}");

        let signed = knot.kdig(true, &["+noall", "+answer", "AXFR", "example.test"]);
        let soa = signed
            .lines()
            .filter(|line| line.contains("\tSOA\t"))
            .count();
        assert_eq!(soa, 2, "{signed}");
        assert!(signed.contains("www0.example.test."), "{signed}");

        knot.change_zone("example.test", &zone_text("example.test", 2, 2));
        let signed = knot.kdig(true, &["+noall", "+answer", "IXFR=1", "example.test"]);
        let soa: Vec<&str> = signed
            .lines()
            .filter(|line| line.contains("\tSOA\t"))
            .collect();
        // SOA 2, SOA 1, SOA 2, www1, SOA 2: the incremental form.
        assert_eq!(soa.len(), 4, "{signed}");
        assert!(soa[1].contains(" 1 3600 "), "{signed}");
        assert!(signed.contains("www1.example.test."), "{signed}");
        assert!(!signed.contains("www0.example.test."), "{signed}");
    }

    /// A stand-in secondary on `port` (UDP and TCP) that answers every
    /// NOTIFY (unsigned, NOERROR) and passes it on with whether it came over
    /// TCP. Answering matters: Knot waits for the answer (5 s) before the
    /// zone's next event, a reload included. Runs until the receiver is
    /// dropped (and a NOTIFY comes) or for twice [`PATIENCE`].
    fn secondary(port: u16) -> Receiver<(Reply, bool)> {
        let udp = UdpSocket::bind(("127.0.0.1", port)).expect("bind UDP");
        let tcp = TcpListener::bind(("127.0.0.1", port)).expect("bind TCP");
        udp.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("read timeout");
        tcp.set_nonblocking(true).expect("non-blocking listener");
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            let deadline = Instant::now() + 2 * PATIENCE;
            let mut buffer = [0u8; 65535];
            while Instant::now() < deadline {
                if let Ok((length, from)) = udp.recv_from(&mut buffer) {
                    let notify = Reply::new(&buffer[..length]);
                    let _ = udp.send_to(&answer(&notify), from);
                    if sender.send((notify, false)).is_err() {
                        return;
                    }
                }
                let Ok((mut stream, _)) = tcp.accept() else {
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking stream");
                stream
                    .set_read_timeout(Some(client::TIMEOUT))
                    .expect("read timeout");
                while let Ok(notify) = client::read_frame(&mut stream) {
                    let _ = stream.write_all(&client::frame(&answer(&notify)));
                    if sender.send((notify, true)).is_err() {
                        return;
                    }
                }
            }
        });
        receiver
    }

    /// The NOERROR answer to `notify`: its header and question.
    fn answer(notify: &Reply) -> Vec<u8> {
        MessageBuilder::new_vec()
            .start_answer(&notify.message, Rcode::NOERROR)
            .expect("the question fits")
            .finish()
    }

    /// The first NOTIFY from `secondary` whose answer carries the SOA with
    /// `serial`, and whether it came over TCP.
    fn notify_with(secondary: &Receiver<(Reply, bool)>, serial: u32) -> (Reply, bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (notify, over_tcp) = secondary
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no NOTIFY with serial {serial} within {PATIENCE:?}"));
            let carries = notify
                .answer()
                .iter()
                .any(|line| soa_serial(line) == Some(serial));
            if notify.message.header().opcode() == Opcode::NOTIFY && carries {
                return (notify, over_tcp);
            }
        }
    }

    #[test]
    fn a_change_is_notified_to_the_secondaries_signed() {
        let port = free_port();
        let notifies = secondary(port);
        let options = KnotOptions {
            tsig: Some(KnotKey::test("notify-key")),
            notify: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            ..single(KnotZone::new(
                "example.test",
                &zone_text("example.test", 1, 1),
            ))
        };
        let Some(knot) = Knot::start(options) else {
            return;
        };
        // Knot notifies the zone's first load too.
        notify_with(&notifies, 1);
        knot.change_zone("example.test", &zone_text("example.test", 2, 1));
        let (notify, over_tcp) = notify_with(&notifies, 2);
        eprintln!("NOTIFY over {}", if over_tcp { "TCP" } else { "UDP" });
        // Asked for, again with the serial now served.
        knot.send_notify("example.test");
        notify_with(&notifies, 2);
        assert_eq!(notify.question(), ["example.test. SOA IN"]);
        let additional = notify.message.additional().expect("additional parses");
        let last = additional
            .last()
            .expect("a TSIG record")
            .expect("record parses");
        assert_eq!(last.rtype(), Rtype::TSIG);
        assert_eq!(last.owner().to_string(), knot.tsig().expect("the key").name);
    }

    #[test]
    fn a_taken_port_is_told_apart_from_other_failures() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let port = taken.local_addr().expect("local address").port();
        let options = single(KnotZone::new(
            "example.test",
            &zone_text("example.test", 1, 1),
        ));
        let Some(knot) = Knot::prepare(port, options.clone()) else {
            return;
        };
        assert!(
            matches!(knot.launch(), Err(Launch::PortTaken)),
            "{}",
            knot.log()
        );
        assert!(!knot.is_running());
        // A zone file Knot cannot load is another failure.
        let broken = single(KnotZone::new("example.test", "not a zone file\n"));
        let knot = Knot::prepare(free_port(), broken).expect("Knot is installed");
        assert!(
            matches!(knot.launch(), Err(Launch::Failed(_))),
            "{}",
            knot.log()
        );
    }

    #[test]
    fn a_stopped_knot_returns_on_its_port_with_its_zones_and_journal() {
        let Some(knot) = Knot::start(single(KnotZone::new(
            "example.test",
            &zone_text("example.test", 1, 1),
        ))) else {
            return;
        };
        knot.change_zone("example.test", &zone_text("example.test", 2, 2));
        knot.stop();
        assert!(!knot.is_running());
        assert_eq!(knot.serial("example.test"), None);
        assert!(knot.dir().join("knot.conf").is_file());
        knot.start_again();
        assert!(knot.is_running());
        assert_eq!(knot.serial("example.test"), Some(2));
        let records = transfer(knot.addr(), "example.test", Some(1));
        assert!(is_incremental(&records), "{records:?}");
        assert!(knot.log().contains("Knot DNS"), "{}", knot.log());
    }
}
