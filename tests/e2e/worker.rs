//! A UDP worker with several sockets keeps serving all of them when one
//! fails: an error on one socket neither skips the others nor makes the
//! worker sleep while they have queries.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dnslb::config;
use dnslb::dataplane::udp::Worker;
use dnslb::snapshot::SharedSnapshot;
use dnslb::stats::Stats;
use domain::base::Message;

use crate::packets;

#[test]
fn an_error_on_one_socket_does_not_stop_the_others() {
    let config = config::embedded_default().expect("embedded config");
    let (snapshot, _) = dnslb::control::build::snapshot(&config, 1).expect("snapshot");
    // A socket every receive fails on (ENOTCONN): a TCP listener's
    // descriptor handed over as if it were a UDP socket.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let failing = UdpSocket::from(OwnedFd::from(listener));
    let serving = UdpSocket::bind("127.0.0.1:0").expect("bind");
    serving.set_nonblocking(true).expect("non-blocking");
    let address = serving.local_addr().expect("address");
    let stats = Arc::new(Stats::new(1));
    let worker = Worker::new(
        0,
        vec![failing, serving],
        1232,
        Arc::new(SharedSnapshot::new(snapshot)),
        stats.clone(),
        7,
    )
    .expect("worker");
    let shutdown = Arc::new(AtomicBool::new(false));
    let thread = {
        let shutdown = shutdown.clone();
        std::thread::spawn(move || worker.run(&shutdown))
    };

    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client.connect(address).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    // 200 queries one after another: each must be answered at once, not
    // after a back-off per round.
    let started = Instant::now();
    let mut answered = 0;
    let mut buffer = [0u8; 1232];
    for id in 0..200u16 {
        client
            .send(&packets::query(
                id,
                "www.example.com",
                domain::base::iana::Rtype::A,
            ))
            .expect("send");
        if let Ok(len) = client.recv(&mut buffer) {
            let message = Message::from_octets(&buffer[..len]).expect("a reply");
            assert_eq!(message.header().id(), id);
            answered += 1;
        }
    }
    let elapsed = started.elapsed();
    shutdown.store(true, Ordering::Relaxed);
    thread.join().expect("worker thread");
    assert_eq!(answered, 200, "answered {answered} of 200");
    // With a 10 ms back-off per round, 200 queries take 2 s or more.
    assert!(
        elapsed < Duration::from_secs(1),
        "200 queries took {elapsed:?}"
    );
}
