//! One app's API plumbing in one value: requests paced and metered, the
//! token cached, and a call's attempts repeated as the vendor's reading of
//! each answer says (bounded retries; a refused token refreshed once).

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{CallMeter, FreshToken, HttpError, Pacer, RetryPolicy, TokenCache};

/// What one attempt of a call came to, as the vendor reads the answer.
/// Errors that end the call are the attempt's `Err`.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt<T, K> {
    Done(T),
    /// Worth another try, counted against the limit for `kind`: after
    /// `wait` when the vendor said how long, else after the backoff.
    Retry {
        kind: K,
        wait: Option<Duration>,
    },
    /// The vendor refused `token`: it is forgotten and the call tries once
    /// more with a new one.
    TokenRefused {
        token: String,
    },
}

/// How a vendor's error says that a call gave up.
pub trait GiveUp<K> {
    /// The new token was refused too.
    fn token_refused_again(path: &str) -> Self;
    /// `kind` was still answered after the `retries` its limit allows.
    fn retries_exhausted(path: &str, kind: K, retries: u32) -> Self;
}

/// One app's pacer, token, meter and retry policy. A vendor client holds
/// one and describes each call to it.
pub struct ApiClientCore<K> {
    app: String,
    pacer: Pacer,
    tokens: TokenCache,
    retries: RetryPolicy<K>,
    meter: Arc<dyn CallMeter>,
}

impl<K: Copy + Eq + Debug> ApiClientCore<K> {
    /// One app's plumbing: `app` is the configured app name the meter and
    /// the logs see, `requests_per_second` its [`Pacer`] rate, and
    /// `token_margin` how long before expiry its [`TokenCache`] lets a token go.
    pub fn new(
        app: &str,
        requests_per_second: u32,
        token_margin: Duration,
        retries: RetryPolicy<K>,
        meter: Arc<dyn CallMeter>,
    ) -> ApiClientCore<K> {
        ApiClientCore {
            app: app.to_owned(),
            pacer: Pacer::new(requests_per_second),
            tokens: TokenCache::new(token_margin),
            retries,
            meter,
        }
    }

    pub fn retry_policy(&self) -> &RetryPolicy<K> {
        &self.retries
    }

    /// Sends one request to `path` in this app's next slot, and meters it
    /// once it reached the vendor (a request that never left costs nothing).
    pub async fn send<R, E, Fut>(
        &self,
        path: &str,
        request: impl FnOnce() -> Fut,
    ) -> Result<R, HttpError>
    where
        E: Display,
        Fut: Future<Output = Result<R, E>>,
    {
        self.pacer.wait_turn().await;
        let answer = request().await.map_err(|e| HttpError::transport(path, e))?;
        self.meter.record_call(&self.app);
        Ok(answer)
    }

    /// The cached token, fetched with `fetch` when missing or near expiry.
    pub async fn token<E, Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<String, E>
    where
        Fut: Future<Output = Result<FreshToken, E>>,
    {
        self.tokens.get(fetch).await
    }

    /// Runs `attempt` until it is done or gives up: each retryable answer
    /// waits and counts against its kind's limit, a refused token is
    /// forgotten and the call tries once more.
    pub async fn run<T, E, Fut>(&self, path: &str, mut attempt: impl FnMut() -> Fut) -> Result<T, E>
    where
        E: GiveUp<K>,
        Fut: Future<Output = Result<Attempt<T, K>, E>>,
    {
        let mut refreshed = false;
        // The kind of every retry so far: each kind counts against its own limit.
        let mut retried: Vec<K> = Vec::new();
        loop {
            match attempt().await? {
                Attempt::Done(value) => return Ok(value),
                Attempt::Retry { kind, wait } => {
                    retried.push(kind);
                    let retry = retried.iter().filter(|k| **k == kind).count() as u32;
                    let limit = self.retries.max_retries(kind);
                    if retry > limit {
                        return Err(E::retries_exhausted(path, kind, limit));
                    }
                    let wait = wait.unwrap_or_else(|| self.retries.backoff().delay(retry));
                    tracing::info!(app = %self.app, path, ?kind, retry, wait_ms = wait.as_millis() as u64, "throttled or busy; waiting to retry");
                    tokio::time::sleep(wait).await;
                }
                Attempt::TokenRefused { token } if !refreshed => {
                    tracing::info!(app = %self.app, path, "token refused; refreshing once");
                    refreshed = true;
                    self.tokens.forget(&token);
                }
                Attempt::TokenRefused { .. } => return Err(E::token_refused_again(path)),
            }
        }
    }

    /// [`run`](Self::run) for a call that carries the app's token: each
    /// attempt gets the cached token (or a new one from `fetch_token`).
    pub async fn authorized<T, E, FetchFut, AttemptFut>(
        &self,
        path: &str,
        fetch_token: impl Fn() -> FetchFut,
        attempt: impl Fn(String) -> AttemptFut,
    ) -> Result<T, E>
    where
        E: GiveUp<K>,
        FetchFut: Future<Output = Result<FreshToken, E>>,
        AttemptFut: Future<Output = Result<Attempt<T, K>, E>>,
    {
        let (fetch_token, attempt) = (&fetch_token, &attempt);
        self.run(path, move || async move {
            let token = self.token(fetch_token).await?;
            attempt(token).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::super::{Backoff, NoMeter};
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum TestError {
        Refused(String),
        RefusedAgain(String),
        Exhausted(String, i64, u32),
    }

    impl GiveUp<i64> for TestError {
        fn token_refused_again(path: &str) -> TestError {
            TestError::RefusedAgain(path.into())
        }

        fn retries_exhausted(path: &str, kind: i64, retries: u32) -> TestError {
            TestError::Exhausted(path.into(), kind, retries)
        }
    }

    const BUSY: i64 = -1;
    const LIMITED: i64 = 90002;

    struct Counter(AtomicU32);

    impl CallMeter for Counter {
        fn record_call(&self, app: &str) {
            assert_eq!(app, "acme");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn core(meter: Arc<dyn CallMeter>) -> ApiClientCore<i64> {
        let policy = RetryPolicy::new(Backoff::new(Duration::from_secs(1), Duration::from_secs(3)))
            .with_limit(BUSY, 2)
            .with_limit(LIMITED, 1);
        ApiClientCore::new("acme", 1000, Duration::from_secs(60), policy, meter)
    }

    /// Plays `script` one answer per attempt, recording the attempts' times.
    struct Script {
        answers: Mutex<Vec<Result<Attempt<&'static str, i64>, TestError>>>,
        at: Mutex<Vec<Duration>>,
        origin: Instant,
    }

    impl Script {
        fn new(mut answers: Vec<Result<Attempt<&'static str, i64>, TestError>>) -> Script {
            answers.reverse();
            Script {
                answers: Mutex::new(answers),
                at: Mutex::default(),
                origin: Instant::now(),
            }
        }

        async fn next(&self) -> Result<Attempt<&'static str, i64>, TestError> {
            self.at.lock().unwrap().push(self.origin.elapsed());
            self.answers
                .lock()
                .unwrap()
                .pop()
                .expect("no more answers scripted")
        }

        fn times(&self) -> Vec<Duration> {
            self.at.lock().unwrap().clone()
        }
    }

    fn retry(kind: i64, wait: Option<u64>) -> Result<Attempt<&'static str, i64>, TestError> {
        Ok(Attempt::Retry {
            kind,
            wait: wait.map(Duration::from_secs),
        })
    }

    fn secs(s: &[f64]) -> Vec<Duration> {
        s.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_vendors_wait_is_honoured_and_limits_count_per_kind() {
        let core = core(Arc::new(NoMeter));
        let script = Script::new(vec![
            retry(LIMITED, Some(5)),
            retry(BUSY, Some(2)),
            retry(BUSY, Some(2)),
            Ok(Attempt::Done("ok")),
        ]);
        assert_eq!(core.run("/p", || script.next()).await, Ok("ok"));
        assert_eq!(script.times(), secs(&[0.0, 5.0, 7.0, 9.0]));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_wait_the_backoff_doubles() {
        let core = core(Arc::new(NoMeter));
        let script = Script::new(vec![
            retry(BUSY, None),
            retry(BUSY, None),
            Ok(Attempt::Done("ok")),
        ]);
        assert_eq!(core.run("/p", || script.next()).await, Ok("ok"));
        let times = script.times();
        assert!(
            times[1] >= secs(&[1.0])[0] && times[1] <= secs(&[1.2])[0],
            "{times:?}"
        );
        let second_wait = times[2] - times[1];
        assert!(
            second_wait >= secs(&[2.0])[0] && second_wait <= secs(&[2.4])[0],
            "{times:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kind_past_its_limit_gives_up() {
        let core = core(Arc::new(NoMeter));
        let script = Script::new(vec![retry(LIMITED, Some(1)), retry(LIMITED, Some(1))]);
        assert_eq!(
            core.run("/p", || script.next()).await,
            Err(TestError::Exhausted("/p".into(), LIMITED, 1))
        );
        let script = Script::new(vec![retry(88, Some(1))]);
        assert_eq!(
            core.run("/p", || script.next()).await,
            Err(TestError::Exhausted("/p".into(), 88, 0)),
            "a kind without a limit is not retried"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_end_the_call() {
        let core = core(Arc::new(NoMeter));
        let script = Script::new(vec![
            retry(BUSY, Some(1)),
            Err(TestError::Refused("88".into())),
        ]);
        assert_eq!(
            core.run("/p", || script.next()).await,
            Err(TestError::Refused("88".into()))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_token_is_refreshed_once() {
        let core = core(Arc::new(NoMeter));
        let issued = &AtomicU32::new(0);
        let fetch = move || async move {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(FreshToken {
                value: format!("t{n}"),
                lifetime: Duration::from_secs(7200),
            })
        };
        let seen = Mutex::new(Vec::new());
        let refuse_t1 = |token: String| {
            seen.lock().unwrap().push(token.clone());
            async move {
                Ok(match token.as_str() {
                    "t1" => Attempt::TokenRefused { token },
                    _ => Attempt::Done(token),
                })
            }
        };
        let answer: Result<String, TestError> = core.authorized("/p", fetch, refuse_t1).await;
        assert_eq!(answer, Ok("t2".to_string()));
        assert_eq!(*seen.lock().unwrap(), vec!["t1", "t2"]);

        let refuse_all = |token: String| async move {
            Ok::<Attempt<(), i64>, _>(Attempt::TokenRefused { token })
        };
        assert_eq!(
            core.authorized("/p", fetch, refuse_all).await,
            Err(TestError::RefusedAgain("/p".into()))
        );
        assert_eq!(
            issued.load(Ordering::SeqCst),
            3,
            "t2 refused, then t3 refused again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sends_are_paced_and_metered_once_they_reached_the_vendor() {
        let counter = Arc::new(Counter(AtomicU32::new(0)));
        let core = core(counter.clone());
        let origin = Instant::now();
        for _ in 0..3 {
            let sent = core.send("/p", || async { Ok::<_, &str>(()) }).await;
            assert!(sent.is_ok());
        }
        let failed = core
            .send("/p", || async { Err::<(), _>("connection refused") })
            .await;
        assert_eq!(
            failed.unwrap_err().to_string(),
            "request to /p failed: connection refused"
        );
        assert_eq!(
            origin.elapsed(),
            Duration::from_millis(3),
            "1 ms apart at 1000 per second"
        );
        assert_eq!(counter.0.load(Ordering::SeqCst), 3);
    }
}
