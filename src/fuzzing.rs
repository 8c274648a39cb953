//! The bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/`
//! and by `cargo test`, which runs each of them over the seed corpus in
//! `fuzz/corpus/<target>/` and a bounded number of deterministic mutations
//! of it (see [`Mutator`] and the tests below).
//!
//! Each target takes arbitrary bytes and panics when a property fails:
//!
//! - [`udp_query`]: the UDP query handler. A reply parses with `domain`'s
//!   `Message`, echoes the query's ID, has QR set, and never exceeds the
//!   size limit: 512 bytes without EDNS, the requestor's EDNS size (at least
//!   512) otherwise, capped by our `udp_payload`.
//! - [`tcp_stream`]: the TCP framing state machine and the handler. The
//!   first two bytes seed how the rest (the byte stream) is cut into chunks;
//!   the frames that come out are the same for every chunking, and every
//!   reply frame parses and echoes its query's ID.
//! - [`zone_file`]: the input as the zone file of `example.com` through the
//!   zone loader (`domain`'s zonefile parser) and, when it loads, a snapshot
//!   built from it that answers a few queries well formed.
//! - [`config`]: the input as a config file through both config layers;
//!   every error names the file and carries a line, except a missing
//!   `[server]` table, which has no line to point at.
//!
//! Not part of the server's API: built only for unit tests and with the
//! `fuzzing` feature (which the fuzz crate turns on), hidden from the docs,
//! kept stable only for the fuzz crate and the tests.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use domain::base::Message;
use domain::rdata::AllRecordData;

use crate::balancer::WorkerState;
use crate::config::{self, Source};
use crate::dataplane::framing::{self, Framer};
use crate::dataplane::handler::{self, Outcome};
use crate::snapshot::Snapshot;
use crate::wire::answer::Transport;
use crate::wire::{CLASSIC_UDP_LIMIT, MAX_MESSAGE_LEN};

/// The client address queries come from.
const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));
/// Where the fuzzed config and zone files pretend to live.
const CONFIG_PATH: &str = "<fuzz>/dnslb.toml";
const ZONE_PATH: &str = "<fuzz>/example.com.zone";

/// The snapshot the query targets answer from: the embedded default (the
/// example config and zone) with a CHAOS identity and version, so that
/// CH TXT queries get answers too.
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let text = config::EMBEDDED_CONFIG_TEXT
            .replace("# identity = ", "identity = ")
            .replace("# version = ", "version = ");
        let path = Path::new(config::EMBEDDED_CONFIG_PATH);
        let files: Arc<[(PathBuf, String)]> = Arc::new([(
            PathBuf::from("<embedded>/zones/example.com.zone"),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/zones/example.com.zone"
            ))
            .to_owned(),
        )]);
        let config = config::parse(&text, path, Source::Memory(files)).expect("fuzz config");
        crate::control::build::snapshot(&config, 1)
            .expect("fuzz snapshot")
            .0
    })
}

/// Checks one reply to `query`: it parses (header, question, every record),
/// echoes the ID, has QR set and is at most `limit` bytes.
fn check_reply(query: &[u8], reply: &[u8], limit: usize) {
    assert!(
        reply.len() <= limit,
        "reply of {} bytes over the limit of {limit}",
        reply.len()
    );
    let message = Message::from_slice(reply).expect("the reply has a header");
    assert_eq!(reply[..2], query[..2], "the reply echoes the ID");
    assert!(message.header().qr(), "the reply has QR set");
    let mut questions = 0;
    for question in message.question() {
        question.expect("the reply's question parses");
        questions += 1;
    }
    assert!(questions <= 1, "{questions} questions in a reply");
    let mut section = message.answer().expect("the answer section starts");
    loop {
        for record in &mut section {
            record
                .expect("a record header parses")
                .to_any_record::<AllRecordData<_, _>>()
                .expect("record data parses");
        }
        match section.next_section().expect("the next section starts") {
            Some(next) => section = next,
            None => break,
        }
    }
}

/// The UDP size limit for a reply to `query` with `reply_has_opt`, worked
/// out with `domain`'s parser rather than ours.
fn udp_limit(query: &[u8], reply_has_opt: bool, our_payload: u16) -> usize {
    let ours = usize::from(our_payload).max(CLASSIC_UDP_LIMIT);
    let requested = Message::from_slice(query)
        .ok()
        .and_then(|message| message.opt())
        .map(|opt| usize::from(opt.udp_payload_size()).max(CLASSIC_UDP_LIMIT));
    match (requested, reply_has_opt) {
        (Some(requested), _) => requested.min(ours),
        // Our parser found EDNS where `domain`'s did not: our size caps it.
        (None, true) => ours,
        (None, false) => CLASSIC_UDP_LIMIT,
    }
}

/// Fuzz target `udp_query`: one datagram through the handler as a UDP
/// worker runs it, with a reply buffer of the worker's size.
pub fn udp_query(data: &[u8]) {
    let snapshot = snapshot();
    let mut out = vec![0u8; usize::from(snapshot.udp_payload).max(CLASSIC_UDP_LIMIT)];
    let mut worker = WorkerState::new(1);
    let outcome = handler::handle(
        snapshot,
        data,
        &mut out,
        Transport::Udp,
        SOURCE,
        &mut worker,
    );
    if let Outcome::Reply { len, .. } = outcome {
        let reply = &out[..len];
        let has_opt = Message::from_slice(reply).is_ok_and(|message| message.opt().is_some());
        check_reply(data, reply, udp_limit(data, has_opt, snapshot.udp_payload));
    }
}

/// A small deterministic generator (xorshift64*), so runs reproduce.
#[derive(Clone, Debug)]
pub struct Random(u64);

impl Random {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Random {
        Random(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// What happened to one TCP stream: the frames taken out (as bytes), and
/// whether it ended in a protocol error or a dropped message.
#[derive(Debug, PartialEq, Eq)]
struct StreamRun {
    frames: Vec<Vec<u8>>,
    closed: bool,
}

/// Feeds `stream` to a framer in chunks of the sizes `chunk` returns,
/// answering each frame as the TCP thread does, until the stream ends or
/// the connection would be closed. Returns the frames and the reply stream.
fn run_stream(stream: &[u8], mut chunk: impl FnMut() -> usize) -> (StreamRun, Vec<u8>) {
    let snapshot = snapshot();
    let mut framer = Framer::with_capacity(512);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let mut replies = Vec::new();
    let mut worker = WorkerState::new(1);
    let mut run = StreamRun {
        frames: Vec::new(),
        closed: false,
    };
    let mut rest = stream;
    while !rest.is_empty() {
        let size = chunk().clamp(1, rest.len());
        framer.push(&rest[..size]);
        rest = &rest[size..];
        while let Some(frame) = framer.next_frame() {
            let Ok(query) = frame else {
                run.closed = true;
                return (run, replies);
            };
            run.frames.push(query.to_vec());
            match handler::handle(
                snapshot,
                query,
                &mut out,
                Transport::Tcp,
                SOURCE,
                &mut worker,
            ) {
                Outcome::Reply { len, .. } => {
                    check_reply(query, &out[..len], MAX_MESSAGE_LEN);
                    framing::frame_into(&out[..len], &mut replies);
                }
                Outcome::Drop(_) => {
                    run.closed = true;
                    return (run, replies);
                }
            }
        }
    }
    (run, replies)
}

/// Fuzz target `tcp_stream`: the first two bytes seed the chunking of the
/// rest, a byte stream from one TCP client.
pub fn tcp_stream(data: &[u8]) {
    let (seed, stream) = match data {
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
        _ => (0, data),
    };
    // Chunk sizes from 1 up to a maximum that the seed picks.
    let most = [1, 2, 3, 7, 13, 64, 512, 4096][usize::from(seed & 7)];
    let mut random = Random::new(u64::from(seed) + 1);
    let (chunked, replies) = run_stream(stream, || 1 + random.below(most));
    let (whole, whole_replies) = run_stream(stream, || usize::MAX);
    assert_eq!(chunked, whole, "the chunking changed the frames");
    // Query IDs are the same either way; replies may differ only where a
    // policy picks at random, so compare their count and IDs.
    let mut reply_framer = Framer::default();
    reply_framer.push(&replies);
    let mut ids = Vec::new();
    while let Some(frame) = reply_framer.next_frame() {
        let reply = frame.expect("our reply frames are well formed");
        Message::from_slice(reply).expect("a reply frame parses");
        ids.push([reply[0], reply[1]]);
    }
    assert_eq!(reply_framer.buffered(), 0, "no partial reply frame");
    let answered: Vec<[u8; 2]> = chunked
        .frames
        .iter()
        .take(ids.len())
        .map(|query| [query[0], query[1]])
        .collect();
    assert_eq!(ids, answered, "replies echo their queries' IDs, in order");
    assert_eq!(replies.len(), whole_replies.len());
}

/// The config the zone target loads its zone file with.
const ZONE_CONFIG: &str = "\
[server]
listen = [\"127.0.0.1:53\"]

[[zone]]
name = \"example.com\"
file = \"example.com.zone\"
";

/// Fuzz target `zone_file`: the input is the zone file of `example.com`.
pub fn zone_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let files: Arc<[(PathBuf, String)]> = Arc::new([(PathBuf::from(ZONE_PATH), text)]);
    let config = config::parse(ZONE_CONFIG, Path::new(CONFIG_PATH), Source::Memory(files))
        .expect("the zone target's config parses");
    let snapshot = match crate::control::build::snapshot(&config, 1) {
        Ok((snapshot, _warnings)) => snapshot,
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a failed load reports a problem");
            return;
        }
    };
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let mut worker = WorkerState::new(1);
    let mut query = vec![0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x03www\x07example\x03com\x00");
    let qtype_at = query.len();
    query.extend_from_slice(&[0, 1, 0, 1]);
    for qtype in [1u16, 2, 5, 6, 15, 16, 28, 33, 255] {
        query[qtype_at..qtype_at + 2].copy_from_slice(&qtype.to_be_bytes());
        for transport in [Transport::Udp, Transport::Tcp] {
            let size = match transport {
                Transport::Udp => CLASSIC_UDP_LIMIT,
                Transport::Tcp => MAX_MESSAGE_LEN,
            };
            let outcome = handler::handle(
                &snapshot,
                &query,
                &mut out[..size],
                transport,
                SOURCE,
                &mut worker,
            );
            if let Outcome::Reply { len, .. } = outcome {
                check_reply(&query, &out[..len], size);
            }
        }
    }
}

/// Fuzz target `config`: the input is a config file.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(CONFIG_PATH);
    let files: Arc<[(PathBuf, String)]> = Arc::new([]);
    let Err(errors) = config::parse(&text, path, Source::Memory(files)) else {
        return;
    };
    assert!(!errors.0.is_empty(), "a failed parse reports a problem");
    for error in &errors.0 {
        let missing_server = error.key == "server.listen" && error.message.starts_with("required");
        assert!(
            error.line.is_some() || missing_server,
            "an error without a line: {error}"
        );
        assert!(error.line.is_none_or(|line| line >= 1), "lines are 1-based");
    }
}

/// Mutates seed inputs the way a fuzzer's simplest stages do: bit flips,
/// byte overwrites, inserts and deletes, truncation, duplication of a range
/// and splicing with another seed.
#[derive(Clone, Debug)]
pub struct Mutator {
    random: Random,
}

impl Mutator {
    /// A mutator with a fixed `seed`, so a failure names its iteration.
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            random: Random::new(seed),
        }
    }

    /// One to four mutations of a copy of one of `seeds` (or, one time in
    /// sixteen, random bytes).
    pub fn mutate(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let random = &mut self.random;
        if seeds.is_empty() || random.below(16) == 0 {
            let len = random.below(96);
            return (0..len).map(|_| random.next_u64() as u8).collect();
        }
        let mut input = seeds[random.below(seeds.len())].clone();
        for _ in 0..1 + random.below(4) {
            let len = input.len();
            match random.below(8) {
                0 | 1 if len > 0 => {
                    let at = random.below(len);
                    input[at] ^= 1 << random.below(8);
                }
                2 if len > 0 => {
                    let at = random.below(len);
                    input[at] = random.next_u64() as u8;
                }
                3 => {
                    let at = random.below(len + 1);
                    let count = 1 + random.below(4);
                    for _ in 0..count {
                        input.insert(at, random.next_u64() as u8);
                    }
                }
                4 if len > 0 => {
                    let at = random.below(len);
                    let end = (at + 1 + random.below(4)).min(len);
                    input.drain(at..end);
                }
                5 => input.truncate(random.below(len + 1)),
                6 if len > 0 => {
                    let start = random.below(len);
                    let end = (start + 1 + random.below(16)).min(len);
                    let copy = input[start..end].to_vec();
                    let at = random.below(len + 1);
                    input.splice(at..at, copy);
                }
                _ => {
                    let other = &seeds[random.below(seeds.len())];
                    let cut = random.below(input.len() + 1);
                    let from = random.below(other.len() + 1);
                    input.truncate(cut);
                    input.extend_from_slice(&other[from..]);
                }
            }
        }
        input
    }
}

/// Reads every file in `fuzz/corpus/<target>/`, sorted by name.
pub fn seed_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|entry| Some(entry.ok()?.path()))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .collect()
}

/// Runs `target` on every seed, then on `iterations` mutations of them.
/// A failure is reported with the input that caused it, in hex, ready to be
/// added to the corpus as a regression seed.
pub fn run_mutations(target: fn(&[u8]), seeds: &[Vec<u8>], iterations: usize, seed: u64) {
    let run = |round: &str, input: &[u8]| {
        if let Err(cause) = std::panic::catch_unwind(|| target(input)) {
            let hex: String = input.iter().map(|byte| format!("{byte:02x}")).collect();
            let message = cause
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| cause.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            panic!(
                "{round} failed: {message}\ninput ({} bytes): {hex}",
                input.len()
            );
        }
    };
    for (index, input) in seeds.iter().enumerate() {
        run(&format!("seed {index}"), input);
    }
    let mut mutator = Mutator::new(seed);
    for iteration in 0..iterations {
        let input = mutator.mutate(seeds);
        run(&format!("mutation {iteration}"), &input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `target` over its corpus (which must not be empty) and
    /// `iterations` mutations. The counts keep the four tests at about 5 s
    /// of one core in a debug build on an idle machine (four times that
    /// when other builds share the cores); the config target is the
    /// slowest per input, as it parses a whole config each time.
    fn exercise(name: &str, target: fn(&[u8]), iterations: usize) {
        let seeds = seed_corpus(name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has seeds");
        run_mutations(target, &seeds, iterations, 0x5eed_0000 + name.len() as u64);
    }

    #[test]
    fn udp_query_survives_mutated_corpus() {
        exercise("udp_query", udp_query, 200_000);
    }

    #[test]
    fn tcp_stream_survives_mutated_corpus() {
        exercise("tcp_stream", tcp_stream, 25_000);
    }

    #[test]
    fn zone_file_survives_mutated_corpus() {
        exercise("zone_file", zone_file, 3_000);
    }

    #[test]
    fn config_survives_mutated_corpus() {
        exercise("config", config, 2_000);
    }

    #[test]
    fn mutations_are_deterministic_and_varied() {
        let seeds = vec![b"0123456789abcdef".to_vec(), b"xyz".to_vec()];
        let first: Vec<_> = {
            let mut mutator = Mutator::new(7);
            (0..100).map(|_| mutator.mutate(&seeds)).collect()
        };
        let mut mutator = Mutator::new(7);
        let second: Vec<_> = (0..100).map(|_| mutator.mutate(&seeds)).collect();
        assert_eq!(first, second);
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert!(distinct.len() > 80, "{} distinct of 100", distinct.len());
    }
}
