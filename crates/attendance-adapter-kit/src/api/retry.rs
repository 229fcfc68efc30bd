//! Bounded retries: which kinds of answer a call retries and how often (the
//! vendor names the kinds), and the exponential backoff between tries when
//! the vendor does not say how long to wait.

use std::time::Duration;

use rand::Rng;

/// Waits that double from `base` up to `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The wait before retry number `retry` (1-based): doubling from the
    /// base, capped, with up to 20 % added at random so apps that were
    /// refused together do not retry in step.
    pub fn delay(&self, retry: u32) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = doubled.min(self.cap);
        let jitter = rand::thread_rng().gen_range(0.0..0.2);
        capped + capped.mul_f64(jitter)
    }
}

impl Default for Backoff {
    /// A quarter second, doubling up to ten seconds.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
    }
}

/// How many retries one call may make of each kind of retryable answer
/// (`K` is the vendor's: an error code, say), and the backoff between them.
/// A kind with no limit set is not retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy<K> {
    limits: Vec<(K, u32)>,
    backoff: Backoff,
}

impl<K: Copy + Eq> RetryPolicy<K> {
    pub fn new(backoff: Backoff) -> RetryPolicy<K> {
        RetryPolicy {
            limits: Vec::new(),
            backoff,
        }
    }

    /// Allows up to `max_retries` retries of `kind` per call (a later limit
    /// for the same kind replaces an earlier one).
    pub fn with_limit(mut self, kind: K, max_retries: u32) -> RetryPolicy<K> {
        self.limits.retain(|(k, _)| *k != kind);
        self.limits.push((kind, max_retries));
        self
    }

    pub fn max_retries(&self, kind: K) -> u32 {
        self.limits
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, max)| *max)
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_with_up_to_a_fifth_more() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let within = |retry: u32, low: u64| {
            let wait = backoff.delay(retry);
            let (low, high) = (
                Duration::from_millis(low),
                Duration::from_millis(low * 6 / 5),
            );
            assert!(wait >= low && wait <= high, "retry {retry}: {wait:?}");
        };
        within(1, 100);
        within(2, 200);
        within(3, 350);
        within(30, 350);
        within(u32::MAX, 350);
        within(0, 100);
    }

    #[test]
    fn limits_are_per_kind_and_unlisted_kinds_are_not_retried() {
        let policy = RetryPolicy::new(Backoff::default())
            .with_limit(-1, 3)
            .with_limit(90002, 6)
            .with_limit(-1, 2);
        assert_eq!(policy.max_retries(-1), 2);
        assert_eq!(policy.max_retries(90002), 6);
        assert_eq!(policy.max_retries(88), 0);
        assert_eq!(policy.backoff(), Backoff::default());
    }
}
