//! What a health check is, as the config states it and the probe engine runs
//! it: the kind of probe, its port, its pace and the rise/fall thresholds.
//!
//! Plain data, validated by `config` (timeout below interval, thresholds at
//! least one, a port for every kind that needs one).

use std::time::Duration;

use super::state::Thresholds;

/// One backend's health check, fully resolved (service settings with the
/// backend's overrides applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// What the probe does.
    pub kind: ProbeKind,
    /// The port probed on the backend's address.
    pub port: u16,
    /// Time between the starts of two probes of this backend.
    pub interval: Duration,
    /// How long a probe may take before it counts as a failure; below
    /// `interval`.
    pub timeout: Duration,
    /// Results in a row that change the state.
    pub thresholds: Thresholds,
}

/// The kinds of probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A TCP connect that completes (then closed at once).
    Tcp,
    /// An HTTP/1.1 `GET` whose status is expected.
    Http(HttpProbe),
    /// A DNS query over UDP whose response code is expected.
    Dns(DnsProbe),
}

impl ProbeKind {
    /// The config spelling: "tcp", "http" or "dns".
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Http(_) => "http",
            ProbeKind::Dns(_) => "dns",
        }
    }
}

/// An HTTP probe: `GET path` with `Host: host`, `Connection: close`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProbe {
    /// The request path, starting with `/`.
    pub path: String,
    /// The `Host` header's value.
    pub host: String,
    /// Statuses that count as healthy (non-empty).
    pub expect: Vec<u16>,
    /// When set, the body must contain this text.
    pub body_contains: Option<String>,
    /// When set, the response header of this name carries the backend's load,
    /// 0.0 (idle) to 1.0 (saturated), which feeds `least_loaded`.
    pub load_header: Option<String>,
}

/// A DNS probe: one query over UDP, healthy when the reply matches it and
/// carries `rcode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsProbe {
    /// The query name, absolute, in uncompressed wire format.
    pub qname: Vec<u8>,
    /// The query type.
    pub qtype: u16,
    /// The response code expected (0 is NOERROR).
    pub rcode: u8,
}
