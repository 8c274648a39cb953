//! The AF_XDP path end to end, as root, in two network namespaces each test
//! makes (a veth pair, unique names) and removes: `dnslb serve` with `[xdp]`
//! in the server namespace, `domain`'s client in the other.
//!
//! * IPv4 and IPv6 answers come from the XDP workers (the `transport="xdp"`
//!   and per-queue counters say so, the socket workers' stay at zero);
//! * an answer over the MTU is truncated with TC set, and a client without
//!   EDNS retries over TCP through the kernel;
//! * ping (ICMP) and ARP/ND still reach the kernel;
//! * after SIGTERM, and after SIGKILL, no program is left on the interface;
//! * with two receive queues, two XDP workers; services, their counters and
//!   response rate limiting behave as on the socket path;
//! * the sockets are made as root before the switch to `server.user`;
//! * start-up errors name `xdp.interface` and the cause (no such interface,
//!   queue-count mismatch, MTU too large, zero-copy refused, missing
//!   privilege), and leave nothing attached.
//!
//! These tests need root (namespaces, BPF, AF_XDP) and `ip`; CI runs as
//! root. Elsewhere each prints why it is skipped.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use domain::base::iana::{Class, OptRcode, Rtype};

use crate::client::{self, Edns};
use crate::process::Served;
use crate::server::EXAMPLE_ZONE;

pub(crate) const SERVER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 1);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);

/// Records in `many.big.test A`: 120 answers of 16 bytes are over any
/// Ethernet MTU.
const MANY: usize = 120;

/// The values of the line `field:` of `/proc/PROCESS/status` (`self` or a
/// pid), split at whitespace; empty when there is no such line.
fn process_status(process: &str, field: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|values| values.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether this process may make namespaces and attach XDP programs; says
/// why not, loudly, when it may not.
pub(crate) fn can_run(test: &str) -> bool {
    // Uid: real, effective, saved, filesystem.
    let root = process_status("self", "Uid").get(1).map(String::as_str) == Some("0");
    if !root {
        eprintln!("SKIPPED {test}: the XDP tests need root (namespaces, BPF, AF_XDP); NOT RUN");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIPPED {test}: `ip` (iproute2) is not installed; NOT RUN");
        return false;
    }
    true
}

fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|error| panic!("{args:?}: {error}"));
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn output(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|error| panic!("{args:?}: {error}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A veth pair between two namespaces of this test, removed on drop.
pub(crate) struct Bed {
    pub(crate) server_ns: String,
    pub(crate) client_ns: String,
    pub(crate) server_if: String,
    pub(crate) client_if: String,
}

static NEXT_BED: AtomicU32 = AtomicU32::new(0);

impl Bed {
    /// A pair with `server_queues` receive and transmit queues on the
    /// server side and `client_queues` on the client side, MTU `mtu`.
    pub(crate) fn up(server_queues: u32, client_queues: u32, mtu: u32) -> Bed {
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT_BED.fetch_add(1, Ordering::Relaxed)
        );
        let bed = Bed {
            server_ns: format!("dnslb-xs-{tag}"),
            client_ns: format!("dnslb-xc-{tag}"),
            server_if: format!("xs{tag}"),
            client_if: format!("xc{tag}"),
        };
        run(&["ip", "netns", "add", &bed.server_ns]);
        run(&["ip", "netns", "add", &bed.client_ns]);
        let (sq, cq) = (server_queues.to_string(), client_queues.to_string());
        run(&[
            "ip",
            "link",
            "add",
            &bed.server_if,
            "netns",
            &bed.server_ns,
            "numtxqueues",
            &sq,
            "numrxqueues",
            &sq,
            "type",
            "veth",
            "peer",
            "name",
            &bed.client_if,
            "netns",
            &bed.client_ns,
            "numtxqueues",
            &cq,
            "numrxqueues",
            &cq,
        ]);
        for (ns, interface, v4, v6) in [
            (&bed.server_ns, &bed.server_if, SERVER_V4, SERVER_V6),
            (&bed.client_ns, &bed.client_if, CLIENT_V4, CLIENT_V6),
        ] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                interface,
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                interface,
                "nodad",
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "link",
                "set",
                interface,
                "mtu",
                &mtu.to_string(),
            ]);
            run(&["ip", "-n", ns, "link", "set", interface, "up"]);
        }
        bed
    }

    /// The XDP program ids attached to the server interface (`ip -d link`
    /// shows `prog/xdp id N` while one is).
    fn attached(&self) -> bool {
        let text = output(&[
            "ip",
            "-n",
            &self.server_ns,
            "-d",
            "link",
            "show",
            "dev",
            &self.server_if,
        ]);
        text.contains("prog/xdp") || text.contains("xdp id") || text.contains("xdpgeneric")
    }

    /// Runs `work` on a thread inside namespace `ns`.
    fn inside<T: Send + 'static>(ns: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = ns.to_owned();
        std::thread::spawn(move || {
            dnslb_io::netns::enter(&ns).expect("enter the namespace");
            work()
        })
        .join()
        .expect("the thread in the namespace")
    }

    pub(crate) fn client<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        Bed::inside(&self.client_ns, work)
    }

    pub(crate) fn server<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        Bed::inside(&self.server_ns, work)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.server_ns])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.client_ns])
            .status();
    }
}

/// Writes the zones and a config with `[xdp]` (its keys in `xdp`) and an
/// admin listener into `dir`, readable by anyone.
fn write_config(dir: &Path, bed: &Bed, port: u16, xdp: &str) -> PathBuf {
    std::fs::write(dir.join("example.com.zone"), EXAMPLE_ZONE).expect("write zone");
    let mut big = String::from(
        "$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 198.18.0.1\n",
    );
    for index in 0..MANY {
        big.push_str(&format!(
            "many A 10.0.{}.{}\n",
            index / 200,
            index % 200 + 1
        ));
    }
    std::fs::write(dir.join("big.test.zone"), big).expect("write zone");
    let config = format!(
        r#"[server]
listen = ["{SERVER_V4}:{port}", "[{SERVER_V6}]:{port}"]
workers = 1

[admin]
listen = "127.0.0.1:0"

[xdp]
interface = "{}"
{xdp}

[[zone]]
name = "example.com"
file = "example.com.zone"

[[zone]]
name = "big.test"
file = "big.test.zone"
"#,
        bed.server_if
    );
    let path = dir.join("dnslb.toml");
    std::fs::write(&path, config).expect("write config");
    for file in [dir.to_path_buf(), path.clone()] {
        let mode = if file.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    for zone in ["example.com.zone", "big.test.zone"] {
        std::fs::set_permissions(dir.join(zone), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    path
}

/// A bed with `server_queues` queues on the server side (as many on the
/// client's), MTU 1500, and a config for it on port 53 with no more
/// `[xdp]` keys than `interface`, in a temporary directory kept with it.
fn bed_and_config(server_queues: u32) -> (Bed, tempfile::TempDir, PathBuf) {
    let bed = Bed::up(server_queues, server_queues, 1500);
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_config(dir.path(), &bed, 53, "");
    (bed, dir, config)
}

/// `dnslb serve` with `config` in the server namespace, run by `prefix`
/// there too (such as `setpriv ...`).
fn serve(bed: &Bed, config: &Path, prefix: &[&str]) -> Served {
    let mut wrapper = vec!["ip", "netns", "exec", bed.server_ns.as_str()];
    wrapper.extend_from_slice(prefix);
    Served::start_wrapped(config, &[], &wrapper)
}

/// The admin address in the start-up summary.
fn admin_address(served: &mut Served) -> SocketAddr {
    served.summary()["admin"]
        .as_str()
        .expect("admin address")
        .parse()
        .expect("a socket address")
}

/// `GET /metrics` from inside the server namespace.
fn metrics(bed: &Bed, admin: SocketAddr) -> String {
    bed.server(move || {
        let mut stream = TcpStream::connect(admin).expect("connect to admin");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        text
    })
}

/// The value of the series starting with `series ` (exact labels).
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse::<f64>()
        .expect("a number") as u64
}

/// Runs async `work` on a thread in the client namespace.
fn ask<T: Send + 'static>(
    bed: &Bed,
    work: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> T {
    bed.client(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work())
    })
}

#[test]
fn xdp_answers_v4_and_v6_truncates_to_the_mtu_keeps_ping_and_detaches() {
    if !can_run("xdp_answers_v4_and_v6_truncates_to_the_mtu_keeps_ping_and_detaches") {
        return;
    }
    let (bed, _dir, config) = bed_and_config(1);
    let mut served = serve(&bed, &config, &[]);
    let admin = admin_address(&mut served);
    assert!(bed.attached(), "no XDP program on the server interface");

    let v4 = SocketAddr::new(IpAddr::V4(SERVER_V4), 53);
    let v6 = SocketAddr::new(IpAddr::V6(SERVER_V6), 53);
    // Answers over both families, from domain's UDP transport.
    let (reply4, reply6) = ask(&bed, move || {
        Box::pin(async move {
            let reply4 = client::udp(v4, client::request("www.example.com", Rtype::A)).await;
            let reply6 = client::udp(v6, client::request("www.example.com", Rtype::AAAA)).await;
            (reply4, reply6)
        })
    });
    assert_eq!(reply4.rcode(), OptRcode::NOERROR);
    assert_eq!(
        reply4.addresses(),
        [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "192.0.2.2".parse().unwrap()
        ]
    );
    assert_eq!(reply6.rcode(), OptRcode::NOERROR);
    assert_eq!(
        reply6.addresses(),
        ["2001:db8::1".parse::<IpAddr>().unwrap()]
    );

    // An answer too big for the MTU even with EDNS 4096: truncated to fit
    // one frame, TC set.
    let (big4, big6) = bed.client(move || {
        let query = client::message(
            0x4242,
            "many.big.test",
            Rtype::A,
            Class::IN,
            Some(Edns::payload(4096)),
        );
        (
            client::udp_raw_from(v4, &query, Duration::from_secs(5)),
            client::udp_raw_from(v6, &query, Duration::from_secs(5)),
        )
    });
    for (big, limit) in [(big4, 1500 - 28), (big6, 1500 - 48)] {
        let big = big.expect("an answer for many.big.test");
        assert!(big.truncated(), "TC must be set");
        assert!(
            big.bytes().len() <= limit,
            "{} bytes over {limit}",
            big.bytes().len()
        );
        assert_eq!(big.id(), 0x4242);
    }
    // Without EDNS the same answer is truncated at 512 and the client
    // retries over TCP, which the kernel answers.
    let full = ask(&bed, move || {
        Box::pin(async move {
            client::udp_then_tcp(v4, client::request("many.big.test", Rtype::A)).await
        })
    });
    assert!(!full.truncated());
    assert_eq!(full.answer().len(), MANY);

    // ICMP and ARP/ND still reach the kernel.
    for address in [SERVER_V4.to_string(), SERVER_V6.to_string()] {
        let ping = Command::new("ip")
            .args([
                "netns",
                "exec",
                &bed.client_ns,
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                &address,
            ])
            .output()
            .expect("run ping (iputils-ping)");
        assert!(
            ping.status.success(),
            "ping {address}: {}",
            String::from_utf8_lossy(&ping.stdout)
        );
    }

    // The counters: UDP answers came from the XDP worker, none from the
    // socket workers; TCP from the kernel path.
    let text = metrics(&bed, admin);
    let xdp = metric(&text, "dnslb_queries_received_total{transport=\"xdp\"}");
    assert!(xdp >= 5, "xdp received {xdp}");
    assert_eq!(
        metric(&text, "dnslb_queries_received_total{transport=\"udp\"}"),
        0
    );
    assert!(metric(&text, "dnslb_queries_received_total{transport=\"tcp\"}") >= 1);
    assert!(metric(&text, "dnslb_responses_truncated_total{transport=\"xdp\"}") >= 3);
    assert!(metric(&text, "dnslb_xdp_rx_frames_total{queue=\"0\"}") >= xdp);
    assert!(metric(&text, "dnslb_xdp_tx_frames_total{queue=\"0\"}") >= 5);
    assert_eq!(
        metric(
            &text,
            "dnslb_xdp_drops_total{queue=\"0\",reason=\"bad_frame\"}"
        ),
        0
    );

    // SIGTERM: stopped cleanly, nothing left attached.
    served.signal("TERM");
    let (status, log) = served.exit();
    assert!(status.success(), "{status}: {log}");
    assert!(!bed.attached(), "an XDP program was left on the interface");

    // SIGKILL (a crash): the link goes with the process.
    let mut served = serve(&bed, &config, &[]);
    admin_address(&mut served);
    assert!(bed.attached());
    served.signal("KILL");
    let _ = served.exit();
    let detached = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !bed.attached()
    });
    assert!(
        detached,
        "an XDP program was left on the interface after SIGKILL"
    );
}

/// Asks `www.example.com A` once over IPv4, expects the answer from the XDP
/// path (the counter says one query), stops the server with SIGTERM and
/// checks it exits cleanly, leaving nothing attached.
fn answers_once_over_xdp_then_stops_clean(bed: &Bed, served: Served, admin: SocketAddr) {
    let v4 = SocketAddr::new(IpAddr::V4(SERVER_V4), 53);
    let reply = bed
        .client(move || {
            let query = client::message(0x77, "www.example.com", Rtype::A, Class::IN, None);
            client::udp_raw_from(v4, &query, Duration::from_secs(5))
        })
        .expect("an answer");
    assert_eq!(reply.rcode(), OptRcode::NOERROR);
    let text = metrics(bed, admin);
    assert_eq!(
        metric(&text, "dnslb_queries_received_total{transport=\"xdp\"}"),
        1
    );
    served.signal("TERM");
    let (status, log) = served.exit();
    assert!(status.success(), "{status}: {log}");
    assert!(!bed.attached());
}

/// Starts dnslb with `xdp` keys on `bed` and expects it to fail naming
/// `xdp.interface` and `cause`, with nothing left attached.
fn refuses(bed: &Bed, interface_override: Option<&str>, xdp: &str, prefix: &[&str], cause: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_config(dir.path(), bed, 5300, xdp);
    if let Some(name) = interface_override {
        let text = std::fs::read_to_string(&config).expect("read config");
        let text = text.replace(
            &format!("interface = \"{}\"", bed.server_if),
            &format!("interface = \"{name}\""),
        );
        std::fs::write(&config, text).expect("write config");
    }
    let served = serve(bed, &config, prefix);
    let (status, log) = served.exit();
    assert!(!status.success(), "dnslb started with {xdp:?}:\n{log}");
    let interface = interface_override.unwrap_or(&bed.server_if);
    let named = format!("xdp.interface \"{interface}\"");
    let escaped = format!("xdp.interface \\\"{interface}\\\"");
    assert!(
        log.contains(&named) || log.contains(&escaped),
        "no {named} in:\n{log}"
    );
    assert!(log.contains(cause), "no {cause:?} in:\n{log}");
    assert!(!bed.attached(), "half attached after {cause:?}");
}

#[test]
fn xdp_start_up_errors_name_the_interface_and_leave_nothing_attached() {
    if !can_run("xdp_start_up_errors_name_the_interface_and_leave_nothing_attached") {
        return;
    }
    let bed = Bed::up(1, 1, 1500);
    refuses(&bed, Some("nosuch0"), "", &[], "no such interface");
    refuses(&bed, None, "queues = [3]", &[], "has 1 receive queue");
    refuses(&bed, None, "zero_copy = \"on\"", &[], "refused zero-copy");
    refuses(
        &bed,
        None,
        "",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        "missing privilege",
    );
    drop(bed);
    // The peer sends on more queues than the server side receives on.
    let bed = Bed::up(1, 4, 1500);
    refuses(&bed, None, "", &[], "queue-count mismatch (ENOSPC)");
    drop(bed);
    // An MTU whose frames do not fit a UMEM frame: refused before the kernel
    // is asked.
    let bed = Bed::up(1, 1, 9000);
    refuses(&bed, None, "", &[], "too large for xdp.frame_size");
    drop(bed);
    // One that fits 4096-byte frames but not veth's XDP limit: the kernel
    // says ERANGE.
    let bed = Bed::up(1, 1, 3700);
    refuses(
        &bed,
        None,
        "frame_size = 4096",
        &[],
        "too large for XDP on this driver (ERANGE)",
    );
}

#[test]
fn xdp_is_set_up_before_switching_to_server_user_and_keeps_answering() {
    if !can_run("xdp_is_set_up_before_switching_to_server_user_and_keeps_answering") {
        return;
    }
    let (bed, _dir, config) = bed_and_config(1);
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text.replace("workers = 1\n", "workers = 1\nuser = \"nobody\"\n");
    std::fs::write(&config, text).expect("write config");
    let mut served = serve(&bed, &config, &[]);
    let admin = admin_address(&mut served);
    // Running as nobody, with the AF_XDP sockets made as root.
    let uid = process_status(&served.pid().to_string(), "Uid");
    assert!(
        !uid.is_empty() && uid.iter().all(|id| id == "65534"),
        "{uid:?}"
    );
    answers_once_over_xdp_then_stops_clean(&bed, served, admin);
}

#[test]
fn xdp_runs_one_worker_per_queue_and_counts_services_and_rate_limits_as_sockets_do() {
    if !can_run("xdp_runs_one_worker_per_queue_and_counts_services_and_rate_limits_as_sockets_do") {
        return;
    }
    // Two receive queues on the server side: two XDP workers.
    let (bed, _dir, config) = bed_and_config(2);
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str(
        r#"
[[service]]
name = "lb.example.com"
policy = "round_robin"
answers = 1
backends = [{ address = "192.0.2.101" }, { address = "192.0.2.102" }]

[rrl]
responses_per_second = 5
slip = 2
"#,
    );
    std::fs::write(&config, text).expect("write config");
    let mut served = serve(&bed, &config, &[]);
    let admin = admin_address(&mut served);
    let v4 = SocketAddr::new(IpAddr::V4(SERVER_V4), 53);
    // Round robin across the XDP workers' answers, from many source ports
    // (flows spread over both queues).
    let addresses = bed.client(move || {
        let mut seen = std::collections::BTreeSet::new();
        for id in 0..4u16 {
            let query = client::message(id, "lb.example.com", Rtype::A, Class::IN, None);
            if let Some(reply) = client::udp_raw_from(v4, &query, Duration::from_secs(2)) {
                seen.extend(reply.addresses());
            }
        }
        seen
    });
    assert_eq!(
        addresses.len(),
        2,
        "round robin over both backends: {addresses:?}"
    );
    // Over the rate: limited responses are dropped or slipped, and counted.
    bed.client(move || {
        let query = client::message(9, "www.example.com", Rtype::A, Class::IN, None);
        for _ in 0..40 {
            let _ = client::udp_raw_from(v4, &query, Duration::from_millis(50));
        }
    });
    let text = metrics(&bed, admin);
    for queue in ["0", "1"] {
        // Both queues have a worker and its series.
        metric(
            &text,
            &format!("dnslb_xdp_rx_frames_total{{queue=\"{queue}\"}}"),
        );
    }
    assert_eq!(
        metric(&text, "dnslb_queries_received_total{transport=\"udp\"}"),
        0
    );
    assert!(metric(&text, "dnslb_queries_received_total{transport=\"xdp\"}") >= 44);
    assert_eq!(
        metric(
            &text,
            "dnslb_service_queries_total{service=\"lb.example.com.\"}"
        ),
        4
    );
    let dropped = metric(&text, "dnslb_rrl_limited_total{action=\"dropped\"}");
    let slipped = metric(&text, "dnslb_rrl_limited_total{action=\"slipped\"}");
    assert!(
        dropped > 0 && slipped > 0,
        "dropped {dropped} slipped {slipped}"
    );
}

#[test]
fn xdp_runs_unprivileged_with_capabilities_and_gives_them_up() {
    if !can_run("xdp_runs_unprivileged_with_capabilities_and_gives_them_up") {
        return;
    }
    let (bed, _dir, config) = bed_and_config(1);
    // As nobody, with only the capabilities the packaging grants.
    let caps = "+net_bind_service,+net_admin,+bpf,+net_raw";
    let inheritable = format!("--inh-caps={caps}");
    let ambient = format!("--ambient-caps={caps}");
    let prefix = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        inheritable.as_str(),
        ambient.as_str(),
    ];
    let mut served = serve(&bed, &config, &prefix);
    let admin = admin_address(&mut served);
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        let value = process_status(&served.pid().to_string(), set);
        assert_eq!(
            value,
            ["0000000000000000"],
            "{set}: capabilities kept after start-up"
        );
    }
    answers_once_over_xdp_then_stops_clean(&bed, served, admin);
}
