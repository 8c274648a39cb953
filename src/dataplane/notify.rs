//! Answers a NOTIFY (RFC 1996) from the snapshot's rules, and hands an
//! accepted one to the transfer thread through the snapshot's intake.
//!
//! Pure like the [`handler`](super::handler): no clock read (the intake
//! keeps the coarse wall clock TSIG needs), no allocation, no lock. The
//! zone must be one we are a secondary of (or a catalog), the source one
//! the zone allows, and the message signed with the zone's key when it has
//! one: otherwise REFUSED, or NOTAUTH for a missing or bad signature (with
//! a TSIG record giving the error when the key is ours). An accepted NOTIFY
//! is answered NOERROR with AA, signed when the request was.

use std::net::IpAddr;

use crate::dataplane::handler::{Outcome, RateKey};
use crate::snapshot::Snapshot;
use crate::wire::answer::Reply;
use crate::wire::notify::NotifyResult;
use crate::wire::query::Notify;
use crate::wire::tsig;
use crate::wire::{CLASS_IN, DropReason, HEADER_LEN, Rcode, name, rtype};

/// Answers `notify` (the whole message is `packet`) from `source` into
/// `out`.
pub fn answer(
    snapshot: &Snapshot,
    packet: &[u8],
    notify: &Notify<'_>,
    out: &mut [u8],
    source: IpAddr,
) -> Outcome {
    let intake = &snapshot.notify_intake;
    let rules = &snapshot.notify_rules;
    let mut apex = [0u8; name::MAX_NAME_LEN];
    let apex_len = name::lowercase_into(notify.qname, &mut apex);
    let apex = &apex[..apex_len];
    let now = intake.unix_now();

    let (rcode, sign_with, error) = if notify.qclass != CLASS_IN || notify.qtype != rtype::SOA {
        (Rcode::FormErr, None, None)
    } else {
        match rules.find(apex) {
            Some(rule)
                if rule
                    .allowed
                    .iter()
                    .any(|net| net.contains(&source.to_canonical())) =>
            {
                let keys = match rule.key {
                    Some(index) => rules.keys.get(index..=index).unwrap_or(&[]),
                    None => &rules.keys[..],
                };
                match tsig::verify_request(packet, keys, now) {
                    Ok(None) if rule.key.is_some() => (Rcode::NotAuth, None, None),
                    Ok(verified) => {
                        let key = verified.map(|(index, mac)| (&keys[index], mac));
                        (Rcode::NoError, key, None)
                    }
                    Err((error, key)) => (
                        Rcode::NotAuth,
                        None,
                        Some((error, key.and_then(|index| keys.get(index)))),
                    ),
                }
            }
            _ => (Rcode::Refused, None, None),
        }
    };
    let result = match rcode {
        Rcode::NoError => intake.push(apex, source),
        Rcode::NotAuth => NotifyResult::NotAuth,
        Rcode::FormErr => NotifyResult::FormErr,
        _ => NotifyResult::Refused,
    };
    if rcode != Rcode::NoError {
        intake.count(result);
    }

    let qname_len = notify.question.len().saturating_sub(4);
    // Replies to NOTIFY are small: any buffer a front door passes holds one.
    let limit = out.len();
    let Some(reply) = Reply::start(
        out,
        notify.id,
        notify.flags,
        Some(notify.question),
        qname_len,
        None,
        limit,
    ) else {
        return Outcome::Drop(DropReason::NoRoom);
    };
    let mut len = reply.finish(rcode, rcode == Rcode::NoError, snapshot.udp_payload);
    if let Some((key, mac)) = sign_with {
        match tsig::sign(out, len, key, now, Some(mac.as_slice())) {
            Ok((signed, _)) => len = signed,
            Err(_) => return Outcome::Drop(DropReason::NoRoom),
        }
    } else if let (Some((error, key)), Ok(Some(signature))) = (error, tsig::find(packet)) {
        // Say why (RFC 8945 section 5.3.2): a MAC that verified but out of
        // time gets a signed BADTIME with our time; BADSIG and BADKEY an
        // unsigned record.
        let code = error.error_code();
        match key {
            Some(key) if code == tsig::BADTIME => {
                if let Ok((signed, _)) = tsig::sign_error(out, len, key, now, signature.mac, code) {
                    len = signed;
                }
            }
            _ if code != 0 => {
                if let Ok(with_error) = tsig::append_error(
                    out,
                    len,
                    signature.key_name,
                    signature.algorithm,
                    now,
                    notify.id,
                    code,
                ) {
                    len = with_error;
                }
            }
            _ => {}
        }
    }
    let question_name_end = (HEADER_LEN + qname_len) as u16;
    Outcome::Reply {
        len,
        rcode,
        truncated: false,
        rate_key: RateKey::error(question_name_end),
    }
}
