//! The admin HTTP listener (`[admin] listen`, loopback by default): a
//! control-plane thread, never a data-plane one.
//!
//! Endpoints:
//! - `GET /explain?name=NAME&type=TYPE&client=ADDRESS[&ecs=CIDR]`: how the
//!   server answers that question for that client, and why (see
//!   [`explain`]).
//! - `POST /backends/{service}/{backend}/load?value=0.0-1.0`: sets the load
//!   figure a backend reports (for `least_loaded`); the pools are rebuilt
//!   and published in one snapshot swap, zones untouched.
//!
//! Requests are parsed with `httparse`; each connection carries one request
//! and is closed after the response. A slow or malformed client gets a
//! timeout or a 400 and cannot stall the data plane, which shares nothing
//! with this thread but the snapshot pointer.

pub mod explain;
mod http;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::str::FromStr;

use crate::config::Config;
use crate::service::BackendLoads;
use crate::snapshot::SharedSnapshot;
use crate::wire::name;

/// How often the accept loop looks at the shutdown flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The admin server: a bound listener and what the endpoints read.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    snapshot: Arc<SharedSnapshot>,
    /// The config the running snapshot was built from.
    config: Arc<Config>,
    /// Loads pushed so far; applied to every snapshot this thread publishes.
    loads: BackendLoads,
}

impl AdminServer {
    /// Binds `address`.
    pub fn bind(
        address: SocketAddr,
        snapshot: Arc<SharedSnapshot>,
        config: Arc<Config>,
    ) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer {
            listener,
            snapshot,
            config,
            loads: BackendLoads::new(),
        })
    }

    /// The bound address (with the real port when the config said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves requests one at a time until `shutdown` is set.
    pub fn run(mut self, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, _)) => http::serve_connection(stream, |request| self.route(request)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(POLL_INTERVAL)
                }
                Err(_) => std::thread::sleep(POLL_INTERVAL),
            }
        }
    }

    fn route(&mut self, request: &http::Request) -> http::Response {
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["explain"]) => {
                let snapshot = self.snapshot.load_full();
                match explain::explain(&snapshot, &request.query) {
                    Ok(body) => http::Response::json(200, &body),
                    Err(message) => error(400, &message),
                }
            }
            ("POST", ["backends", service, backend, "load"]) => {
                match self.set_load(service, backend, &request.query) {
                    Ok(body) => http::Response::json(200, &body),
                    Err((status, message)) => error(status, &message),
                }
            }
            (_, ["explain"]) => error(405, "use GET"),
            (_, ["backends", _, _, "load"]) => error(405, "use POST"),
            _ => error(404, "no such endpoint"),
        }
    }

    /// Records a backend's load and publishes a snapshot with it.
    fn set_load(
        &mut self,
        service: &str,
        backend: &str,
        query: &[(String, String)],
    ) -> Result<serde_json::Value, (u16, String)> {
        let value = query
            .iter()
            .find(|(key, _)| key == "value")
            .map(|(_, value)| value.as_str())
            .ok_or((400, "missing the value parameter (0.0 to 1.0)".to_owned()))?;
        let load: f32 = value
            .parse()
            .ok()
            .filter(|load: &f32| (0.0..=1.0).contains(load))
            .ok_or((
                400,
                format!("value {value:?} is not a number from 0.0 to 1.0"),
            ))?;
        let service_name = domain::base::Name::<Vec<u8>>::from_str(service)
            .map_err(|_| (404, format!("{service:?} is not a service name")))?;
        let current = self.snapshot.load_full();
        let (service_index, backend_index) = current
            .services
            .find_backend(&name::to_lowercase(service_name.as_slice()), backend)
            .ok_or((
                404,
                format!("no backend {backend:?} in service {service:?}"),
            ))?;
        self.loads.insert((service_index, backend_index), load);
        let next = current.with_backend_loads(&self.config, &self.loads, current.generation + 1);
        let generation = next.generation;
        self.snapshot.store(next);
        Ok(serde_json::json!({
            "service": service,
            "backend": backend,
            "load": load,
            "generation": generation,
        }))
    }
}

fn error(status: u16, message: &str) -> http::Response {
    http::Response::json(status, &serde_json::json!({ "error": message }))
}
