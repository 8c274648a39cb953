//! Converts the `[xdp]` table into [`XdpConfig`]: absent means no XDP (every
//! query through the kernel's sockets); a present table needs `interface`
//! and takes every other key's default when it is left out.
//!
//! Checks: `interface` is a name Linux accepts for a network interface
//! (1..=[`XDP_INTERFACE_MAX_BYTES`] bytes, not `.` or `..`, no `/`, `:`,
//! whitespace or control characters); `queues` is `"all"` or a non-empty
//! list of distinct queue numbers up to [`XDP_QUEUE_MAX`], and, with
//! `server.cpus` present, lists no more queues than it lists CPUs (each XDP
//! worker is pinned to the next CPU of `server.cpus`, in order);
//! `zero_copy` is `"auto"`, `"on"` or `"off"`; `frame_size` and `ring_size`
//! are powers of two within their bounds.

use std::ops::{Range, RangeInclusive};

use toml::Spanned;

use super::super::raw::{RawQueues, RawXdp};
use super::super::{ServerConfig, XdpConfig, XdpQueues, ZeroCopy};
use super::Checker;

/// Longest `xdp.interface`, in bytes: Linux's `IFNAMSIZ` less its NUL.
pub const XDP_INTERFACE_MAX_BYTES: usize = 15;
/// Highest rx queue number `xdp.queues` may name, as high as a CPU index
/// (`server.cpus`) may be: each queue gets a worker pinned to a CPU of its
/// own among the XDP workers.
pub const XDP_QUEUE_MAX: u32 = 1023;
/// Smallest `xdp.frame_size`, in bytes: the smallest UMEM chunk the kernel
/// takes in aligned mode; it holds a frame of a 1500-byte MTU after the
/// kernel's 256 bytes of XDP headroom.
pub const XDP_FRAME_SIZE_MIN: u32 = 2048;
/// Largest `xdp.frame_size`, in bytes: an aligned UMEM chunk is at most
/// one page, and 4096 is the smallest page size Linux runs with.
pub const XDP_FRAME_SIZE_MAX: u32 = 4096;
/// Default `xdp.frame_size`, in bytes.
pub const XDP_FRAME_SIZE_DEFAULT: u32 = 2048;
/// Fewest entries per ring (`xdp.ring_size`).
pub const XDP_RING_SIZE_MIN: u32 = 64;
/// Most entries per ring (`xdp.ring_size`).
pub const XDP_RING_SIZE_MAX: u32 = 16384;
/// Default entries per ring (`xdp.ring_size`).
pub const XDP_RING_SIZE_DEFAULT: u32 = 2048;

/// `xdp.zero_copy` as written, with its value.
const ZERO_COPY_CHOICES: &[(&str, ZeroCopy)] = &[
    ("auto", ZeroCopy::Auto),
    ("on", ZeroCopy::On),
    ("off", ZeroCopy::Off),
];

impl Checker<'_> {
    /// Converts `[xdp]`; `server` (when valid) is checked against
    /// `xdp.queues`. `Some(None)` means absent (no XDP); `None` means
    /// invalid (errors recorded).
    pub(super) fn xdp(
        &mut self,
        raw: Option<Spanned<RawXdp>>,
        server: Option<&ServerConfig>,
    ) -> Option<Option<XdpConfig>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let header = raw.span();
        let raw = raw.into_inner();
        let interface = self
            .required(
                raw.interface,
                Some(&header),
                "xdp.interface",
                "the network interface to answer on, e.g. interface = \"eth0\"",
            )
            .and_then(|interface| self.interface(interface));
        let queues = match raw.queues {
            None => Some(XdpQueues::All),
            Some(queues) => self.queues(&queues, server),
        };
        let zero_copy = match &raw.zero_copy {
            None => Some(ZeroCopy::Auto),
            Some(value) => self.choice("xdp.zero_copy", value, ZERO_COPY_CHOICES),
        };
        let frame_size = match &raw.frame_size {
            None => Some(XDP_FRAME_SIZE_DEFAULT),
            Some(value) => self.power_of_two(
                "xdp.frame_size",
                value,
                XDP_FRAME_SIZE_MIN..=XDP_FRAME_SIZE_MAX,
                "UMEM frames in aligned mode are a power of two from 2048 bytes to the page size",
            ),
        };
        let ring_size = match &raw.ring_size {
            None => Some(XDP_RING_SIZE_DEFAULT),
            Some(value) => self.power_of_two(
                "xdp.ring_size",
                value,
                XDP_RING_SIZE_MIN..=XDP_RING_SIZE_MAX,
                "AF_XDP rings hold a power of two of entries",
            ),
        };
        Some(Some(XdpConfig {
            interface: interface?,
            queues: queues?,
            zero_copy: zero_copy?,
            frame_size: frame_size?,
            ring_size: ring_size?,
        }))
    }

    /// Checks `xdp.interface` (see [`interface_name_problem`]).
    fn interface(&mut self, raw: Spanned<String>) -> Option<String> {
        match interface_name_problem(raw.get_ref()) {
            Some(problem) => {
                self.error(Some(&raw.span()), "xdp.interface", problem);
                None
            }
            None => Some(raw.into_inner()),
        }
    }

    /// Converts `xdp.queues`: `"all"` or a non-empty list of distinct queue
    /// numbers, each at most [`XDP_QUEUE_MAX`], no longer than `server.cpus`
    /// when that is present.
    fn queues(
        &mut self,
        raw: &Spanned<RawQueues>,
        server: Option<&ServerConfig>,
    ) -> Option<XdpQueues> {
        const KEY: &str = "xdp.queues";
        let span = raw.span();
        match raw.get_ref() {
            RawQueues::Text(text) if text == "all" => Some(XdpQueues::All),
            RawQueues::Text(text) => {
                self.error(
                    Some(&span),
                    KEY,
                    format!("{text:?} is not valid: write \"all\" or a list such as [0, 1]"),
                );
                None
            }
            RawQueues::List(entries) => {
                let queues = self.distinct_integers(
                    KEY,
                    &span,
                    entries,
                    0..=XDP_QUEUE_MAX,
                    ("queue", "or write \"all\" for every queue of the interface"),
                )?;
                self.enough_cpus(&span, &queues, server)?;
                Some(XdpQueues::List(queues))
            }
        }
    }

    /// Checks that `server.cpus`, when present, has a CPU for each queue of
    /// `queues` (written at `span`). `None` (error recorded) when short.
    fn enough_cpus(
        &mut self,
        span: &Range<usize>,
        queues: &[u32],
        server: Option<&ServerConfig>,
    ) -> Option<()> {
        let Some(cpus) = server.and_then(|server| server.cpus.as_ref()) else {
            return Some(());
        };
        if cpus.len() >= queues.len() {
            return Some(());
        }
        let plural = |count: usize| if count == 1 { "" } else { "s" };
        self.error(
            Some(span),
            "xdp.queues",
            format!(
                "lists {} queue{}, but server.cpus lists only {} CPU{}: each XDP worker is \
                 pinned to the next CPU of server.cpus, in order; list more CPUs in server.cpus \
                 or fewer queues",
                queues.len(),
                plural(queues.len()),
                cpus.len(),
                plural(cpus.len()),
            ),
        );
        None
    }

    /// Converts an integer key that must be a power of two within `bounds`;
    /// `why` says why, in the error.
    fn power_of_two(
        &mut self,
        key: &str,
        raw: &Spanned<i64>,
        bounds: RangeInclusive<u32>,
        why: &str,
    ) -> Option<u32> {
        let value = self.integer(key, raw, bounds)?;
        if value.is_power_of_two() {
            return Some(value);
        }
        self.error(
            Some(&raw.span()),
            key,
            format!(
                "{value} is not a power of two ({why}); write e.g. {}",
                value.next_power_of_two() / 2
            ),
        );
        None
    }
}

/// Why `name` is not a network interface name, by the rules of Linux's
/// `dev_valid_name`, refusing control characters too (a NUL would cut the
/// name short); `None` when it is one.
fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if name.len() > XDP_INTERFACE_MAX_BYTES {
        return Some(format!(
            "{name:?} is {} bytes long, more than the {XDP_INTERFACE_MAX_BYTES} an interface \
             name may have",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} cannot be an interface name"));
    }
    let refused = name.chars().find(|c| {
        let mut bytes = [0; 4];
        c.encode_utf8(&mut bytes)
            .bytes()
            .any(refused_in_interface_name)
    })?;
    Some(format!(
        "{name:?} is not an interface name: Linux refuses {refused:?} in one (no '/', ':', \
         whitespace or control characters)"
    ))
}

/// Whether Linux's `dev_valid_name` refuses `byte` in an interface name
/// ('/', ':' and what the kernel's `isspace` calls space, which includes
/// 0xA0), or it is an ASCII control character.
fn refused_in_interface_name(byte: u8) -> bool {
    matches!(byte, b'/' | b':' | b'\t'..=b'\r' | b' ' | 0xa0) || byte.is_ascii_control()
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{
        accepted, keys_and_lines, rejected, rejected_once, server_with,
    };
    use crate::config::{
        XDP_FRAME_SIZE_DEFAULT, XDP_QUEUE_MAX, XDP_RING_SIZE_DEFAULT, XDP_RING_SIZE_MAX,
        XDP_RING_SIZE_MIN, XdpConfig, XdpQueues, ZeroCopy,
    };

    /// A valid `[server]` with `[xdp]` on line 3 and `keys` from line 4 on.
    fn xdp(keys: &str) -> String {
        server_with(&format!("[xdp]\n{keys}"))
    }

    /// As [`xdp`], with `interface = "eth0"` on line 4 and `keys` from
    /// line 5 on.
    fn eth0(keys: &str) -> String {
        xdp(&format!("interface = \"eth0\"\n{keys}"))
    }

    #[test]
    fn xdp_is_off_without_its_table() {
        assert_eq!(accepted(&server_with("")).xdp, None);
    }

    #[test]
    fn xdp_defaults_with_only_the_interface() {
        assert_eq!(
            accepted(&eth0("")).xdp,
            Some(XdpConfig {
                interface: "eth0".to_owned(),
                queues: XdpQueues::All,
                zero_copy: ZeroCopy::Auto,
                frame_size: XDP_FRAME_SIZE_DEFAULT,
                ring_size: XDP_RING_SIZE_DEFAULT,
            })
        );
        assert_eq!(
            (XDP_FRAME_SIZE_DEFAULT, XDP_RING_SIZE_DEFAULT),
            (2048, 2048)
        );
    }

    #[test]
    fn xdp_full_table() {
        let config = accepted(&xdp("interface = \"enp65s0f0np0\"\nqueues = [3, 0, 1]\n\
             zero_copy = \"on\"\nframe_size = 4096\nring_size = 512"));
        assert_eq!(
            config.xdp,
            Some(XdpConfig {
                interface: "enp65s0f0np0".to_owned(),
                queues: XdpQueues::List(vec![3, 0, 1]),
                zero_copy: ZeroCopy::On,
                frame_size: 4096,
                ring_size: 512,
            })
        );
        let zero_copy = |value: &str| {
            accepted(&eth0(&format!("zero_copy = {value:?}")))
                .xdp
                .map(|xdp| xdp.zero_copy)
        };
        assert_eq!(zero_copy("auto"), Some(ZeroCopy::Auto));
        assert_eq!(zero_copy("off"), Some(ZeroCopy::Off));
        let queues = accepted(&eth0("queues = \"all\""))
            .xdp
            .map(|xdp| xdp.queues);
        assert_eq!(queues, Some(XdpQueues::All));
    }

    #[test]
    fn xdp_interface_is_required() {
        let error = rejected_once(&xdp("queues = [0]"), "xdp.interface", 3);
        assert!(error.message.starts_with("required"), "{error}");
        rejected_once(&server_with("[xdp]"), "xdp.interface", 3);
    }

    #[test]
    fn xdp_interface_is_a_linux_interface_name() {
        // TOML's escapes, not Rust's (`\u{a0}`).
        let at = |name: &str| xdp(&format!("interface = {}", toml::Value::from(name)));
        for good in ["lo", "a", "eth0.100", "br-lan_2", "fifteen-bytes-x", "v@ü"] {
            let config = accepted(&at(good));
            assert_eq!(config.xdp.map(|xdp| xdp.interface).as_deref(), Some(good));
        }
        for bad in [
            "",
            "sixteen-bytes-xx",
            "ethüüüüüüü0",
            ".",
            "..",
            "eth/0",
            "eth0:1",
            "eth 0",
            "eth0\t",
            "\u{a0}eth0",
            "eth\u{0}",
            "eth\u{7f}",
            "eth\u{e0}",
        ] {
            rejected_once(&at(bad), "xdp.interface", 4);
        }
        let error = rejected_once(&at("sixteen-bytes-xx"), "xdp.interface", 4);
        assert!(error.message.contains("16 bytes"), "{error}");
        let error = rejected_once(&at("eth/0"), "xdp.interface", 4);
        assert!(error.message.contains("'/'"), "{error}");
        rejected_once(&xdp("interface = 0"), "xdp.interface", 4);
    }

    #[test]
    fn xdp_queues_all_or_a_list() {
        let at = |value: &str| eth0(&format!("queues = {value}"));
        let queues = |value: &str| accepted(&at(value)).xdp.map(|xdp| xdp.queues);
        assert_eq!(queues("[0]"), Some(XdpQueues::List(vec![0])));
        assert_eq!(
            queues(&format!("[{XDP_QUEUE_MAX}, 7]")),
            Some(XdpQueues::List(vec![XDP_QUEUE_MAX, 7]))
        );
        assert_eq!(XDP_QUEUE_MAX, 1023);
        rejected_once(&at("[1024]"), "xdp.queues", 5);
        rejected_once(&at("[-1]"), "xdp.queues", 5);
        let error = rejected_once(&at("[]"), "xdp.queues", 5);
        assert!(error.message.contains("at least one queue"), "{error}");
        let error = rejected_once(&at("[\n  2,\n  0,\n  2,\n]"), "xdp.queues", 8);
        assert!(
            error.message.contains("duplicate queue 2") && error.message.contains("line 6"),
            "{error}"
        );
        let error = rejected_once(&at("\"All\""), "xdp.queues", 5);
        assert!(error.message.contains("\"all\""), "{error}");
        rejected_once(&at("\"0\""), "xdp.queues", 5);
        // Wrong types stop loading in layer 1, still naming the key.
        rejected_once(&at("4"), "xdp.queues", 5);
        rejected_once(&at("true"), "xdp.queues", 5);
        rejected_once(&at("[\"0\"]"), "xdp.queues", 5);
    }

    #[test]
    fn xdp_queues_need_as_many_server_cpus() {
        let text = |cpus: &str, queues: &str| {
            format!(
                "[server]\nlisten = [\"127.0.0.1:53\"]\ncpus = {cpus}\n\
                 [xdp]\ninterface = \"eth0\"\nqueues = {queues}\n"
            )
        };
        let queues =
            |cpus: &str, queues: &str| accepted(&text(cpus, queues)).xdp.map(|xdp| xdp.queues);
        assert_eq!(
            queues("[4, 5]", "[0, 1]"),
            Some(XdpQueues::List(vec![0, 1]))
        );
        assert_eq!(queues("[4, 5, 6]", "[1]"), Some(XdpQueues::List(vec![1])));
        // With "all" the count is the interface's, unknown to the config.
        assert_eq!(queues("[4]", "\"all\""), Some(XdpQueues::All));
        // Without server.cpus nothing is pinned to a list.
        let config = accepted(&eth0("queues = [0, 1, 2, 3]"));
        assert_eq!(config.server.cpus, None);
        let error = rejected_once(&text("[4, 5]", "[0, 1, 2]"), "xdp.queues", 6);
        assert!(
            error.message.contains("3 queues")
                && error.message.contains("server.cpus lists only 2 CPUs")
                && error.message.contains("next CPU of server.cpus"),
            "{error}"
        );
        let error = rejected_once(&text("[4]", "[0, 1]"), "xdp.queues", 6);
        assert!(error.message.contains("only 1 CPU:"), "{error}");
    }

    #[test]
    fn xdp_zero_copy_choices() {
        let error = rejected_once(&eth0("zero_copy = \"yes\""), "xdp.zero_copy", 5);
        assert!(error.message.contains("auto, on, off"), "{error}");
        rejected_once(&eth0("zero_copy = true"), "xdp.zero_copy", 5);
    }

    #[test]
    fn xdp_frame_size_is_2048_or_4096() {
        let at = |value: i64| eth0(&format!("frame_size = {value}"));
        let size = |value: i64| accepted(&at(value)).xdp.map(|xdp| xdp.frame_size);
        assert_eq!(size(2048), Some(2048));
        assert_eq!(size(4096), Some(4096));
        for bad in [0, 1024, 2047, 3000, 8192, -2048] {
            rejected_once(&at(bad), "xdp.frame_size", 5);
        }
        let error = rejected_once(&at(3000), "xdp.frame_size", 5);
        assert!(error.message.contains("not a power of two"), "{error}");
        let error = rejected_once(&at(8192), "xdp.frame_size", 5);
        assert!(error.message.contains("out of bounds"), "{error}");
    }

    #[test]
    fn xdp_ring_size_is_a_power_of_two_in_bounds() {
        let at = |value: i64| eth0(&format!("ring_size = {value}"));
        let size = |value: i64| accepted(&at(value)).xdp.map(|xdp| xdp.ring_size);
        assert_eq!(size(64), Some(XDP_RING_SIZE_MIN));
        assert_eq!(size(16384), Some(XDP_RING_SIZE_MAX));
        assert_eq!(size(1024), Some(1024));
        for bad in [0, 32, 63, 100, 2047, 32768, -64] {
            rejected_once(&at(bad), "xdp.ring_size", 5);
        }
        let error = rejected_once(&at(1000), "xdp.ring_size", 5);
        assert!(error.message.contains("write e.g. 512"), "{error}");
    }

    #[test]
    fn xdp_unknown_key_rejected() {
        let error = rejected_once(&eth0("queue = [0]"), "xdp.queue", 5);
        assert!(error.message.contains("unknown field `queue`"), "{error}");
        rejected_once(&eth0("zerocopy = \"on\""), "xdp.zerocopy", 5);
    }

    #[test]
    fn xdp_problems_are_all_reported() {
        let errors = rejected(&xdp(
            "interface = \"eth/0\"\nqueues = []\nzero_copy = \"maybe\"\n\
             frame_size = 1000\nring_size = 3",
        ));
        assert_eq!(
            keys_and_lines(&errors),
            vec![
                ("xdp.interface", Some(4)),
                ("xdp.queues", Some(5)),
                ("xdp.zero_copy", Some(6)),
                ("xdp.frame_size", Some(7)),
                ("xdp.ring_size", Some(8)),
            ]
        );
    }
}
