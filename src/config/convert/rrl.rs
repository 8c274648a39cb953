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

#[cfg(test)]
mod tests {
    use crate::config::test_support::{accepted, rejected, rejected_once, server_with};
    use crate::config::{
        RRL_IPV4_PREFIX_DEFAULT, RRL_IPV6_PREFIX_DEFAULT, RRL_RESPONSES_PER_SECOND_DEFAULT,
        RRL_SLIP_DEFAULT, RRL_TABLE_SIZE_DEFAULT, RrlSettings,
    };

    #[test]
    fn rrl_is_off_without_its_table_and_defaults_with_it() {
        assert_eq!(accepted(&server_with("")).rrl, None);
        let on = accepted(&server_with("[rrl]")).rrl.unwrap();
        assert_eq!(
            on,
            RrlSettings {
                responses_per_second: RRL_RESPONSES_PER_SECOND_DEFAULT,
                slip: RRL_SLIP_DEFAULT,
                ipv4_prefix: RRL_IPV4_PREFIX_DEFAULT,
                ipv6_prefix: RRL_IPV6_PREFIX_DEFAULT,
                table_size: RRL_TABLE_SIZE_DEFAULT,
            }
        );
        let set = accepted(&server_with(
            "[rrl]\nresponses_per_second = 5\nslip = 0\nipv4_prefix = 32\nipv6_prefix = 64\ntable_size = 4096",
        ))
        .rrl
        .unwrap();
        assert_eq!(
            (
                set.responses_per_second,
                set.slip,
                set.ipv4_prefix,
                set.ipv6_prefix,
                set.table_size
            ),
            (5, 0, 32, 64, 4096)
        );
    }

    #[test]
    fn rrl_bounds_name_key_and_line() {
        rejected_once(
            &server_with("[rrl]\nresponses_per_second = 0"),
            "rrl.responses_per_second",
            4,
        );
        rejected_once(&server_with("[rrl]\nslip = 101"), "rrl.slip", 4);
        rejected_once(
            &server_with("[rrl]\nipv4_prefix = 33"),
            "rrl.ipv4_prefix",
            4,
        );
        rejected_once(&server_with("[rrl]\nipv6_prefix = 0"), "rrl.ipv6_prefix", 4);
        rejected_once(&server_with("[rrl]\ntable_size = 10"), "rrl.table_size", 4);
        let errors = rejected(&server_with("[rrl]\nburst = 3"));
        assert!(errors[0].to_string().contains("burst"), "{}", errors[0]);
    }
}
