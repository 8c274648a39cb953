//! Converts the `[rrl]` table into [`RrlSettings`]: absent means off; a
//! present table turns rate limiting on with each missing key at its
//! default (our conservative choice: 20/s, slip 2, /24, /56; NSD uses 200/s).

use toml::Spanned;

use super::super::raw::RawRrl;
use super::Checker;
use crate::rrl::RrlSettings;

/// `rrl.responses_per_second` bounds and default.
pub const RRL_RESPONSES_PER_SECOND_MIN: u32 = 1;
pub const RRL_RESPONSES_PER_SECOND_MAX: u32 = 1_000_000;
pub const RRL_RESPONSES_PER_SECOND_DEFAULT: u32 = 20;
/// `rrl.slip` bounds and default: 0 drops every limited response, 1
/// truncates every one, N truncates every N-th.
pub const RRL_SLIP_MAX: u32 = 100;
pub const RRL_SLIP_DEFAULT: u32 = 2;
/// `rrl.ipv4_prefix` and `rrl.ipv6_prefix` defaults (bounds 1..=32 and
/// 1..=128).
pub const RRL_IPV4_PREFIX_DEFAULT: u8 = 24;
pub const RRL_IPV6_PREFIX_DEFAULT: u8 = 56;
/// `rrl.table_size` bounds and default (8 bytes a bucket, shared by all
/// workers: the default is 8 MB, NSD's default count).
pub const RRL_TABLE_SIZE_MIN: usize = 1024;
pub const RRL_TABLE_SIZE_MAX: usize = 1 << 27;
pub const RRL_TABLE_SIZE_DEFAULT: usize = 1_000_000;

impl Checker<'_> {
    /// Converts `[rrl]`. `Some(None)` means absent (off); `None` means
    /// invalid (errors recorded).
    pub(super) fn rrl(&mut self, raw: Option<Spanned<RawRrl>>) -> Option<Option<RrlSettings>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let raw = raw.into_inner();
        let responses_per_second = match &raw.responses_per_second {
            None => Some(RRL_RESPONSES_PER_SECOND_DEFAULT),
            Some(value) => self.integer(
                "rrl.responses_per_second",
                value,
                RRL_RESPONSES_PER_SECOND_MIN..=RRL_RESPONSES_PER_SECOND_MAX,
            ),
        };
        let slip = match &raw.slip {
            None => Some(RRL_SLIP_DEFAULT),
            Some(value) => self.integer("rrl.slip", value, 0..=RRL_SLIP_MAX),
        };
        let ipv4_prefix = match &raw.ipv4_prefix {
            None => Some(RRL_IPV4_PREFIX_DEFAULT),
            Some(value) => self.integer("rrl.ipv4_prefix", value, 1..=32),
        };
        let ipv6_prefix = match &raw.ipv6_prefix {
            None => Some(RRL_IPV6_PREFIX_DEFAULT),
            Some(value) => self.integer("rrl.ipv6_prefix", value, 1..=128),
        };
        let table_size = match &raw.table_size {
            None => Some(RRL_TABLE_SIZE_DEFAULT),
            Some(value) => self.integer(
                "rrl.table_size",
                value,
                RRL_TABLE_SIZE_MIN..=RRL_TABLE_SIZE_MAX,
            ),
        };
        Some(Some(RrlSettings {
            responses_per_second: responses_per_second?,
            slip: slip?,
            ipv4_prefix: ipv4_prefix?,
            ipv6_prefix: ipv6_prefix?,
            table_size: table_size?,
        }))
    }
}
