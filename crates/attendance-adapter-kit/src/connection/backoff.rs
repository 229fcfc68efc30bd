//! Pauses between reconnect attempts, with jitter so that hubs cut off
//! together do not come back in step.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `min` doubling with each failure up to `max`, less up
/// to a fifth at random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause after a lost connection or a failed attempt.
    pub min: Duration,
    /// Pauses double up to this.
    pub max: Duration,
}

impl Backoff {
    /// The pause before the next attempt after `failures` consecutive
    /// failures (1 or more), before jitter.
    pub fn base(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.min
            .saturating_mul(1 << doublings)
            .min(self.max)
            .max(self.min.min(self.max))
    }

    /// [`base`](Self::base) less up to a fifth at random (DingTalk's GO SDK
    /// adds up to a fifth; taking it off keeps `max` a maximum).
    pub fn pause(&self, failures: u32) -> Duration {
        let base = self.base(failures);
        base.mul_f64(1.0 - rand::thread_rng().gen_range(0.0..0.2))
    }
}

/// A random pause below `bound` (zero when `bound` is).
pub fn jitter_below(bound: Duration) -> Duration {
    let bound_ms = bound.as_millis() as u64;
    if bound_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::thread_rng().gen_range(0..bound_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_below() {
        let backoff = Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let bases: Vec<u64> = (1..=8).map(|n| backoff.base(n).as_secs()).collect();
        assert_eq!(bases, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.base(u32::MAX), Duration::from_secs(60));
        for failures in 1..=10 {
            let base = backoff.base(failures);
            let pause = backoff.pause(failures);
            assert!(
                pause <= base && pause >= base.mul_f64(0.8),
                "{pause:?} vs {base:?}"
            );
        }
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        assert_eq!(jitter_below(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter_below(Duration::from_millis(30)) < Duration::from_millis(30));
        }
    }
}
