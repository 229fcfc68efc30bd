//! The access-token cache: one token per app, reused until shortly before the
//! vendor says it expires, forgotten when the vendor refuses it, and fetched
//! by one caller at a time (every fetch is a metered call).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token as the vendor's token endpoint answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreshToken {
    pub value: String,
    /// How long the vendor says it lives, counted from its answer.
    pub lifetime: Duration,
}

struct CachedToken {
    value: String,
    usable_until: Instant,
}

/// One app's token.
pub struct TokenCache {
    margin: Duration,
    /// A std Mutex, because no await happens while it is held.
    cached: Mutex<Option<CachedToken>>,
    /// Held while a token is fetched, so callers that find none wait for
    /// that one fetch instead of each fetching (and metering) their own.
    fetching: tokio::sync::Mutex<()>,
}

impl TokenCache {
    /// A token stops being used `margin` before the vendor says it expires,
    /// so a request never leaves with a token about to lapse. The margin
    /// never takes more than half a lifetime, so even a short-lived token is
    /// reused rather than fetched again for every request.
    pub fn new(margin: Duration) -> TokenCache {
        TokenCache {
            margin,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached token, or a new one from `fetch` when there is none or it
    /// is near expiry. A failed fetch caches nothing.
    pub async fn get<E, Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<String, E>
    where
        Fut: Future<Output = Result<FreshToken, E>>,
    {
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let _fetching = self.fetching.lock().await;
        // Another caller may have fetched one while this one waited.
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let fresh = fetch().await?;
        let usable_for = fresh
            .lifetime
            .saturating_sub(self.margin.min(fresh.lifetime / 2));
        *self.cached.lock().expect("token cache lock") = Some(CachedToken {
            value: fresh.value.clone(),
            usable_until: Instant::now() + usable_for,
        });
        Ok(fresh.value)
    }

    /// Drops `stale` after the vendor refused it; a token fetched since by
    /// another caller stays.
    pub fn forget(&self, stale: &str) {
        let mut cached = self.cached.lock().expect("token cache lock");
        if cached.as_ref().is_some_and(|token| token.value == stale) {
            *cached = None;
        }
    }

    fn usable(&self) -> Option<String> {
        let cached = self.cached.lock().expect("token cache lock");
        cached
            .as_ref()
            .filter(|token| Instant::now() < token.usable_until)
            .map(|token| token.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Hands out `t1`, `t2`, ... living `lifetime`, counting its fetches.
    struct Issuer {
        issued: AtomicU32,
        lifetime: Duration,
    }

    impl Issuer {
        fn new(lifetime: Duration) -> Issuer {
            Issuer {
                issued: AtomicU32::new(0),
                lifetime,
            }
        }

        async fn fetch(&self) -> Result<FreshToken, String> {
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            // A token endpoint takes a while: concurrent callers overlap.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(FreshToken {
                value: format!("t{n}"),
                lifetime: self.lifetime,
            })
        }

        fn issued(&self) -> u32 {
            self.issued.load(Ordering::SeqCst)
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn reused_until_the_margin_before_expiry() {
        let cache = TokenCache::new(3 * MINUTE);
        let issuer = Issuer::new(120 * MINUTE);
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t1".to_string()));
        tokio::time::sleep(116 * MINUTE).await;
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t1".to_string()));
        tokio::time::sleep(MINUTE).await;
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t2".to_string()));
        assert_eq!(issuer.issued(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_margin_takes_at_most_half_a_short_lifetime() {
        let cache = TokenCache::new(5 * MINUTE);
        let issuer = Issuer::new(4 * MINUTE);
        cache.get(|| issuer.fetch()).await.unwrap();
        tokio::time::sleep(MINUTE + Duration::from_secs(59)).await;
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t1".to_string()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t2".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(MINUTE));
        let issuer = Arc::new(Issuer::new(120 * MINUTE));
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let (cache, issuer) = (cache.clone(), issuer.clone());
                tokio::spawn(async move { cache.get(|| issuer.fetch()).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Ok("t1".to_string()));
        }
        assert_eq!(issuer.issued(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn forget_drops_only_the_refused_token() {
        let cache = TokenCache::new(MINUTE);
        let issuer = Issuer::new(120 * MINUTE);
        cache.get(|| issuer.fetch()).await.unwrap();
        cache.forget("t1");
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t2".to_string()));
        // A caller that saw t1 refused late must not drop t2.
        cache.forget("t1");
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t2".to_string()));
        assert_eq!(issuer.issued(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_caches_nothing() {
        let cache = TokenCache::new(MINUTE);
        let failed: Result<String, String> =
            cache.get(|| async { Err("refused".to_string()) }).await;
        assert_eq!(failed, Err("refused".to_string()));
        let issuer = Issuer::new(120 * MINUTE);
        assert_eq!(cache.get(|| issuer.fetch()).await, Ok("t1".to_string()));
    }
}
