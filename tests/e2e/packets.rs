//! Query packets, well formed and malformed, built with `domain`'s
//! `MessageBuilder` and then, for the malformed ones, cut or patched as raw
//! bytes. Shared by the malformed-packet tests and the allocation tests.

use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::{MessageBuilder, Name};

use crate::client::{self, Edns};

/// Offset of the flags word in the header.
const FLAGS: usize = 2;
/// Offset of ARCOUNT in the header.
const ARCOUNT: usize = 10;
/// Length of an OPT record without options.
const OPT_LEN: usize = 11;

/// `name`/`rtype` in class IN, without EDNS.
pub fn query(id: u16, name: &str, rtype: Rtype) -> Vec<u8> {
    client::message(id, name, rtype, Class::IN, None)
}

/// A query for `www.example.com A` with two questions (QDCOUNT 2).
pub fn two_questions(id: u16) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    for name in ["www.example.com", "mail.example.com"] {
        let name: Name<Vec<u8>> = name.parse().expect("valid name");
        question.push((name, Rtype::A)).expect("question fits");
    }
    question.finish()
}

/// `www.example.com A` cut in the middle of the question name.
pub fn truncated_question(id: u16) -> Vec<u8> {
    let mut packet = query(id, "www.example.com", Rtype::A);
    packet.truncate(12 + 6);
    packet
}

/// `www.example.com A` followed by bytes no section accounts for.
pub fn trailing_garbage(id: u16) -> Vec<u8> {
    let mut packet = query(id, "www.example.com", Rtype::A);
    packet.extend_from_slice(b"junk");
    packet
}

/// `www.example.com A` with two OPT records in the additional section.
pub fn two_opt_records(id: u16) -> Vec<u8> {
    let mut packet = client::message(
        id,
        "www.example.com",
        Rtype::A,
        Class::IN,
        Some(Edns::payload(1232)),
    );
    let opt = packet[packet.len() - OPT_LEN..].to_vec();
    packet.extend_from_slice(&opt);
    packet[ARCOUNT..ARCOUNT + 2].copy_from_slice(&2u16.to_be_bytes());
    packet
}

/// `www.example.com A` with opcode UPDATE (5).
pub fn update(id: u16) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_opcode(Opcode::UPDATE);
    let mut question = builder.question();
    let name: Name<Vec<u8>> = "www.example.com".parse().expect("valid name");
    question.push((name, Rtype::A)).expect("question fits");
    question.finish()
}

/// `www.example.com A` with QR set: a response, which must never be answered.
pub fn response(id: u16) -> Vec<u8> {
    let mut packet = query(id, "www.example.com", Rtype::A);
    packet[FLAGS] |= 0x80;
    packet
}

/// Five bytes: shorter than a header.
pub fn short(id: u16) -> Vec<u8> {
    let [high, low] = id.to_be_bytes();
    vec![high, low, 0, 0, 0]
}

/// A question whose name is a compression pointer to itself.
pub fn compressed_question(id: u16) -> Vec<u8> {
    let mut packet = query(id, ".", Rtype::A);
    // Replace the root label with a pointer to offset 12.
    packet.splice(12..13, [0xc0, 0x0c]);
    packet
}

/// Sets the message ID of a packet at least two bytes long.
pub fn set_id(packet: &mut [u8], id: u16) {
    packet[..2].copy_from_slice(&id.to_be_bytes());
}
