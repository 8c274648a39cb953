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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use crate::config::test_support::{accepted, rejected_once, server_with};
    use crate::config::{ADMIN_LISTEN_DEFAULT, AdminConfig};

    #[test]
    fn admin_absent_default_and_given() {
        assert_eq!(accepted(&server_with("")).admin, None);
        assert_eq!(
            accepted(&server_with("[admin]")).admin,
            Some(AdminConfig {
                listen: ADMIN_LISTEN_DEFAULT,
                token: None,
            })
        );
        assert_eq!(
            ADMIN_LISTEN_DEFAULT,
            SocketAddr::from(([127, 0, 0, 1], 8053))
        );
        assert_eq!(
            accepted(&server_with("[admin]\nlisten = \"[::1]:9000\"")).admin,
            Some(AdminConfig {
                listen: SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 9000)),
                token: None,
            })
        );
    }

    #[test]
    fn admin_listen_errors() {
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"localhost:8053\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("\"localhost:8053\""), "{error}");
        rejected_once(&server_with("[admin]\nlisten = 8053"), "admin.listen", 4);
        rejected_once(&server_with("[admin]\nlistn = \"x\""), "admin.listn", 4);
        // Not one of the DNS listen addresses, also when defaulted.
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"127.0.0.1:53\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("server.listen"), "{error}");
        rejected_once(
            "[server]\nlisten = [\"127.0.0.1:8053\"]\n[admin]\n",
            "admin.listen",
            3,
        );
    }

    #[test]
    fn admin_token_and_non_loopback_listener() {
        let error = rejected_once(
            &server_with("[admin]\nlisten = \"0.0.0.0:8053\""),
            "admin.listen",
            4,
        );
        assert!(error.message.contains("admin.token"), "{error}");
        let config = accepted(&server_with(
            "[admin]\nlisten = \"0.0.0.0:8053\"\ntoken = \"0123456789abcdef0123\"",
        ));
        assert_eq!(
            config.admin.and_then(|admin| admin.token).as_deref(),
            Some("0123456789abcdef0123")
        );
        rejected_once(&server_with("[admin]\ntoken = \"short\""), "admin.token", 4);
    }
}
