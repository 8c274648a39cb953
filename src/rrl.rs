//! Response rate limiting (RRL) for UDP, after Knot's and NSD's: responses
//! are counted per (client prefix, response class, name) and, past
//! `responses_per_second` in one second, dropped, except that every
//! `slip`-th limited response goes out truncated (TC=1, no records) so a
//! real client behind a spoofed-upon prefix can retry over TCP.
//!
//! The point is to stop dnslb from being an amplifier for spoofed floods,
//! not to police real resolvers. The defaults (20 responses per second per
//! bucket, slip 2, /24 and /56) are our own conservative choice; NSD's are
//! 200 per second, slip 2, /24 and /64. TCP is never limited (its source
//! address is verified by the handshake).
//!
//! Buckets and keys:
//! - the client's address cut to `ipv4_prefix` / `ipv6_prefix` bits;
//! - the class: positive answers, empty answers (NODATA), NXDOMAIN,
//!   referrals, errors;
//! - the name: the query name for positive answers, the zone apex for
//!   negative ones (so a random-subdomain flood is one bucket per zone, as
//!   Knot's "imputed name" does), none for referrals and errors.
//!
//! The table is one array of `AtomicU64` shared by all workers, lock-free:
//! each bucket packs a 24-bit tag of the key's hash, the low 16 bits of the
//! second it counts, and a 24-bit count. A fixed one-second window is what
//! Knot's token bucket refilled each second amounts to. Once a bucket is
//! over its rate, further responses in that second only read it (no store),
//! so a flood from one prefix on several cores does not bounce its cache
//! line; the slip decision uses a per-worker counter for the same reason.
//! Two keys hashing to one slot take it over from each other (the table
//! forgets, it never limits the wrong client for longer than a second).
//!
//! Pure: no clock (the caller passes the second), no allocation after
//! [`RateLimiter::new`], no lock.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::hash::{self, mix_pair};

/// The `[rrl]` settings, validated by `config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrlSettings {
    /// Responses per second per bucket before limiting starts.
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated; 0 drops all, 1
    /// truncates all.
    pub slip: u32,
    /// IPv4 clients are grouped by this many leading bits.
    pub ipv4_prefix: u8,
    /// IPv6 clients are grouped by this many leading bits.
    pub ipv6_prefix: u8,
    /// Buckets in the table.
    pub table_size: usize,
}

/// What a response is, for rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ResponseClass {
    /// NOERROR with answer records.
    Positive,
    /// NOERROR, authoritative, no answer records (NODATA).
    Empty,
    /// NXDOMAIN.
    Nxdomain,
    /// NOERROR, not authoritative, no answers: a delegation.
    Referral,
    /// Any other rcode.
    Error,
}

impl ResponseClass {
    /// The class whose discriminant is `index` (`class as u8`); any other
    /// value is [`ResponseClass::Error`].
    #[inline]
    pub fn from_index(index: u8) -> ResponseClass {
        match index {
            0 => ResponseClass::Positive,
            1 => ResponseClass::Empty,
            2 => ResponseClass::Nxdomain,
            3 => ResponseClass::Referral,
            _ => ResponseClass::Error,
        }
    }
}

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: send it.
    Send,
    /// Over the rate: send a truncated reply instead (TC=1, no records).
    Slip,
    /// Over the rate: send nothing.
    Drop,
}

const TAG_BITS: u32 = 24;
const SECOND_BITS: u32 = 16;
const COUNT_BITS: u32 = 24;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// The shared bucket table and its settings.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RrlSettings,
    /// Shared with the limiters that replace this one on reloads that keep
    /// the table's shape.
    buckets: Arc<[AtomicU64]>,
    seed: u64,
    /// Seconds count from here, for every worker alike.
    epoch: Instant,
}

impl RateLimiter {
    /// A table of `settings.table_size` empty buckets (at least one),
    /// keyed by `seed` (unpredictable to clients: from the OS), counting
    /// seconds from `epoch`.
    pub fn new(settings: RrlSettings, seed: u64, epoch: Instant) -> RateLimiter {
        let buckets = (0..settings.table_size.max(1))
            .map(|_| AtomicU64::new(0))
            .collect();
        RateLimiter {
            settings,
            buckets,
            seed,
            epoch,
        }
    }

    /// A limiter with `settings` on this one's buckets (shared, not
    /// copied), so a reload does not reset who is limited; `None` when the
    /// table's shape (size or prefixes) differs and new buckets are needed.
    pub fn with_settings(&self, settings: RrlSettings) -> Option<RateLimiter> {
        let same_shape = settings.table_size.max(1) == self.buckets.len()
            && settings.ipv4_prefix == self.settings.ipv4_prefix
            && settings.ipv6_prefix == self.settings.ipv6_prefix;
        same_shape.then(|| RateLimiter {
            settings,
            buckets: self.buckets.clone(),
            seed: self.seed,
            epoch: self.epoch,
        })
    }

    /// The second `now` falls in on this limiter's clock (seconds since its
    /// epoch).
    #[inline]
    pub fn second(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.epoch).as_secs() as u32
    }

    /// The settings.
    pub fn settings(&self) -> &RrlSettings {
        &self.settings
    }

    /// Counts one response of `class` about `name_hash` (0 for none) to
    /// `client` in second `now`, and says what to do with it.
    /// `limited_seen` is the calling worker's count of limited responses,
    /// which spaces the slips.
    #[inline]
    pub fn check(
        &self,
        client: IpAddr,
        class: ResponseClass,
        name_hash: u64,
        now: u32,
        limited_seen: &mut u32,
    ) -> Verdict {
        let hash = self.key_hash(client, class, name_hash);
        // Multiply-shift maps the hash onto any table size without a modulo.
        let index = ((u128::from(hash) * self.buckets.len() as u128) >> 64) as usize;
        let tag = hash >> (64 - TAG_BITS);
        let second = u64::from(now) & ((1 << SECOND_BITS) - 1);
        let bucket = &self.buckets[index];
        let rate = u64::from(self.settings.responses_per_second);
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let (current_tag, current_second, count) = unpack(current);
            let same = current_tag == tag && current_second == second;
            if same && count > rate {
                break;
            }
            let count = if same { count + 1 } else { 1 };
            match bucket.compare_exchange_weak(
                current,
                pack(tag, second, count),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) if count <= rate => return Verdict::Send,
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let slip = self.settings.slip;
        if slip == 0 {
            return Verdict::Drop;
        }
        *limited_seen = limited_seen.wrapping_add(1);
        if limited_seen.is_multiple_of(slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    fn key_hash(&self, client: IpAddr, class: ResponseClass, name_hash: u64) -> u64 {
        let (high, low) = match client {
            IpAddr::V4(address) => {
                let bits = u32::from(address);
                let prefix = u32::from(self.settings.ipv4_prefix).min(32);
                // Config keeps prefixes at 1 or more: the shift stays below 32.
                let masked = bits & (u32::MAX << (32 - prefix.max(1)));
                (u64::from(masked), 4)
            }
            IpAddr::V6(address) => {
                let bits = u128::from(address);
                let prefix = u32::from(self.settings.ipv6_prefix).min(128);
                let masked = bits & (u128::MAX << (128 - prefix.max(1)));
                ((masked >> 64) as u64 ^ (masked as u64).rotate_left(29), 6)
            }
        };
        let class = class as u64;
        let mixed = mix_pair(
            high ^ self.seed,
            (low << 8 | class) ^ name_hash.rotate_left(17),
        );
        mix_pair(mixed, name_hash ^ self.seed.rotate_left(32))
    }
}

fn pack(tag: u64, second: u64, count: u64) -> u64 {
    tag << (SECOND_BITS + COUNT_BITS) | second << COUNT_BITS | count.min(COUNT_MAX)
}

fn unpack(bucket: u64) -> (u64, u64, u64) {
    (
        bucket >> (SECOND_BITS + COUNT_BITS),
        (bucket >> COUNT_BITS) & ((1 << SECOND_BITS) - 1),
        bucket & COUNT_MAX,
    )
}

/// Turns the reply in `reply` into a truncated one: header and question,
/// TC set, no records. Returns its length.
pub fn truncate(reply: &mut [u8], question_end: usize) -> usize {
    reply[2] |= 0x02;
    reply[6..12].fill(0);
    question_end
}

/// The hash a name is counted under: [`hash::name_hash`] (case folded),
/// never 0, which stands for no name.
#[inline]
pub fn name_hash(name: &[u8]) -> u64 {
    hash::name_hash(0, name) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    fn settings(rate: u32, slip: u32) -> RrlSettings {
        RrlSettings {
            responses_per_second: rate,
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 1024,
        }
    }

    fn run(
        limiter: &RateLimiter,
        client: IpAddr,
        class: ResponseClass,
        name: u64,
        now: u32,
        count: usize,
        seen: &mut u32,
    ) -> [usize; 3] {
        let mut verdicts = [0; 3];
        for _ in 0..count {
            match limiter.check(client, class, name, now, seen) {
                Verdict::Send => verdicts[0] += 1,
                Verdict::Slip => verdicts[1] += 1,
                Verdict::Drop => verdicts[2] += 1,
            }
        }
        verdicts
    }

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn limits_past_the_rate_and_slips_every_nth() {
        let limiter = RateLimiter::new(settings(20, 2), 1, Instant::now());
        let mut seen = 0;
        let verdicts = run(
            &limiter,
            CLIENT,
            ResponseClass::Positive,
            5,
            100,
            120,
            &mut seen,
        );
        assert_eq!(verdicts, [20, 50, 50]);
        // The next second starts afresh.
        let verdicts = run(
            &limiter,
            CLIENT,
            ResponseClass::Positive,
            5,
            101,
            25,
            &mut seen,
        );
        assert_eq!(verdicts[0], 20);
    }

    #[test]
    fn slip_zero_drops_all_and_one_truncates_all() {
        let drop_all = RateLimiter::new(settings(3, 0), 1, Instant::now());
        let verdicts = run(&drop_all, CLIENT, ResponseClass::Nxdomain, 9, 7, 10, &mut 0);
        assert_eq!(verdicts, [3, 0, 7]);
        let slip_all = RateLimiter::new(settings(3, 1), 1, Instant::now());
        let verdicts = run(&slip_all, CLIENT, ResponseClass::Nxdomain, 9, 7, 10, &mut 0);
        assert_eq!(verdicts, [3, 7, 0]);
    }

    #[test]
    fn buckets_are_per_prefix_class_and_name() {
        let limiter = RateLimiter::new(settings(5, 0), 1, Instant::now());
        let mut seen = 0;
        // Of 10 responses at second 1, how many are sent.
        let mut sent =
            |client, class, name| run(&limiter, client, class, name, 1, 10, &mut seen)[0];
        assert_eq!(sent(CLIENT, ResponseClass::Positive, 5), 5);
        // Same /24: the same bucket.
        let neighbour = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));
        assert_eq!(sent(neighbour, ResponseClass::Positive, 5), 0);
        // Another /24, another class, another name: fresh buckets.
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 3, 7));
        assert_eq!(sent(other, ResponseClass::Positive, 5), 5);
        assert_eq!(sent(CLIENT, ResponseClass::Nxdomain, 5), 5);
        assert_eq!(sent(CLIENT, ResponseClass::Positive, 6), 5);
        // IPv6 by /56.
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x12, 1, 2, 3, 4));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x34, 9, 9, 9, 9));
        let c = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x100, 1, 2, 3, 4));
        assert_eq!(sent(a, ResponseClass::Positive, 5), 5);
        assert_eq!(sent(b, ResponseClass::Positive, 5), 0);
        assert_eq!(sent(c, ResponseClass::Positive, 5), 5);
    }

    #[test]
    fn shared_between_threads_without_losing_counts() {
        let limiter = Arc::new(RateLimiter::new(settings(1000, 0), 3, Instant::now()));
        let sent: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let limiter = &limiter;
                    scope.spawn(move || {
                        run(limiter, CLIENT, ResponseClass::Positive, 1, 9, 1000, &mut 0)[0]
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .sum()
        });
        assert_eq!(sent, 1000);
    }

    #[test]
    fn a_reload_keeps_the_buckets_unless_the_table_changes() {
        let limiter = Arc::new(RateLimiter::new(settings(5, 0), 1, Instant::now()));
        run(&limiter, CLIENT, ResponseClass::Positive, 5, 1, 10, &mut 0);
        let kept = limiter.with_settings(settings(6, 0)).expect("same shape");
        assert_eq!(
            run(&kept, CLIENT, ResponseClass::Positive, 5, 1, 10, &mut 0)[0],
            0
        );
        let resized = limiter.with_settings(RrlSettings {
            table_size: 2048,
            ..settings(5, 0)
        });
        assert!(resized.is_none(), "a new table size needs new buckets");
    }

    /// `www.example.com. A` asked, answered with one A record.
    fn reply(flags: u8, answers: u16, authority_owner: Option<u16>) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x84 | flags, 0x00, 0, 1];
        packet.extend_from_slice(&answers.to_be_bytes());
        packet.extend_from_slice(&[0, u8::from(authority_owner.is_some()), 0, 0]);
        packet.extend_from_slice(b"\x03WwW\x07example\x03com\x00\x00\x01\x00\x01");
        if let Some(owner) = authority_owner {
            packet.extend_from_slice(&(0xc000 | owner).to_be_bytes());
            packet.extend_from_slice(&[0, 6, 0, 1, 0, 0, 0, 60, 0, 0]);
        }
        packet
    }

    #[test]
    fn name_hash_ignores_case_and_tells_names_apart() {
        let lower = name_hash(b"\x03www\x07example\x03com\x00");
        assert_eq!(name_hash(b"\x03WwW\x07EXAMPLE\x03com\x00"), lower);
        assert_ne!(name_hash(b"\x03ftp\x07example\x03com\x00"), lower);
        assert_ne!(name_hash(b"\x07example\x03com\x00"), lower);
        assert_ne!(
            name_hash(b""),
            0,
            "a name never hashes to 0, which means none"
        );
    }

    #[test]
    fn truncation_keeps_header_and_question_only() {
        let mut packet = reply(0, 1, Some(16));
        // Header, `www.example.com.` (17 bytes), type and class.
        let end = 12 + 17 + 4;
        let len = truncate(&mut packet, end);
        assert_eq!(len, end);
        let message = domain::base::Message::from_octets(&packet[..len]).unwrap();
        assert!(message.header().tc());
        assert_eq!(message.header().id(), 0x1234);
        assert_eq!(message.header_counts().qdcount(), 1);
        assert_eq!(message.header_counts().ancount(), 0);
        assert_eq!(message.header_counts().nscount(), 0);
        assert_eq!(
            message.sole_question().unwrap().qtype(),
            domain::base::iana::Rtype::A
        );
    }
}
