//! Starting and stopping a real dnslb server for a test: its config and zone
//! files in a temporary directory, listening on ephemeral loopback ports
//! (IPv4 and IPv6, UDP and TCP on the same port).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dnslb::runtime::Running;
use dnslb::stats::Stats;
use domain::base::Rtype;
use domain::base::iana::OptRcode;

use crate::client::{self, Reply};

/// The repository's example zone.
pub const EXAMPLE_ZONE: &str = include_str!("../../zones/example.com.zone");

/// A second zone for tests: a CNAME loop, CNAMEs into `example.com` (to an
/// answer, a referral, a missing name, an empty non-terminal, a wildcard),
/// an empty non-terminal (`e.w`) below a wildcard (`*.w`), and a different
/// SOA (TTL 600, MINIMUM 60) so negative TTLs are told apart.
pub const SECOND_ZONE: &str = "\
$ORIGIN second.test.
$TTL 600
@         SOA   ns1 hostmaster 1 7200 900 1209600 60
@         NS    ns1
ns1       A     192.0.2.200
loop1     CNAME loop2
loop2     CNAME loop1
into      CNAME www.example.com.
tosub     CNAME www.sub.example.com.
tonothing CNAME nothing.example.com.
toempty   CNAME b.example.com.
towild    CNAME some.apps.example.com.
*.w       A     192.0.2.90
a.e.w     A     192.0.2.91
";

/// Writes the zone files and `dnslb.toml` into `dir` and returns the config
/// path. `server_settings` are extra lines for the `[server]` table.
pub fn write_config(dir: &Path, server_settings: &str) -> PathBuf {
    write_config_with(dir, server_settings, "")
}

/// As [`write_config`], with `extra` (more tables: `[admin]`, regions,
/// services) appended after the zones.
pub fn write_config_with(dir: &Path, server_settings: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("example.com.zone"), EXAMPLE_ZONE).expect("write example.com.zone");
    std::fs::write(dir.join("second.test.zone"), SECOND_ZONE).expect("write second.test.zone");
    let config = format!(
        r#"[server]
listen = ["127.0.0.1:0", "[::1]:0"]
workers = 1
{server_settings}

[[zone]]
name = "example.com"
file = "example.com.zone"

[[zone]]
name = "second.test"
file = "second.test.zone"
{extra}"#
    );
    let path = dir.join("dnslb.toml");
    std::fs::write(&path, config).expect("write dnslb.toml");
    path
}

/// A running server, shut down when dropped (also when a test panics).
#[derive(Debug)]
pub struct TestServer {
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default settings.
    pub fn start() -> TestServer {
        TestServer::start_with("")
    }

    /// A server with extra `[server]` lines, such as `version = "x"`.
    pub fn start_with(server_settings: &str) -> TestServer {
        TestServer::start_in(|dir| write_config(dir, server_settings))
    }

    /// A server on the config `write` puts into a new temporary directory
    /// (and returns the path of), kept until the server is dropped.
    pub fn start_in(write: impl FnOnce(&Path) -> PathBuf) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = write(dir.path());
        let config = dnslb::config::load(&path).expect("valid test config");
        let running = dnslb::runtime::start(&config).expect("server starts");
        assert!(
            running.warnings.is_empty(),
            "zone warnings: {:?}",
            running.warnings
        );
        assert_eq!(running.addresses.len(), 2);
        TestServer {
            running: Some(running),
            _dir: dir,
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("running until dropped")
    }

    /// The IPv4 address (UDP and TCP).
    pub fn ipv4(&self) -> SocketAddr {
        let address = self.running().addresses[0];
        assert!(address.is_ipv4());
        address
    }

    /// The IPv6 address (UDP and TCP).
    pub fn ipv6(&self) -> SocketAddr {
        let address = self.running().addresses[1];
        assert!(address.is_ipv6());
        address
    }

    /// The admin HTTP listener's address; panics without `[admin]`.
    pub fn admin(&self) -> SocketAddr {
        self.running()
            .admin_address
            .expect("the config has an [admin] table")
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        &self.running().stats
    }

    /// Checks that the server still answers over UDP and TCP on both
    /// addresses, then shuts it down.
    pub async fn finish(self) {
        self.assert_answers_over_udp().await;
        self.assert_answers_over_tcp().await;
    }

    /// Checks that `www.example.com A` is answered over UDP on both addresses.
    pub async fn assert_answers_over_udp(&self) {
        for address in [self.ipv4(), self.ipv6()] {
            let reply = client::udp(address, client::request("www.example.com", Rtype::A)).await;
            assert_answered(&reply, &format!("UDP {address}"));
        }
    }

    /// Checks that `www.example.com A` is answered over new TCP connections
    /// on both addresses.
    pub async fn assert_answers_over_tcp(&self) {
        for address in [self.ipv4(), self.ipv6()] {
            let reply = client::tcp(address, client::request("www.example.com", Rtype::A)).await;
            assert_answered(&reply, &format!("TCP {address}"));
        }
    }
}

fn assert_answered(reply: &Reply, context: &str) {
    assert_eq!(
        reply.rcode(),
        OptRcode::NOERROR,
        "final query over {context}"
    );
    assert_eq!(reply.answer().len(), 2, "final query over {context}");
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown();
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `within` passes; returns
/// whether it held.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
