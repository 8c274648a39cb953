//! TSIG (RFC 8945) against the real tools: `kdig` sends signed SOA queries
//! to a socket of the test, which checks them with `verify_request` and
//! answers with a response signed by `sign` that `kdig` must accept (and a
//! response signed over the wrong request MAC that it must refuse); a real
//! `knotd` serves a zone of a few thousand records over an AXFR signed by
//! `sign`, whose messages `ResponseVerifier` checks one by one. Signing and
//! verifying are shown to allocate nothing with the counting allocator.
//!
//! Without `knotd` or `kdig` on PATH the tests say so loudly and pass
//! without running (CI installs Knot with apt).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dnslb::wire::tsig::{self, Algorithm, Key, Mac, ResponseVerifier, TsigError};
use domain::base::Message;
use domain::base::iana::{Class, Rtype};

use crate::client;
use crate::count_allocations;

/// The key's name, as the tools spell it and in wire format.
const KEY_NAME: &str = "xfr-key";
const KEY_WIRE: &[u8] = b"\x07xfr-key\x00";

/// A fixed secret (any bytes do), 32 bytes.
const SECRET: &[u8] = b"tsig interop secret, 32 bytes!!!";

/// Records in the zone knotd serves: enough TXT records for an AXFR of
/// several 64 KiB messages.
const ZONE_RECORDS: usize = 4000;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Whether `knotd` and `kdig` run here; says why not, loudly, when not.
fn knot_installed(test: &str) -> bool {
    for tool in ["knotd", "kdig"] {
        let runs = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !runs {
            eprintln!(
                "SKIPPED {test}: `{tool}` (Knot DNS) is not on PATH; install knot and knot-dnsutils; NOT RUN"
            );
            return false;
        }
    }
    true
}

/// A response to the signed `request` (its TSIG record left off): the
/// question and one SOA record for it, QR and AA set.
fn soa_response(request: &[u8]) -> Vec<u8> {
    let signature = tsig::find(request).expect("well formed").expect("signed");
    let question_end = {
        let mut pos = 12;
        while request[pos] != 0 {
            pos += 1 + usize::from(request[pos]);
        }
        pos + 5
    };
    assert_eq!(
        &request[4..10],
        &[0, 1, 0, 0, 0, 0],
        "one question, no answers"
    );
    let mut response = request[..question_end].to_vec();
    response[2] = 0x84 | (request[2] & 0x01);
    response[3] = 0;
    response[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    // example.com SOA ns.example.com admin.example.com 1 7200 3600 1209600 300
    response.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 33]);
    response.extend_from_slice(b"\x02ns\xc0\x0c\x05admin\xc0\x0c");
    for value in [1u32, 7200, 3600, 1_209_600, 300] {
        response.extend_from_slice(&value.to_be_bytes());
    }
    assert!(signature.start >= question_end);
    response
}

/// Runs `kdig` for `example.com SOA` over UDP against `socket`, signed with
/// `algorithm`; checks its query with `verify_request` and answers with a
/// response signed over its MAC (with one bit of that MAC flipped when
/// `wrong_mac`). Returns kdig's success and its output.
fn kdig_exchange(algorithm: Algorithm, wrong_mac: bool) -> (bool, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = socket.local_addr().expect("address").port();
    let child = Command::new("kdig")
        .arg("-y")
        .arg(format!(
            "{}:{KEY_NAME}:{}",
            algorithm.name(),
            BASE64.encode(SECRET)
        ))
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args(["+notcp", "+timeout=3", "+retry=0", "example.com", "SOA"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kdig");

    let mut buf = [0u8; 4096];
    let (len, peer) = socket.recv_from(&mut buf).expect("kdig's query");
    let request = &buf[..len];
    let keys = [
        Key::new(b"\x05other\x00", algorithm, b"another secret"),
        Key::new(KEY_WIRE, algorithm, SECRET),
    ];
    let (index, request_mac) = tsig::verify_request(request, &keys, now())
        .expect("kdig's query verifies")
        .expect("kdig's query is signed");
    assert_eq!(index, 1);
    assert_eq!(request_mac.as_slice().len(), algorithm.mac_len());

    let mut response = soa_response(request);
    let len = response.len();
    response.resize(4096, 0);
    let mut mac_bytes = request_mac.as_slice().to_vec();
    if wrong_mac {
        mac_bytes[0] ^= 1;
    }
    let (end, _) = tsig::sign(&mut response, len, &keys[1], now(), Some(&mac_bytes))
        .expect("signs the response");
    socket.send_to(&response[..end], peer).expect("send");

    let output = child.wait_with_output().expect("kdig ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn kdig_signed_queries_verify_and_kdig_accepts_our_signed_answers() {
    if !knot_installed("kdig_signed_queries_verify_and_kdig_accepts_our_signed_answers") {
        return;
    }
    for algorithm in Algorithm::ALL {
        let (success, output) = kdig_exchange(algorithm, false);
        assert!(success, "{algorithm:?}: kdig failed:\n{output}");
        assert!(
            output.contains("status: NOERROR") && output.contains("ns.example.com."),
            "{algorithm:?}: kdig did not print our answer:\n{output}"
        );
        assert!(
            output.contains(&format!("{KEY_NAME}.")) && output.contains("NOERROR"),
            "{algorithm:?}: kdig did not show the TSIG record:\n{output}"
        );
        // kdig reports a reply whose TSIG does not verify with a warning,
        // still exiting 0: ";; WARNING: reply verification for ... (failed
        // to verify TSIG)".
        assert!(
            !output.contains("WARNING"),
            "{algorithm:?}: kdig warned about our answer:\n{output}"
        );

        // The same answer signed over another request MAC: kdig notices.
        let (_, output) = kdig_exchange(algorithm, true);
        assert!(
            output.contains("failed to verify TSIG"),
            "{algorithm:?}: kdig accepted a bad signature:\n{output}"
        );
    }
}

/// A `knotd` in the foreground, killed when dropped.
struct Knot {
    child: Child,
    address: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Knot {
    /// What knotd wrote so far, for failure messages.
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A loopback port free for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Writes the `example.com` zone: SOA, NS and `ZONE_RECORDS` TXT records.
fn write_zone(path: &Path) {
    let mut zone = String::from(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns admin 2024010101 7200 3600 1209600 300\n\
         @ NS ns\nns A 192.0.2.53\n",
    );
    for index in 0..ZONE_RECORDS {
        zone.push_str(&format!(
            "host{index:05} TXT \"record {index} of the transfer, padded to take some room\"\n"
        ));
    }
    fs::write(path, zone).expect("write the zone");
}

/// Starts knotd in `dir` serving `example.com` on a loopback port, with
/// transfers allowed to `xfr-key` (hmac-sha256) only, and waits until it
/// answers SOA.
fn start_knot(dir: &Path) -> Knot {
    let port = free_port();
    let zone = dir.join("example.com.zone");
    write_zone(&zone);
    for sub in ["run", "storage"] {
        fs::create_dir_all(dir.join(sub)).expect("create a knot directory");
    }
    let dir_text = dir.display();
    let config = format!(
        "server:\n    rundir: \"{dir_text}/run\"\n    listen: 127.0.0.1@{port}\n\
         control:\n    listen: \"{dir_text}/run/knot.sock\"\n\
         database:\n    storage: \"{dir_text}/storage\"\n\
         log:\n  - target: stderr\n    any: info\n\
         key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
         acl:\n  - id: transfer\n    key: {KEY_NAME}\n    action: transfer\n\
         zone:\n  - domain: example.com\n    storage: \"{dir_text}\"\n    file: \"{zone}\"\n    acl: transfer\n    journal-content: none\n    zonefile-sync: -1\n",
        secret = BASE64.encode(SECRET),
        zone = zone.display(),
    );
    let config_path = dir.join("knot.conf");
    fs::write(&config_path, config).expect("write the knot config");
    let log = dir.join("knotd.log");
    let child = Command::new("knotd")
        .arg("-c")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("knot log"))
        .spawn()
        .expect("start knotd");
    let mut knot = Knot {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    };
    let query = client::message(1, "example.com", Rtype::SOA, Class::IN, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers_soa(knot.address, &query) {
        let exited = knot.child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "knotd ({exited:?}) did not answer SOA:\n{}",
            knot.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    knot
}

/// Whether `server` answers `query` with one answer and NOERROR within a
/// moment (errors, such as a refused port before it listens, count as no).
fn answers_soa(server: SocketAddr, query: &[u8]) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let mut reply = [0u8; 512];
    let received = socket.connect(server).is_ok()
        && socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_ok()
        && socket.send(query).is_ok();
    match socket.recv(&mut reply) {
        // RCODE 0 (NOERROR), ANCOUNT 1.
        Ok(len) => received && len >= 12 && reply[3] & 0x0f == 0 && reply[6..8] == [0, 1],
        Err(_) => false,
    }
}

/// An AXFR request for `example.com` signed with `key`, and its MAC.
fn signed_axfr(key: &Key, id: u16) -> (Vec<u8>, Mac) {
    let mut request = client::message(id, "example.com", Rtype::AXFR, Class::IN, None);
    let len = request.len();
    request.resize(len + 512, 0);
    let (end, mac) = tsig::sign(&mut request, len, key, now(), None).expect("signs");
    request.truncate(end);
    (request, mac)
}

/// The messages of the answer to `request` over a new TCP connection to
/// `server`: up to the second SOA record (the end of an AXFR), or the
/// first message when it is an error.
fn transfer(server: SocketAddr, request: &[u8]) -> Vec<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, client::TIMEOUT).expect("TCP connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(&client::frame(request)).expect("send");
    let mut messages = Vec::new();
    let mut soas = 0;
    while soas < 2 {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).expect("a message length");
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut message).expect("a message");
        let parsed = Message::from_octets(message.clone()).expect("a DNS message");
        let failed = parsed.header().rcode() != domain::base::iana::Rcode::NOERROR;
        soas += parsed
            .answer()
            .expect("an answer section")
            .filter(|record| {
                record
                    .as_ref()
                    .is_ok_and(|record| record.rtype() == Rtype::SOA)
            })
            .count();
        messages.push(message);
        if failed {
            break;
        }
    }
    messages
}

#[test]
fn knotd_axfr_signed_by_us_verifies_message_by_message() {
    if !knot_installed("knotd_axfr_signed_by_us_verifies_message_by_message") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let knot = start_knot(dir.path());
    let key = Key::new(KEY_WIRE, Algorithm::HmacSha256, SECRET);

    let (request, request_mac) = signed_axfr(&key, 0x5151);
    let messages = transfer(knot.address, &request);
    assert!(
        messages.len() >= 3,
        "the AXFR should span several messages, got {}:\n{}",
        messages.len(),
        knot.log()
    );
    let signed = messages
        .iter()
        .filter(|message| tsig::find(message).expect("well formed").is_some())
        .count();
    assert!(signed >= 2, "knotd signed {signed} messages");

    // Every message verifies, without allocating.
    let now = now();
    let mut verifier = ResponseVerifier::new(&key, &request_mac);
    for (index, message) in messages.iter().enumerate() {
        let (result, allocations) = count_allocations(|| verifier.message(message, now));
        assert_eq!(result, Ok(()), "message {index} of {}", messages.len());
        assert_eq!(allocations, 0, "verifying message {index} allocated");
    }
    assert_eq!(verifier.finish(), Ok(()));

    // One byte flipped in a middle message's last record fails it.
    let middle = messages.len() / 2;
    let mut tampered = messages.clone();
    let at = tsig::find(&tampered[middle])
        .expect("well formed")
        .map_or(tampered[middle].len(), |signature| signature.start)
        - 2;
    tampered[middle][at] ^= 0x01;
    let mut verifier = ResponseVerifier::new(&key, &request_mac);
    for message in &tampered[..middle] {
        verifier
            .message(message, now)
            .expect("before the tampered message");
    }
    let mut results: Vec<Result<(), TsigError>> = tampered[middle..]
        .iter()
        .map(|message| verifier.message(message, now))
        .collect();
    results.push(verifier.finish());
    assert_eq!(results.first(), Some(&Err(TsigError::BadSig)));
    assert!(
        results
            .iter()
            .all(|result| *result == Err(TsigError::BadSig))
    );

    // Another request MAC: the first message fails.
    let mut wrong = request_mac.as_slice().to_vec();
    wrong[3] ^= 0x80;
    let mut verifier = ResponseVerifier::new(&key, &Mac::new(&wrong).expect("a MAC"));
    assert_eq!(verifier.message(&messages[0], now), Err(TsigError::BadSig));
}

#[test]
fn knotd_refuses_a_bad_signature_with_a_tsig_error() {
    if !knot_installed("knotd_refuses_a_bad_signature_with_a_tsig_error") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let knot = start_knot(dir.path());

    // The right name, the wrong secret: knotd answers NOTAUTH with BADSIG
    // in an unsigned TSIG record, which the verifier reports.
    let wrong_secret = Key::new(KEY_WIRE, Algorithm::HmacSha256, b"not the secret");
    let (request, request_mac) = signed_axfr(&wrong_secret, 0x6161);
    let messages = transfer(knot.address, &request);
    assert_eq!(messages.len(), 1, "{}", knot.log());
    let signature = tsig::find(&messages[0])
        .expect("well formed")
        .expect("the error carries a TSIG record");
    assert_eq!(signature.error, TsigError::BadSig.error_code());
    assert_eq!(signature.mac, b"");
    assert_eq!(messages[0][3] & 0x0f, 9, "NOTAUTH");
    let mut verifier = ResponseVerifier::new(&wrong_secret, &request_mac);
    assert_eq!(
        verifier.message(&messages[0], now()),
        Err(TsigError::BadSig)
    );

    // An unknown key name: BADKEY.
    let unknown = Key::new(b"\x05other\x00", Algorithm::HmacSha256, SECRET);
    let (request, request_mac) = signed_axfr(&unknown, 0x6262);
    let messages = transfer(knot.address, &request);
    let mut verifier = ResponseVerifier::new(&unknown, &request_mac);
    assert_eq!(
        verifier.message(&messages[0], now()),
        Err(TsigError::BadKey)
    );
}

#[test]
fn signing_and_verifying_a_request_allocate_nothing() {
    let keys = [Key::new(KEY_WIRE, Algorithm::HmacSha512, SECRET)];
    let mut buf = client::message(7, "example.com", Rtype::SOA, Class::IN, None);
    let len = buf.len();
    buf.resize(1024, 0);
    let now = now();
    let ((end, mac), allocations) =
        count_allocations(|| tsig::sign(&mut buf, len, &keys[0], now, None).expect("signs"));
    assert_eq!(allocations, 0, "sign allocated");
    let (verified, allocations) =
        count_allocations(|| tsig::verify_request(&buf[..end], &keys, now));
    assert_eq!(allocations, 0, "verify_request allocated");
    assert_eq!(verified, Ok(Some((0, mac))));
}
