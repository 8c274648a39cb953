//! Tests of the shipped `dnslb.example.toml`, which is also the embedded
//! default: it is accepted with the values it shows, its written values are
//! the defaults, its commented-out keys parse when enabled, and it documents
//! every key.

use super::test_support::{PATH, accepted, address, name, networks};
use super::*;

const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dnslb.example.toml"));

#[test]
fn example_config_values() {
    let config = accepted(EXAMPLE);
    let server = &config.server;
    assert_eq!(
        server.listen,
        vec![
            SocketAddr::from(([127, 0, 0, 1], 5353)),
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5353)),
        ]
    );
    assert_eq!(server.workers, Workers::Auto);
    assert_eq!(server.cpus, None);
    assert_eq!(server.udp_payload, UDP_PAYLOAD_DEFAULT);
    assert_eq!(server.tcp_max_connections, TCP_MAX_CONNECTIONS_DEFAULT);
    assert_eq!(server.tcp_idle_timeout, TCP_IDLE_TIMEOUT_DEFAULT);
    assert_eq!(server.identity, None);
    assert_eq!(server.version, None);
    assert_eq!(config.zones.len(), 1);
    let zone = &config.zones[0];
    assert_eq!(zone.name.as_octets().as_ref(), b"\x07example\x03com\x00");
    assert_eq!(zone.file, Path::new("/etc/dnslb/zones/example.com.zone"));
    let name_line = EXAMPLE
        .lines()
        .position(|line| line.starts_with("name = "))
        .map(|index| index + 1);
    assert_eq!(Some(zone.line), name_line);
}

/// The 1-based line of the first line of the example equal to `text`.
fn example_line(text: &str) -> Option<usize> {
    EXAMPLE
        .lines()
        .position(|line| line == text)
        .map(|index| index + 1)
}

#[test]
fn example_config_new_values() {
    let config = accepted(EXAMPLE);
    assert!(config.server.ecs);
    assert_eq!(
        config.admin,
        Some(AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8053)),
            token: None,
        })
    );
    assert_eq!(
        config.regions,
        vec![
            RegionConfig {
                name: "eu".to_owned(),
                fallback: vec![1],
                line: example_line("name = \"eu\"").unwrap_or_default(),
            },
            RegionConfig {
                name: "us".to_owned(),
                fallback: vec![0],
                line: example_line("name = \"us\"").unwrap_or_default(),
            },
        ]
    );
    let networks = networks(&config);
    assert_eq!(
        networks,
        vec![
            ("198.51.100.0/24".to_owned(), 0),
            ("2001:db8:e0::/48".to_owned(), 0),
            ("203.0.113.0/24".to_owned(), 1),
        ]
    );
    assert_eq!(config.topology.default_region, None);
    assert_eq!(config.services.len(), 3);
    let local = &config.services[2];
    assert_eq!(local.name, name("local.example.com"));
    let check = local.backends[1].health.clone().expect("probed");
    assert_eq!((check.port, check.thresholds.fall.get()), (8053, 2));
    assert_eq!(
        check.kind,
        crate::health::ProbeKind::Http(crate::health::HttpProbe {
            path: "/status".into(),
            host: "local.example.com".into(),
            expect: vec![200],
            body_contains: None,
            load_header: None,
        })
    );

    let lb = &config.services[0];
    assert_eq!(lb.name, name("lb.example.com"));
    assert_eq!(Some(lb.line), example_line("name = \"lb.example.com\""));
    assert_eq!(lb.policy, Policy::Weighted);
    assert_eq!((lb.answers, lb.ttl), (2, 30));
    assert_eq!(lb.when_all_down, WhenAllDown::All);
    assert!(lb.fallback.is_empty());
    assert_eq!((lb.hash_prefix_v4, lb.hash_prefix_v6), (24, 56));
    let backends: Vec<(BackendTarget, u32, u32, Option<usize>)> = lb
        .backends
        .iter()
        .map(|backend| {
            (
                backend.target.clone(),
                backend.weight,
                backend.priority,
                backend.region,
            )
        })
        .collect();
    assert_eq!(
        backends,
        vec![
            (address("192.0.2.11"), 10, 1, None),
            (address("192.0.2.12"), 10, 1, None),
            (address("192.0.2.13"), 20, 1, None),
            (address("192.0.2.14"), 40, 1, None),
            (address("2001:db8::11"), 1, 1, None),
            (address("2001:db8::12"), 1, 1, None),
        ]
    );

    let geo = &config.services[1];
    assert_eq!(geo.name, name("geo.example.com"));
    assert_eq!(geo.policy, Policy::Geo);
    assert_eq!((geo.answers, geo.ttl), (1, 30));
    assert_eq!(geo.when_all_down, WhenAllDown::Fallback);
    assert_eq!(geo.fallback, vec![IpAddr::from([192, 0, 2, 99])]);
    let backends: Vec<(BackendTarget, Option<usize>)> = geo
        .backends
        .iter()
        .map(|backend| (backend.target.clone(), backend.region))
        .collect();
    assert_eq!(
        backends,
        vec![
            (address("192.0.2.21"), Some(0)),
            (address("192.0.2.22"), Some(1)),
        ]
    );
    // The embedded default is the same file.
    let embedded = embedded_default().ok();
    assert_eq!(
        embedded.map(|embedded| (embedded.services, embedded.regions)),
        Some((config.services.clone(), config.regions.clone()))
    );
}

#[test]
fn example_config_written_values_are_the_defaults() {
    // Removing every set server key but `listen` changes nothing.
    let defaults_only: String = EXAMPLE
        .lines()
        .filter(|line| {
            ![
                "workers =",
                "udp_payload =",
                "tcp_max_connections =",
                "tcp_max_connections_per_client =",
                "tcp_idle_timeout =",
                "tcp_total_timeout =",
                "ecs =",
                "listen = \"127.0.0.1:8053\"",
                "ttl =",
                "fallback = []",
                "hash_prefix_v4 =",
                "hash_prefix_v6 =",
                "when_all_down = \"all\"",
            ]
            .iter()
            .any(|key| line.starts_with(key))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let example = accepted(EXAMPLE).server;
    let defaults = accepted(&defaults_only).server;
    assert_eq!(example.workers, defaults.workers);
    assert_eq!(example.udp_payload, defaults.udp_payload);
    assert_eq!(example.tcp_max_connections, defaults.tcp_max_connections);
    assert_eq!(example.tcp_idle_timeout, defaults.tcp_idle_timeout);
    assert_eq!(
        example.tcp_max_connections_per_client,
        defaults.tcp_max_connections_per_client
    );
    assert_eq!(example.tcp_total_timeout, defaults.tcp_total_timeout);
    assert_eq!(example.ecs, defaults.ecs);
    let example = accepted(EXAMPLE);
    let defaults = accepted(&defaults_only);
    assert_eq!(example.admin, defaults.admin);
    let without_lines = |services: Vec<ServiceConfig>| -> Vec<ServiceConfig> {
        services
            .into_iter()
            .map(|service| ServiceConfig { line: 0, ..service })
            .collect()
    };
    assert_eq!(
        without_lines(example.services),
        without_lines(defaults.services)
    );
}

#[test]
fn example_config_commented_keys_parse() {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("cpus =")
                    || rest.starts_with("identity =")
                    || rest.starts_with("version =") =>
            {
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    let config = accepted(&uncommented);
    assert_eq!(config.server.cpus, Some(vec![1, 3]));
    assert_eq!(config.server.identity.as_deref(), Some("dns1.example.net"));
    assert_eq!(config.server.version.as_deref(), Some("dnslb"));
}

#[test]
fn example_config_commented_topology_parses() {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest == "[topology]"
                    || rest.starts_with("file =")
                    || rest.starts_with("default_region =") =>
            {
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    const FILES: &[(&str, &str)] = &[
        ("/etc/dnslb/zones/example.com.zone", ""),
        ("/etc/dnslb/nets.txt", "192.0.2.0/24 us\n"),
    ];
    let config = match parse(&uncommented, Path::new(PATH), Source::Embedded(FILES)) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.topology.default_region, Some(0));
    assert_eq!(config.topology.networks.len(), 4);
    assert_eq!(
        config
            .topology
            .networks
            .last()
            .map(|(network, region)| (network.to_string(), *region)),
        Some(("192.0.2.0/24".to_owned(), 1))
    );
}

#[test]
fn example_config_leaves_xdp_off() {
    assert_eq!(accepted(EXAMPLE).xdp, None);
    assert_eq!(embedded_default().ok().map(|config| config.xdp), Some(None));
}

#[test]
fn example_config_commented_xdp_parses_with_the_defaults() {
    let xdp_keys = [
        "interface =",
        "queues =",
        "zero_copy =",
        "frame_size =",
        "ring_size =",
    ];
    let mut uncommented_lines = 0;
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest == "[xdp]" || xdp_keys.iter().any(|key| rest.starts_with(key)) => {
                uncommented_lines += 1;
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert_eq!(uncommented_lines, 1 + xdp_keys.len(), "{uncommented}");
    let xdp = accepted(&uncommented).xdp;
    assert_eq!(
        xdp,
        Some(XdpConfig {
            interface: "eth0".to_owned(),
            queues: XdpQueues::All,
            zero_copy: ZeroCopy::Auto,
            frame_size: XDP_FRAME_SIZE_DEFAULT,
            ring_size: XDP_RING_SIZE_DEFAULT,
        })
    );
    // The values shown are the defaults: only `interface` matters.
    let interface_only: String = uncommented
        .lines()
        .filter(|line| !xdp_keys[1..].iter().any(|key| line.starts_with(key)))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(accepted(&interface_only).xdp, xdp);
}

#[test]
fn example_config_documents_every_key() {
    for key in [
        "listen",
        "workers",
        "cpus",
        "udp_payload",
        "tcp_max_connections",
        "tcp_max_connections_per_client",
        "tcp_idle_timeout",
        "tcp_total_timeout",
        "identity",
        "version",
        "[[zone]]",
        "name",
        "file",
        "ecs",
        "[admin]",
        "[[region]]",
        "networks",
        "fallback",
        "[topology]",
        "default_region",
        "[[service]]",
        "policy",
        "answers",
        "ttl",
        "when_all_down",
        "hash_prefix_v4",
        "hash_prefix_v6",
        "backends",
        "address",
        "weight",
        "priority",
        "region",
        "[rrl]",
        "[xdp]",
        "interface",
        "queues",
        "zero_copy",
        "frame_size",
        "ring_size",
        "state_dir",
        "primaries",
        "tsig",
        "notify_from",
        "refresh_min",
        "refresh_max",
        "retry_min",
        "expire_min",
        "[[tsig]]",
        "algorithm",
        "secret",
        "secret_file",
        "[[catalog]]",
    ] {
        assert!(
            EXAMPLE.contains(&format!("\n# {key}: ")),
            "dnslb.example.toml does not document {key}"
        );
    }
}

#[test]
fn example_config_leaves_secondaries_off() {
    for config in [
        accepted(EXAMPLE),
        embedded_default().unwrap_or_else(|errors| panic!("{errors}")),
    ] {
        assert_eq!(config.server.state_dir, None);
        assert!(config.tsig_keys.is_empty());
        assert!(config.secondaries.is_empty());
        assert!(config.catalogs.is_empty());
    }
}

#[test]
fn example_config_commented_secondaries_parse_with_the_defaults() {
    // Every commented-out line of the state_dir, secondary [[zone]],
    // [[tsig]] and [[catalog]] examples but secret_file (the alternative
    // to secret).
    let lines = [
        "state_dir = \"/var/lib/dnslb\"",
        "[[zone]]",
        "name = \"example.net\"",
        "primaries = [\"192.0.2.53:53\", \"2001:db8::53\"]",
        "tsig = \"xfr-key\"",
        "notify_from = [\"192.0.2.53\", \"2001:db8::53\"]",
        "refresh_min = \"5s\"",
        "refresh_max = \"1d\"",
        "retry_min = \"5s\"",
        "expire_min = \"1h\"",
        "[[tsig]]",
        "name = \"xfr-key\"",
        "algorithm = \"hmac-sha256\"",
        "secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
        "[[catalog]]",
        "name = \"catalog.example\"",
        "primaries = [\"192.0.2.53:53\"]",
    ];
    let mut uncommented_lines = 0;
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if lines.contains(&rest) => {
                uncommented_lines += 1;
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    // tsig = "xfr-key" is shown twice: in the zone and in the catalog.
    assert_eq!(uncommented_lines, lines.len() + 1, "{uncommented}");
    let config = accepted(&uncommented);
    assert_eq!(
        config.server.state_dir.as_deref(),
        Some(Path::new("/var/lib/dnslb"))
    );
    assert_eq!(config.zones.len(), 1);
    assert_eq!(config.tsig_keys.len(), 1);
    assert_eq!(config.tsig_keys[0].name, name("xfr-key."));
    assert_eq!(config.tsig_keys[0].secret, (0..32).collect::<Vec<u8>>());
    assert_eq!(config.secondaries.len(), 1);
    let secondary = &config.secondaries[0];
    assert_eq!(secondary.name, name("example.net."));
    assert_eq!(
        secondary.transfer.primaries,
        vec![
            SocketAddr::from(([192, 0, 2, 53], 53)),
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53], 53)),
        ]
    );
    assert_eq!(secondary.transfer.tsig, Some(0));
    // The values shown are the defaults.
    assert_eq!(secondary.transfer.timers, ZoneTimers::default());
    let defaults_only: String = uncommented
        .lines()
        .filter(|line| {
            ![
                "notify_from =",
                "refresh_min =",
                "refresh_max =",
                "retry_min =",
                "expire_min =",
            ]
            .iter()
            .any(|key| line.starts_with(key))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(accepted(&defaults_only).secondaries, config.secondaries);
    assert_eq!(config.catalogs.len(), 1);
    let catalog = &config.catalogs[0];
    assert_eq!(catalog.name, name("catalog.example."));
    assert_eq!(
        catalog.transfer.primaries,
        vec![SocketAddr::from(([192, 0, 2, 53], 53))]
    );
    assert_eq!(catalog.transfer.tsig, Some(0));
    // secret_file instead of secret, read relative to the config.
    let with_file = uncommented.replace(
        "secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
        "secret_file = \"keys/xfr-key.secret\"",
    );
    let files: Vec<(PathBuf, String)> = vec![
        (
            PathBuf::from("/etc/dnslb/zones/example.com.zone"),
            String::new(),
        ),
        (
            PathBuf::from("/etc/dnslb/keys/xfr-key.secret"),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n".to_owned(),
        ),
    ];
    let config = parse(&with_file, Path::new(PATH), Source::Memory(files.into()))
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.tsig_keys[0].secret, (0..32).collect::<Vec<u8>>());
}
