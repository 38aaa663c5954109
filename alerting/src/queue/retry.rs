//! Retry schedule and the classification of transport outcomes.
//!
//! Backoff: attempt `n` (0-based) waits a random time in `[d/2, d]` with
//! `d = min(max, initial * 2^n)` ("equal jitter": never a zero wait, spread across sinks).
//! The random source is seeded, so tests and replays see the same schedule. A `Retry-After`
//! from the server replaces the backoff (capped by `max_retry_after_secs`). Retryable
//! failures retry forever: alerts wait in the queue, whose bound is the limit.
//!
//! HTTP statuses:
//! - 2xx: delivered.
//! - 408, 425, 429, 5xx: retry (the server may take it later).
//! - 401, 403, 404, 407, 410 and 3xx: the sink is misconfigured or its credential is wrong
//!   (not this alert): keep everything queued and retry with backoff, health says
//!   `blocked`; it will succeed once an operator fixes the config, so dead-lettering would
//!   only move every alert aside.
//! - other 4xx (400, 409, 413, 415, 422...): this payload will never be accepted: dead-letter
//!   it with the response (a batch is first split to find the bad item).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// `retry = { initial_ms = 500, max_ms = 300000, max_retry_after_secs = 3600 }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    #[serde(default = "default_initial")]
    pub initial_ms: u64,
    #[serde(default = "default_max")]
    pub max_ms: u64,
    /// A longer `Retry-After` is cut to this.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
}

fn default_initial() -> u64 {
    500
}
fn default_max() -> u64 {
    300_000
}
fn default_max_retry_after() -> u64 {
    3600
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_ms: default_initial(),
            max_ms: default_max(),
            max_retry_after_secs: default_max_retry_after(),
        }
    }
}

impl RetryPolicy {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        if self.initial_ms == 0 || self.initial_ms > self.max_ms {
            errors.push(format!("{key}.initial_ms: between 1 and max_ms"));
        }
    }
}

/// Exponential backoff with equal jitter from a seeded generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    pub fn new(policy: RetryPolicy, seed: u64) -> Backoff {
        Backoff {
            policy,
            attempt: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt; counts one failure.
    pub fn next_delay(&mut self) -> Duration {
        let shift = self.attempt.min(40);
        let ceiling = self
            .policy
            .initial_ms
            .saturating_mul(1u64 << shift)
            .min(self.policy.max_ms);
        let half = ceiling / 2;
        let ms = half + self.rng.random_range(0..=ceiling - half);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(ms)
    }

    /// A server-given wait, within the policy's cap; counts one failure.
    pub fn server_delay(&mut self, after: Duration) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        after.min(Duration::from_secs(self.policy.max_retry_after_secs))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What an HTTP status means for the items it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// Try again later.
    Retry,
    /// The sink itself is misconfigured: keep the items, retry, report it.
    Blocked,
    /// These items will never be accepted: dead-letter them.
    Reject,
}

pub fn classify_status(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        408 | 425 | 429 | 500..=599 => Class::Retry,
        401 | 403 | 404 | 407 | 410 => Class::Blocked,
        400..=499 => Class::Reject,
        _ => Class::Blocked,
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`), as a wait
/// from `now` (a date in the past is no wait).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backoff_grows_with_jitter_and_is_deterministic() {
        let p = RetryPolicy {
            initial_ms: 100,
            max_ms: 1000,
            max_retry_after_secs: 60,
        };
        let mut b = Backoff::new(p.clone(), 7);
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, c) in delays.iter().zip(ceilings) {
            assert!(*d >= c / 2 && *d <= c, "{d} in [{}, {c}]", c / 2);
        }
        assert_eq!(b.attempts(), 8);
        let mut again = Backoff::new(p.clone(), 7);
        let same: Vec<u64> = (0..8)
            .map(|_| again.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(delays, same, "same seed, same schedule");
        let mut other = Backoff::new(p.clone(), 8);
        let diff: Vec<u64> = (0..8)
            .map(|_| other.next_delay().as_millis() as u64)
            .collect();
        assert_ne!(delays, diff);
        b.reset();
        assert!(b.next_delay().as_millis() <= 100);
        assert_eq!(
            b.server_delay(Duration::from_secs(7200)),
            Duration::from_secs(60)
        );
        // Huge attempt counts do not overflow.
        let mut b = Backoff::new(p, 1);
        for _ in 0..200 {
            assert!(b.next_delay().as_millis() <= 1000);
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(classify_status(200), Class::Success);
        assert_eq!(classify_status(202), Class::Success);
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), Class::Retry, "{s}");
        }
        for s in [401, 403, 404, 407, 410, 301, 302, 100] {
            assert_eq!(classify_status(s), Class::Blocked, "{s}");
        }
        for s in [400, 409, 413, 415, 422] {
            assert_eq!(classify_status(s), Class::Reject, "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
