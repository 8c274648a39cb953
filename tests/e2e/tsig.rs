//! TSIG (RFC 8945) against the real tools: `kdig` sends signed SOA queries
//! to a socket of the test, which checks them with `verify_request` and
//! answers with a response signed by `sign` that `kdig` must accept (and a
//! response signed over the wrong request MAC that it must refuse); a real
//! `knotd` serves a zone of a few thousand records over an AXFR signed by
//! `sign`, whose messages `ResponseVerifier` checks one by one; and a
//! `knotd` secondary transfers from a primary of the test whose AXFR,
//! signed by `ResponseSigner`, leaves messages unsigned in between (knotd
//! checks them all, and refuses a tampered unsigned one). Signing and
//! verifying are shown to allocate nothing with the counting allocator.
//!
//! Without `knotd` or `kdig` on PATH the tests say so loudly and pass
//! without running (CI installs Knot with apt).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    let zone = dir.join("example.com.zone");
    write_zone(&zone);
    let zone_config = format!(
        "zone:\n  - domain: example.com\n    file: \"{}\"\n    acl: transfer\n",
        zone.display()
    );
    let mut knot = launch_knot(dir, &zone_config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers_soa(knot.address) {
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

/// Starts knotd in `dir` on a loopback port with the key `xfr-key`
/// (hmac-sha256), an ACL `transfer` allowing transfers to it, and the
/// `zone:` section `zone_config`.
fn launch_knot(dir: &Path, zone_config: &str) -> Knot {
    let port = free_port();
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
         template:\n  - id: default\n    storage: \"{dir_text}/storage\"\n    journal-content: none\n    zonefile-sync: -1\n\
         {zone_config}",
        secret = BASE64.encode(SECRET),
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
    Knot {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    }
}

/// Whether `server` answers `example.com SOA` with one answer and NOERROR
/// within a moment (errors, such as a refused port before it listens, count
/// as no).
fn answers_soa(server: SocketAddr) -> bool {
    let query = client::message(1, "example.com", Rtype::SOA, Class::IN, None);
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let mut reply = [0u8; 512];
    let received = socket.connect(server).is_ok()
        && socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_ok()
        && socket.send(&query).is_ok();
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

/// The messages answering the signed AXFR `request` (verified with the
/// test key first), signed by `ResponseSigner` as `plan` says (`true`:
/// signed; `false`: sent unsigned), with one byte before any TSIG record
/// flipped in message `tamper` when given. The first and last messages
/// carry the SOA, the others ten A records each for
/// `host<message><n>.example.com`.
fn axfr_messages(request: &[u8], plan: &[bool], tamper: Option<usize>) -> Vec<Vec<u8>> {
    let keys = [Key::new(KEY_WIRE, Algorithm::HmacSha256, SECRET)];
    let (_, request_mac) = tsig::verify_request(request, &keys, now())
        .expect("the AXFR request verifies")
        .expect("signed");
    let mut signer = tsig::ResponseSigner::new(&keys[0], &request_mac);
    let soa = soa_response(request);
    let mut messages = Vec::new();
    for (index, &signed) in plan.iter().enumerate() {
        let mut message = if index == 0 || index + 1 == plan.len() {
            soa.clone()
        } else {
            // The header and question of the SOA response, no answers yet.
            let mut message = soa[..soa.len() - 45].to_vec();
            message[7] = 0;
            for host in 0..10u8 {
                let label = [b'0' + index as u8, b'0' + host];
                message.extend_from_slice(b"\x06host");
                message.extend_from_slice(&label);
                message.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
                message.extend_from_slice(&[192, 0, 2, host]);
                message[7] += 1;
            }
            message
        };
        let len = message.len();
        if signed {
            message.resize(len + 256, 0);
            let (end, _) = signer.sign(&mut message, len, now()).expect("signs");
            message.truncate(end);
        } else {
            signer.skip(&message).expect("may skip");
        }
        if tamper == Some(index) {
            // The last byte before any TSIG record: an address.
            let at = tsig::find(&message)
                .expect("well formed")
                .map_or(message.len(), |signature| signature.start)
                - 1;
            message[at] ^= 1;
        }
        messages.push(message);
    }
    messages
}

/// Reads one length-prefixed message, or `None` at the end of the stream.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut request = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut request).ok()?;
    Some(request)
}

/// Runs `kdig` for `example.com AXFR` over TCP against a listener of the
/// test answering with [`axfr_messages`]. Returns kdig's output.
fn kdig_axfr(plan: &[bool], tamper: Option<usize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let child = Command::new("kdig")
        .arg("-y")
        .arg(format!("hmac-sha256:{KEY_NAME}:{}", BASE64.encode(SECRET)))
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args(["+timeout=3", "+retry=0", "example.com", "AXFR"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kdig");
    let (mut stream, _) = listener.accept().expect("kdig connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = read_request(&mut stream).expect("kdig's request");
    for message in axfr_messages(&request, plan, tamper) {
        stream.write_all(&client::frame(&message)).expect("send");
    }
    let output = child.wait_with_output().expect("kdig ends");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How our AXFRs are signed: the first, fourth and last messages.
const PLAN: [bool; 6] = [true, false, false, true, false, true];

#[test]
fn kdig_accepts_our_multi_message_axfr() {
    if !knot_installed("kdig_accepts_our_multi_message_axfr") {
        return;
    }
    let output = kdig_axfr(&PLAN, None);
    assert!(
        !output.contains(";; WARNING") && !output.contains(";; ERROR"),
        "kdig refused our AXFR:\n{output}"
    );
    assert!(
        output.contains("host31.example.com.") && output.contains("(6 messages, 42 records)"),
        "kdig did not print the transfer:\n{output}"
    );
    // kdig checks the first message's TSIG only (knotd as a secondary,
    // below, checks them all): a flipped byte there fails.
    let output = kdig_axfr(&PLAN, Some(0));
    assert!(
        output.contains("failed to verify TSIG"),
        "kdig accepted a tampered first message:\n{output}"
    );
}

/// A primary for `example.com` on a loopback port, answering signed SOA
/// queries (UDP and TCP) and AXFRs (TCP) with [`axfr_messages`] until
/// dropped, from two threads.
struct Primary {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Primary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The answer to a signed request: a signed SOA response, or the AXFR.
fn primary_answer(request: &[u8], tamper: Option<usize>) -> Vec<Vec<u8>> {
    let signature = tsig::find(request)
        .expect("well formed")
        .expect("knotd signs its requests");
    // The question type: the 2 bytes before the class, before the TSIG
    // record and any OPT record. Find it after the question name.
    let mut pos = 12;
    while request[pos] != 0 {
        pos += 1 + usize::from(request[pos]);
    }
    let qtype = u16::from_be_bytes([request[pos + 1], request[pos + 2]]);
    assert!(signature.start > pos);
    if qtype == u16::from(Rtype::AXFR) {
        return axfr_messages(request, &PLAN, tamper);
    }
    assert_eq!(qtype, u16::from(Rtype::SOA), "knotd asks SOA or AXFR");
    let keys = [Key::new(KEY_WIRE, Algorithm::HmacSha256, SECRET)];
    let (_, request_mac) = tsig::verify_request(request, &keys, now())
        .expect("knotd's SOA query verifies")
        .expect("signed");
    let mut response = soa_response(request);
    let len = response.len();
    response.resize(len + 256, 0);
    let (end, _) = tsig::sign(
        &mut response,
        len,
        &keys[0],
        now(),
        Some(request_mac.as_slice()),
    )
    .expect("signs");
    response.truncate(end);
    vec![response]
}

fn start_primary(tamper: Option<usize>) -> Primary {
    let port = free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let stop = Arc::new(AtomicBool::new(false));
    let udp = UdpSocket::bind(address).expect("bind UDP");
    udp.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let tcp = TcpListener::bind(address).expect("bind TCP");
    tcp.set_nonblocking(true).expect("nonblocking");
    let udp_stop = Arc::clone(&stop);
    let udp_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while !udp_stop.load(Ordering::Relaxed) {
            if let Ok((len, peer)) = udp.recv_from(&mut buf) {
                for message in primary_answer(&buf[..len], tamper) {
                    let _ = udp.send_to(&message, peer);
                }
            }
        }
    });
    let tcp_stop = Arc::clone(&stop);
    let tcp_thread = std::thread::spawn(move || {
        while !tcp_stop.load(Ordering::Relaxed) {
            let Ok((mut stream, _)) = tcp.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).expect("blocking");
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            while let Some(request) = read_request(&mut stream) {
                for message in primary_answer(&request, tamper) {
                    if stream.write_all(&client::frame(&message)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Primary {
        address,
        stop,
        threads: vec![udp_thread, tcp_thread],
    }
}

/// A knotd secondary for `example.com` transferring from `primary` with
/// the test key.
fn start_secondary(dir: &Path, primary: SocketAddr) -> Knot {
    let zone_config = format!(
        "remote:\n  - id: primary\n    address: {}@{}\n    key: {KEY_NAME}\n\
         zone:\n  - domain: example.com\n    master: primary\n",
        primary.ip(),
        primary.port()
    );
    launch_knot(dir, &zone_config)
}

#[test]
fn knotd_secondary_takes_our_signed_axfr_with_unsigned_messages() {
    if !knot_installed("knotd_secondary_takes_our_signed_axfr_with_unsigned_messages") {
        return;
    }
    // knotd checks every message of a transfer, unsigned ones included in
    // the next signed one's digest (RFC 8945 section 5.3.1).
    let primary = start_primary(None);
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut knot = start_secondary(dir.path(), primary.address);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers_soa(knot.address) {
        let exited = knot.child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "knotd ({exited:?}) did not take the zone:\n{}",
            knot.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = client::message(2, "host31.example.com", Rtype::A, Class::IN, None);
    let reply = client::udp_raw(knot.address, &host, client::TIMEOUT).expect("an answer");
    assert_eq!(reply.message.header_counts().ancount(), 1, "{}", knot.log());
    assert!(reply.bytes().ends_with(&[192, 0, 2, 1]));
    assert!(
        knot.log().contains("AXFR, incoming") && !knot.log().contains("TSIG"),
        "{}",
        knot.log()
    );

    // A flipped byte in an unsigned message: knotd refuses the transfer
    // for its TSIG and serves nothing.
    let primary = start_primary(Some(2));
    let dir = tempfile::tempdir().expect("temporary directory");
    let knot = start_secondary(dir.path(), primary.address);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !knot.log().contains("failed (failed to verify TSIG)") {
        assert!(
            Instant::now() < deadline,
            "knotd did not report the TSIG failure:\n{}",
            knot.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!answers_soa(knot.address), "{}", knot.log());
}
