//! TSIG (RFC 8945): transaction signatures with HMAC-SHA256, -SHA384 and
//! -SHA512, for zone transfers, SOA queries and NOTIFY.

/// A TSIG algorithm we sign and verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm, in the order the config lists them.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The name the config and the other tools (Knot, BIND) use:
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm a config or tool name stands for (case-insensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name))
    }
}
