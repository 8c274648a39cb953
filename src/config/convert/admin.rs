//! Converts the `[admin]` table into [`AdminConfig`]; an absent table means
//! no admin listener.
//!
//! Checks: `listen` (default [`ADMIN_LISTEN_DEFAULT`]) is a socket address
//! not among `server.listen` (port 0 aside: the kernel picks a fresh one),
//! and a loopback address unless `token` is set; `token` is
//! [`ADMIN_TOKEN_MIN_BYTES`]..=[`ADMIN_TOKEN_MAX_BYTES`] printable ASCII
//! characters without spaces.

use std::net::SocketAddr;
use std::str::FromStr;

use toml::Spanned;

use super::super::raw::RawAdmin;
use super::super::{
    ADMIN_LISTEN_DEFAULT, ADMIN_TOKEN_MAX_BYTES, ADMIN_TOKEN_MIN_BYTES, AdminConfig, ServerConfig,
};
use super::Checker;

impl Checker<'_> {
    /// Converts `[admin]`: absent (no admin listener), or a table whose
    /// `listen` (default [`ADMIN_LISTEN_DEFAULT`]) is a socket address not
    /// among `server.listen`. `None` means absent or invalid.
    pub(super) fn admin(
        &mut self,
        raw: Option<Spanned<RawAdmin>>,
        server: Option<&ServerConfig>,
    ) -> Option<AdminConfig> {
        const KEY: &str = "admin.listen";
        let raw = raw?;
        let header = raw.span();
        let raw = raw.into_inner();
        let token = match raw.token {
            None => None,
            Some(token) => {
                let text = token.get_ref();
                if text.len() < ADMIN_TOKEN_MIN_BYTES
                    || text.len() > ADMIN_TOKEN_MAX_BYTES
                    || !text.bytes().all(|byte| byte.is_ascii_graphic())
                {
                    self.error(
                        Some(&token.span()),
                        "admin.token",
                        format!(
                            "must be {ADMIN_TOKEN_MIN_BYTES} to {ADMIN_TOKEN_MAX_BYTES} printable \
                             ASCII characters without spaces (e.g. from `openssl rand -hex 32`)"
                        ),
                    );
                    return None;
                }
                Some(text.clone())
            }
        };
        let (listen, span) = match raw.listen {
            None => (ADMIN_LISTEN_DEFAULT, header),
            Some(listen) => match SocketAddr::from_str(listen.get_ref()) {
                Ok(address) => (address, listen.span()),
                Err(error) => {
                    self.error(
                        Some(&listen.span()),
                        KEY,
                        format!(
                            "{:?} is not a socket address ({error}); \
                             write \"127.0.0.1:8053\" or \"[::1]:8053\"",
                            listen.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        // Port 0 asks the kernel for a fresh port each time, so it never clashes.
        if listen.port() != 0 && server.is_some_and(|server| server.listen.contains(&listen)) {
            self.error(
                Some(&span),
                KEY,
                format!("{listen} is also in server.listen: the admin API needs its own address"),
            );
            return None;
        }
        if !listen.ip().is_loopback() && token.is_none() {
            self.error(
                Some(&span),
                KEY,
                format!(
                    "{listen} is not a loopback address: set admin.token so that only \
                     holders of the token can drain, reload or change loads"
                ),
            );
            return None;
        }
        Some(AdminConfig { listen, token })
    }
}
