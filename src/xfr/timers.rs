//! SOA timers (RFC 1034 section 4.3.5, RFC 1996): when to check a zone
//! again, when to retry after a failure, and when an unrefreshed zone
//! expires. The SOA's values are clamped by the zone's `refresh_min`,
//! `refresh_max`, `retry_min` and `expire_min`, and the next check is moved
//! earlier by up to a tenth at random, so that a fleet of secondaries
//! started together does not query its primary in step.
//!
//! Pure: the caller passes the random value.

use std::time::Duration;

use crate::config::ZoneTimers;

/// The SOA fields the timers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaTimes {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

/// How long until the next SOA check after a successful refresh.
pub fn refresh_interval(soa: SoaTimes, limits: &ZoneTimers, random: u64) -> Duration {
    let interval = Duration::from_secs(u64::from(soa.refresh)).clamp(
        limits.refresh_min,
        limits.refresh_max.max(limits.refresh_min),
    );
    jitter(interval, random)
}

/// How long until the next attempt after a failed one. Without a SOA (no
/// copy of the zone yet) the retry is `retry_min`.
pub fn retry_interval(soa: Option<SoaTimes>, limits: &ZoneTimers, random: u64) -> Duration {
    let retry = soa.map_or(limits.retry_min, |soa| {
        Duration::from_secs(u64::from(soa.retry))
            .clamp(limits.retry_min, limits.refresh_max.max(limits.retry_min))
    });
    jitter(retry, random)
}

/// How long a zone stays served without a successful refresh.
pub fn expire_interval(soa: SoaTimes, limits: &ZoneTimers) -> Duration {
    Duration::from_secs(u64::from(soa.expire)).max(limits.expire_min)
}

/// `interval` shortened by a random part of up to a tenth.
fn jitter(interval: Duration, random: u64) -> Duration {
    let tenth = interval / 10;
    let nanos = tenth.as_nanos() as u64;
    if nanos == 0 {
        return interval;
    }
    interval - Duration::from_nanos(random % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ZoneTimers {
        ZoneTimers {
            refresh_min: Duration::from_secs(5),
            refresh_max: Duration::from_secs(86_400),
            retry_min: Duration::from_secs(5),
            expire_min: Duration::from_secs(3600),
        }
    }

    const SOA: SoaTimes = SoaTimes {
        refresh: 300,
        retry: 60,
        expire: 600,
    };

    #[test]
    fn refresh_follows_the_soa_within_a_tenth_below() {
        for random in [0, 1, 7, u64::MAX / 3, u64::MAX] {
            let interval = refresh_interval(SOA, &limits(), random);
            assert!(interval <= Duration::from_secs(300), "{interval:?}");
            assert!(interval > Duration::from_secs(270), "{interval:?}");
        }
        assert_ne!(
            refresh_interval(SOA, &limits(), 1),
            refresh_interval(SOA, &limits(), 12_345_678_901),
            "the jitter varies with the random value"
        );
    }

    #[test]
    fn the_config_clamps_the_soa() {
        let tiny = SoaTimes {
            refresh: 1,
            retry: 1,
            expire: 2,
        };
        assert!(refresh_interval(tiny, &limits(), 0) >= Duration::from_millis(4500));
        assert!(retry_interval(Some(tiny), &limits(), 0) >= Duration::from_millis(4500));
        assert_eq!(expire_interval(tiny, &limits()), Duration::from_secs(3600));
        let huge = SoaTimes {
            refresh: u32::MAX,
            retry: u32::MAX,
            expire: u32::MAX,
        };
        assert!(refresh_interval(huge, &limits(), 0) <= Duration::from_secs(86_400));
        assert!(retry_interval(Some(huge), &limits(), 0) <= Duration::from_secs(86_400));
        assert_eq!(
            expire_interval(huge, &limits()),
            Duration::from_secs(u64::from(u32::MAX))
        );
    }

    #[test]
    fn without_a_soa_the_retry_is_the_minimum() {
        let retry = retry_interval(None, &limits(), 3);
        assert!(retry <= Duration::from_secs(5) && retry > Duration::from_millis(4500));
    }
}
