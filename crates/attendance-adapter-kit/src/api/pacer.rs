//! The per-app request pacer: requests start at least `1 / rate` apart, so
//! an app stays under its vendor's per-second limit instead of meeting it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A spacing limiter: each request takes the next free start slot. Queued
/// requests keep their order of arrival, and a quiet app starts at once.
pub struct Pacer {
    spacing: Duration,
    /// When the next request may start. A std Mutex, because no await
    /// happens while it is held.
    next_slot: Mutex<Instant>,
}

impl Pacer {
    /// At most `requests_per_second` starts per second (0 counts as 1).
    pub fn new(requests_per_second: u32) -> Pacer {
        Pacer {
            spacing: Duration::from_secs(1) / requests_per_second.max(1),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait_turn(&self) {
        let start = {
            let mut next = self.next_slot.lock().expect("pacer lock");
            let start = (*next).max(Instant::now());
            *next = start + self.spacing;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_start_one_spacing_apart() {
        let pacer = Arc::new(Pacer::new(4));
        let origin = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..3 {
            pacer.wait_turn().await;
            starts.push(origin.elapsed());
        }
        let ms = Duration::from_millis;
        assert_eq!(starts, vec![ms(0), ms(250), ms(500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_app_starts_at_once_and_concurrent_callers_queue() {
        let pacer = Arc::new(Pacer::new(2));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let origin = Instant::now();
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait_turn().await;
                    origin.elapsed()
                })
            })
            .collect();
        let mut starts = Vec::new();
        for caller in callers {
            starts.push(caller.await.unwrap());
        }
        starts.sort();
        let ms = Duration::from_millis;
        assert_eq!(starts, vec![ms(0), ms(500), ms(1000)]);
    }

    #[test]
    fn a_zero_rate_is_one_per_second() {
        assert_eq!(Pacer::new(0).spacing, Duration::from_secs(1));
    }
}
