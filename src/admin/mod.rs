//! The admin HTTP listener (`[admin] listen`, loopback by default): a
//! control-plane thread, never a data-plane one.
//!
//! Endpoints:
//! - `GET /explain?name=NAME&type=TYPE&client=ADDRESS[&ecs=CIDR]`: how the
//!   server answers that question for that client, and why (see
//!   [`explain`]).
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

use crate::snapshot::SharedSnapshot;

/// How often the accept loop looks at the shutdown flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The admin server: a bound listener and what the endpoints read.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    snapshot: Arc<SharedSnapshot>,
}

impl AdminServer {
    /// Binds `address`.
    pub fn bind(address: SocketAddr, snapshot: Arc<SharedSnapshot>) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer { listener, snapshot })
    }

    /// The bound address (with the real port when the config said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves requests one at a time until `shutdown` is set.
    pub fn run(self, shutdown: &AtomicBool) {
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

    fn route(&self, request: &http::Request) -> http::Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/explain") => {
                let snapshot = self.snapshot.load_full();
                match explain::explain(&snapshot, &request.query) {
                    Ok(body) => http::Response::json(200, &body),
                    Err(message) => {
                        http::Response::json(400, &serde_json::json!({ "error": message }))
                    }
                }
            }
            (_, "/explain") => {
                http::Response::json(405, &serde_json::json!({ "error": "use GET" }))
            }
            _ => http::Response::json(404, &serde_json::json!({ "error": "no such endpoint" })),
        }
    }
}
