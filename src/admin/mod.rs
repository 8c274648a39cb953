//! The admin HTTP listener (`[admin] listen`, loopback by default): a
//! control-plane thread, never a data-plane one.
//!
//! Endpoints:
//! - `GET /metrics`: Prometheus text format (see [`metrics`]).
//! - `GET /status`: JSON of services, backends, health states, drains,
//!   loads and last probes, and of secondary zones (`zones`: serial,
//!   state, last transfer, next refresh, expiry).
//! - `GET /explain?name=NAME&type=TYPE&client=ADDRESS[&ecs=CIDR]`: how the
//!   server answers that question for that client, and why (see
//!   [`explain`]).
//! - `POST /backends/{service}/{backend}/drain` and `/undrain`: take a
//!   backend out of (or back into) the answers, in one snapshot swap; the
//!   drain survives reloads.
//! - `POST /backends/{service}/{backend}/load?value=0.0-1.0`: sets the load
//!   figure a backend reports (for `least_loaded`).
//! - `POST /zones/{zone}/refresh`: checks a secondary or catalog zone
//!   against its primaries now (202; the refresh runs on the transfer
//!   thread, `/status` shows its outcome).
//! - `POST /reload`: re-reads the config and zones (as SIGHUP does); on any
//!   error the running config stays and the errors are returned, each with
//!   file, line and key.
//!
//! When `[admin] token` is set, the `POST` endpoints require
//! `Authorization: Bearer <token>` (401 otherwise). Requests are parsed with
//! `httparse`; each connection carries one request and is closed after the
//! response. Requests are served on short-lived threads, at most
//! [`ADMIN_CONNECTIONS_MAX`] at once (a 503 past that), so a slow or
//! malformed client holds one slot until its timeout or 400, never the
//! whole API; none of them can stall the data plane, which shares nothing
//! with these threads but the snapshot pointer and the counters they read.

pub mod explain;
mod http;
pub mod metrics;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::control::{Control, ControlError};
use crate::stats::Stats;
use crate::xfr::Transfers;

/// How often the accept loop looks at the shutdown flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Requests served at the same time, each on its own short-lived thread, so
/// a slow or stalled client holds one slot (for at most the request
/// timeout), not the whole API. Past this a connection gets a 503 at once.
pub const ADMIN_CONNECTIONS_MAX: usize = 16;

/// The admin server: a bound listener and what the endpoints read.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    control: Arc<Control>,
    stats: Arc<Stats>,
    transfers: Arc<Transfers>,
}

impl AdminServer {
    /// Binds `address`. The bearer token is the running config's
    /// `[admin] token`, read per request, so a reload that changes it puts
    /// the new one in force at once.
    pub fn bind(
        address: SocketAddr,
        control: Arc<Control>,
        stats: Arc<Stats>,
        transfers: Arc<Transfers>,
    ) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer {
            listener,
            control,
            stats,
            transfers,
        })
    }

    /// The bound address (with the real port when the config said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves requests until `shutdown` is set: waits for connections in a
    /// `mio` poll (so a request is taken at once, and the shutdown flag is
    /// seen within [`POLL_INTERVAL`]) and serves each on its own thread, at
    /// most [`ADMIN_CONNECTIONS_MAX`] at a time.
    pub fn run(self, shutdown: &AtomicBool) {
        let server = Arc::new(self);
        let active = Arc::new(AtomicUsize::new(0));
        // Readiness of the listener itself (non-blocking since `bind`).
        let descriptor = server.listener.as_raw_fd();
        let polled = Poll::new().and_then(|poll| {
            poll.registry()
                .register(&mut SourceFd(&descriptor), Token(0), Interest::READABLE)
                .map(|()| poll)
        });
        let mut poll = match polled {
            Ok(poll) => poll,
            Err(error) => {
                tracing::error!(%error, "the admin thread cannot poll; admin API off");
                return;
            }
        };
        let mut events = Events::with_capacity(8);
        while !shutdown.load(Ordering::Relaxed) {
            if poll.poll(&mut events, Some(POLL_INTERVAL)).is_err() {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            // Accept everything pending (edge-triggered readiness).
            loop {
                match server.listener.accept() {
                    Ok((stream, _)) => server.dispatch(stream, &active),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
    }

    /// Serves `stream` on a thread of its own, or answers 503 when
    /// [`ADMIN_CONNECTIONS_MAX`] are being served already.
    fn dispatch(self: &Arc<Self>, stream: std::net::TcpStream, active: &Arc<AtomicUsize>) {
        if active.fetch_add(1, Ordering::AcqRel) >= ADMIN_CONNECTIONS_MAX {
            active.fetch_sub(1, Ordering::AcqRel);
            http::refuse_busy(stream);
            return;
        }
        /// Gives the slot back however the request ends, a panic included.
        struct Slot(Arc<AtomicUsize>);
        impl Drop for Slot {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let slot = Slot(active.clone());
        let server = self.clone();
        let spawned = std::thread::Builder::new()
            .name("dnslb-admin-request".to_owned())
            .spawn(move || {
                let _slot = slot;
                http::serve_connection(stream, |request| server.route(request));
            });
        if let Err(error) = spawned {
            // The closure, and with it the slot, was dropped.
            tracing::warn!(%error, "cannot start an admin request thread");
        }
    }

    /// Whether `request` carries the running config's token (always, when
    /// none is configured). Compares in time independent of where they
    /// differ.
    fn authorized(&self, request: &http::Request) -> bool {
        let config = self.control.config();
        let Some(token) = config.admin.as_ref().and_then(|admin| admin.token.as_ref()) else {
            return true;
        };
        let Some(given) = request
            .authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |difference, (a, b)| difference | (a ^ b))
                == 0
    }

    fn route(&self, request: &http::Request) -> http::Response {
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        let mutating = request.method == "POST";
        if mutating && !self.authorized(request) {
            return error(
                401,
                "this endpoint needs Authorization: Bearer <admin.token>",
            );
        }
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["metrics"]) => http::Response::prometheus(metrics::render(
                &self.control,
                &self.stats,
                &self.transfers,
            )),
            ("GET", ["status"]) => match serde_json::to_value(self.control.status()) {
                Ok(mut body) => {
                    if let Some(object) = body.as_object_mut() {
                        object.insert(
                            "zones".to_owned(),
                            serde_json::to_value(self.transfers.statuses()).unwrap_or_default(),
                        );
                    }
                    http::Response::json(200, &body)
                }
                Err(failure) => error(500, &failure.to_string()),
            },
            ("POST", ["zones", zone, "refresh"]) => match self.transfers.refresh(zone) {
                Ok(zone) => http::Response::json(
                    202,
                    &serde_json::json!({ "zone": zone, "refresh": "scheduled" }),
                ),
                Err(message) => error(404, &message),
            },
            ("GET", ["explain"]) => {
                let snapshot = self.control.snapshot().load_full();
                match explain::explain(&snapshot, &request.query) {
                    Ok(body) => http::Response::json(200, &body),
                    Err(message) => error(400, &message),
                }
            }
            ("POST", ["backends", service, backend, action @ ("drain" | "undrain")]) => {
                let drained = *action == "drain";
                match self.control.set_drained(service, backend, drained) {
                    Ok(generation) => http::Response::json(
                        200,
                        &serde_json::json!({
                            "service": service,
                            "backend": backend,
                            "drained": drained,
                            "generation": generation,
                        }),
                    ),
                    Err(failure) => control_error(&failure),
                }
            }
            ("POST", ["backends", service, backend, "load"]) => {
                self.set_load(service, backend, &request.query)
            }
            ("POST", ["reload"]) => match self.control.reload() {
                Ok(report) => match serde_json::to_value(report) {
                    Ok(body) => http::Response::json(200, &body),
                    Err(failure) => error(500, &failure.to_string()),
                },
                Err(failure) => control_error(&failure),
            },
            (_, ["metrics" | "status" | "explain"]) => error(405, "use GET"),
            (
                _,
                ["backends", _, _, "drain" | "undrain" | "load"]
                | ["reload"]
                | ["zones", _, "refresh"],
            ) => error(405, "use POST"),
            _ => error(404, "no such endpoint"),
        }
    }

    /// Records a backend's load and publishes a snapshot with it.
    fn set_load(&self, service: &str, backend: &str, query: &[(String, String)]) -> http::Response {
        let Some(value) = query
            .iter()
            .find(|(key, _)| key == "value")
            .map(|(_, value)| value.as_str())
        else {
            return error(400, "missing the value parameter (0.0 to 1.0)");
        };
        let Some(load) = value
            .parse::<f32>()
            .ok()
            .filter(|load| (0.0..=1.0).contains(load))
        else {
            return error(
                400,
                &format!("value {value:?} is not a number from 0.0 to 1.0"),
            );
        };
        match self.control.set_load(service, backend, load) {
            Ok(generation) => http::Response::json(
                200,
                &serde_json::json!({
                    "service": service,
                    "backend": backend,
                    "load": load,
                    "generation": generation,
                }),
            ),
            Err(failure) => control_error(&failure),
        }
    }
}

fn error(status: u16, message: &str) -> http::Response {
    http::Response::json(status, &serde_json::json!({ "error": message }))
}

/// The response for a failed control request: 404 for an unknown service or
/// backend, 409 for a reload that needs a restart, 400 with every config
/// error (file, line, key, message) for a refused reload.
fn control_error(failure: &ControlError) -> http::Response {
    match failure {
        ControlError::UnknownService(_) | ControlError::UnknownBackend { .. } => {
            error(404, &failure.to_string())
        }
        ControlError::BadLoad(_) => error(400, &failure.to_string()),
        ControlError::NeedsRestart(_) => error(409, &failure.to_string()),
        ControlError::Config(errors) => http::Response::json(
            400,
            &serde_json::json!({
                "error": "the config has errors; the running config is unchanged",
                "errors": errors.0.iter().map(|error| serde_json::json!({
                    "file": error.file.display().to_string(),
                    "line": error.line,
                    "key": error.key,
                    "message": error.message,
                    "text": error.to_string(),
                })).collect::<Vec<_>>(),
            }),
        ),
    }
}
